package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

func TestNewServerTimeouts(t *testing.T) {
	h := http.NewServeMux()
	srv := NewServer("127.0.0.1:8080", h)
	if srv.Addr != "127.0.0.1:8080" || srv.Handler != h || srv.ReadHeaderTimeout != 5*time.Second || srv.WriteTimeout != 30*time.Second {
		t.Fatalf("server = %+v", srv)
	}
}

// shutdownSource stops the real HTTP server from Shutdown, as the bus does
// at the end of its drain (OPERATIONS.md §10.2).
type shutdownSource struct {
	*fakeSource
	stop func()
}

func (s shutdownSource) Shutdown() { s.stop() }

// TestServerOverSocket runs the handler on a real listener and shuts it
// down through POST /admin/shutdown; the reply must arrive and the server
// must stop without deadlocking on the handler that triggered it.
func TestServerOverSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var srv *http.Server
	stopped := make(chan error, 1)
	src := shutdownSource{fakeSource: newFakeSource(), stop: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- srv.Shutdown(ctx)
	}}
	srv = NewServer(ln.Addr().String(), NewHandler(src, Options{AdminAPIKey: testKey, Metrics: metrics.NewBus()}))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	base := "http://" + ln.Addr().String()

	resp, err := client.Get(base + "/version")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v["protocol"] != "1.0" {
		t.Fatalf("/version over the socket: %v %v", v, err)
	}
	resp.Body.Close()

	resp, err = client.Head(base + "/status")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD /status: %v %v", resp, err)
	}
	resp.Body.Close()

	req, _ := http.NewRequest("POST", base+"/admin/shutdown", nil)
	req.Header.Set("x-api-key", testKey)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "shutdown_initiated") {
		t.Fatalf("POST /admin/shutdown: %d %s", resp.StatusCode, body)
	}
	client.CloseIdleConnections()
	if err := <-stopped; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
}

func BenchmarkReady(b *testing.B) {
	h := NewHandler(newFakeSource(), Options{Metrics: metrics.NewBus()})
	req := httptest.NewRequest("GET", "/ready", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

func BenchmarkStatus(b *testing.B) {
	h := NewHandler(newFakeSource(), Options{Metrics: metrics.NewBus()})
	req := httptest.NewRequest("GET", "/status", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
