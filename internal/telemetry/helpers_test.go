package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/storage"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testSecret = []byte("telemetry-test-secret-0123456789abcdef")

// stack is a real bus (memory storage unless storeOpts says otherwise) and a
// telemetry server wired to it the way internal/app does, each on its own
// loopback socket.
type stack struct {
	tel      *Server
	telHTTP  *httptest.Server
	telURL   string
	bus      *bus.Server
	busURL   string
	metrics  *metrics.Bus
	listener *trackingListener
}

type stackConfig struct {
	tel       func(*Options)
	bus       func(*bus.Options)
	store     *storage.ManagerOptions
	verifier  *auth.Verifier
	busAuthOn bool
}

func newStack(t testing.TB, cfg stackConfig) *stack {
	t.Helper()
	ctx := context.Background()
	m := metrics.NewBus()
	so := storage.ManagerOptions{Backend: "memory", Mode: "degraded", HistorySize: 500}
	if cfg.store != nil {
		so = *cfg.store
	}
	so.Metrics = m
	store, err := storage.NewManager(ctx, so)
	if err != nil {
		t.Fatal(err)
	}
	topts := Options{Host: "127.0.0.1", Port: 8081, Metrics: m, Verifier: cfg.verifier, EnableAuth: cfg.verifier != nil}
	if cfg.tel != nil {
		cfg.tel(&topts)
	}
	tel := New(topts)
	bopts := bus.Options{Store: store, Metrics: m, ShutdownTimeout: 2 * time.Second, OnEvent: tel.OnEvent}
	if cfg.busAuthOn {
		bopts.EnableAuth, bopts.Verifier = true, cfg.verifier
	}
	if cfg.bus != nil {
		cfg.bus(&bopts)
	}
	b, err := bus.New(ctx, bopts)
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	tel.Attach(b)

	busHTTP := httptest.NewServer(b)
	telHTTP := httptest.NewUnstartedServer(tel)
	ln := &trackingListener{Listener: telHTTP.Listener}
	telHTTP.Listener = ln
	telHTTP.Start()
	st := &stack{tel: tel, telHTTP: telHTTP, telURL: wsURL(telHTTP.URL), bus: b, busURL: wsURL(busHTTP.URL),
		metrics: m, listener: ln}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tel.Shutdown(ctx)
		b.Shutdown(ctx)
		telHTTP.Close()
		busHTTP.Close()
		store.Close()
	})
	return st
}

func wsURL(u string) string { return "ws" + strings.TrimPrefix(u, "http") }

// trackingListener remembers accepted connections by peer address so that
// a test can shrink the kernel send buffer of the server side of one
// connection: a client that reads slowly then fills it quickly, as it would
// over a real network, instead of hiding behind megabytes of loopback
// buffering.
type trackingListener struct {
	net.Listener
	conns sync.Map // remote address -> *net.TCPConn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok && err == nil {
		l.conns.Store(tc.RemoteAddr().String(), tc)
	}
	return c, err
}

// shrinkBuffers sets small kernel buffers on both ends of telemetry
// connection c.
func (s *stack) shrinkBuffers(t testing.TB, c *websocket.Conn, size int) {
	t.Helper()
	v, ok := s.listener.conns.Load(c.LocalAddr().String())
	if !ok {
		t.Fatal("server side of the connection not found")
	}
	if err := v.(*net.TCPConn).SetWriteBuffer(size); err != nil {
		t.Fatal(err)
	}
	if err := c.NetConn().(*net.TCPConn).SetReadBuffer(size); err != nil {
		t.Fatal(err)
	}
}

// dial opens a telemetry connection and checks that the first frame is the
// welcome.
func (s *stack) dial(t testing.TB) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(s.telURL+"/", nil)
	if err != nil {
		t.Fatalf("telemetry dial: %v (%v)", err, resp)
	}
	w := readJSON(t, c)
	if w["event_type"] != "telemetry_connected" || w["message"] != "Connected to ArqonBus telemetry" {
		t.Fatalf("first frame is not the welcome: %v", w)
	}
	return c
}

// dialBus opens a bus connection (query as given) and consumes the welcome.
func (s *stack) dialBus(t testing.TB, query string, hdr http.Header) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(s.busURL+"/ws"+query, hdr)
	if err != nil {
		t.Fatalf("bus dial: %v (%v)", err, resp)
	}
	w := readJSON(t, c)
	if p, _ := w["payload"].(map[string]any); p["welcome"] != "Connected to ArqonBus" {
		t.Fatalf("first bus frame is not the welcome: %v", w)
	}
	return c
}

// dialBusQuietly is dialBus that also waits until the bus has handed its
// client_connected event to the telemetry server, so that telemetry clients
// dialled afterwards do not receive it.
func (s *stack) dialBusQuietly(t testing.TB, query string) *websocket.Conn {
	t.Helper()
	before := s.tel.Stats().(Stats).EventsEmitted
	c := s.dialBus(t, query, nil)
	waitFor(t, 5*time.Second, "client_connected", func() bool { return s.tel.Stats().(Stats).EventsEmitted > before })
	return c
}

func readJSON(t testing.TB, c *websocket.Conn) map[string]any {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("frame is not a JSON object: %s", data)
	}
	return m
}

func readRaw(t testing.TB, c *websocket.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(data)
}

func send(t testing.TB, c *websocket.Conn, frame string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

// expectClose reads until the connection ends and returns the close frame
// the server sent.
func expectClose(t testing.TB, c *websocket.Conn, within time.Duration) *websocket.CloseError {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce
	}
}

// syncPoint sends an application ping and returns once its pong arrived: every
// frame the server queued for c before the ping has then been read, so
// unexpected frames show up as a mismatch.
func syncPoint(t testing.TB, c *websocket.Conn) {
	t.Helper()
	send(t, c, `{"type":"ping"}`)
	if f := readJSON(t, c); f["type"] != "pong" {
		t.Fatalf("got %v before the pong; expected nothing else", f)
	}
}

func value(c prometheus.Metric) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func operatorToken(t testing.TB, claims map[string]any) string {
	t.Helper()
	tok, err := auth.Sign("HS256", testSecret, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func testVerifier(t testing.TB) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{Algorithm: "HS256", Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
