package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSource is a small in-test Source: the real bus is tested end to end
// elsewhere.
type fakeSource struct {
	mu           sync.Mutex
	ready        Ready
	status       Status
	storage      any
	telemetry    any
	telemetryOn  bool
	connected    map[string]bool
	disconnected []string
	shutdowns    int
	shutdownCh   chan struct{}
	env          string
	cfg          map[string]any
	cmdErrors    map[string]int64
}

func newFakeSource() *fakeSource {
	url := "redis://:***@db:6379/0"
	return &fakeSource{
		ready: Ready{Checks: Checks{
			Storage:  StorageCheckFor("redis", "strict", true, ""),
			NATS:     NATSCheckFor(false, false),
			Ollama:   OllamaCheckFor(false, false),
			Shutdown: ShutdownCheckFor(false),
		}},
		status: Status{
			Environment: "development",
			Endpoints:   Endpoints{HTTP: true, WebSocket: true, Storage: true, Telemetry: true},
			Addresses:   Addresses{WebSocket: "ws://127.0.0.1:9100/ws", Telemetry: "ws://127.0.0.1:8081/", HTTP: "http://127.0.0.1:8080"},
			Clients:     Clients{Active: 3, ByType: ClientsByType{Human: 2, AIAgent: 1}},
			Rooms:       2,
			Channels:    9,
			Storage:     StorageStatus{Backend: "redis", Mode: "strict", Healthy: true, URL: &url},
			Telemetry:   TelemetryStatus{Enabled: true, Connections: 1},
			CASIL:       CASILStatus{Mode: "monitor"},
		},
		storage:     map[string]any{"backend": "redis", "streams": 4},
		telemetry:   map[string]any{"enabled": true, "connections": 1},
		telemetryOn: true,
		connected:   map[string]bool{"arq_client_00112233445566778899aabbccddeeff": true},
		shutdownCh:  make(chan struct{}, 4),
		env:         "staging",
		cfg:         map[string]any{"ARQONBUS_HTTP_PORT": 8080, "ARQONBUS_ADMIN_API_KEY": "***", "ARQONBUS_AUTH_JWT_SECRET": nil},
		cmdErrors:   map[string]int64{"history": 2},
	}
}

func (f *fakeSource) Ready() Ready {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

func (f *fakeSource) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fakeSource) StorageStats() any { return f.storage }

func (f *fakeSource) TelemetryStats() (any, bool) { return f.telemetry, f.telemetryOn }

func (f *fakeSource) DisconnectClient(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.connected[id] {
		return false
	}
	delete(f.connected, id)
	f.disconnected = append(f.disconnected, id)
	return true
}

func (f *fakeSource) Shutdown() {
	f.mu.Lock()
	f.shutdowns++
	f.mu.Unlock()
	f.shutdownCh <- struct{}{}
}

func (f *fakeSource) ConfigSnapshot() (string, map[string]any) { return f.env, f.cfg }

func (f *fakeSource) CommandErrors() map[string]int64 { return f.cmdErrors }

const testKey = "s3cr3t-admin-key-0123456789abcdef"

type fixture struct {
	src *fakeSource
	m   *metrics.Bus
	h   http.Handler
}

func newFixture(t testing.TB, mod func(*Options)) *fixture {
	t.Helper()
	f := &fixture{src: newFakeSource(), m: metrics.NewBus()}
	opts := Options{AdminAPIKey: testKey, Metrics: f.m}
	if mod != nil {
		mod(&opts)
	}
	f.h = NewHandler(f.src, opts)
	return f
}

func (f *fixture) do(method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// jsonBody checks the JSON response rules of §6.1 and decodes the object.
func jsonBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	body := rec.Body.String()
	if !strings.HasSuffix(body, "\n") {
		t.Fatalf("body does not end with a newline: %q", body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %q", err, body)
	}
	return m
}

// expectError asserts an exact error response.
func expectError(t *testing.T, rec *httptest.ResponseRecorder, code int, want string) {
	t.Helper()
	if rec.Code != code {
		t.Fatalf("status = %d, want %d (body %q)", rec.Code, code, rec.Body.String())
	}
	jsonBody(t, rec)
	if got := strings.TrimSuffix(rec.Body.String(), "\n"); got != want {
		t.Fatalf("body = %s, want %s", got, want)
	}
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
