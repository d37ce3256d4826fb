package shield

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/auth"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Process-wide background goroutines of dependencies.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).logRejections"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.init.func1"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// startNATS runs an embedded nats-server on a random port.
func startNATS(t testing.TB, jetStream bool) *natsserver.Server {
	t.Helper()
	opts := &natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	if jetStream {
		opts.JetStream = true
		opts.StoreDir = t.TempDir()
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// logBuffer collects log output safely for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type harness struct {
	t      testing.TB
	ns     *natsserver.Server
	g      *Gateway
	secret string
	logs   *logBuffer
	nc     *nats.Conn // test-side NATS client
	cancel context.CancelFunc
	done   chan error
}

func randomSecret() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b) // 40 bytes
}

// testOptions are the SHIELD.md §16 defaults: development, a 40-byte
// random secret, strict schema, no policy, ports 0.
func testOptions(ns *natsserver.Server) Options {
	o := DefaultOptions()
	o.JWTSecret = randomSecret()
	o.NATSURL = ns.ClientURL()
	o.Port, o.MetricsPort = 0, 0
	o.PingInterval = 5 * time.Second
	o.ShutdownTimeout = 2 * time.Second
	return o
}

// startShield starts a gateway against ns with opts after mod.
func startShield(t testing.TB, ns *natsserver.Server, mod func(*Options)) *harness {
	t.Helper()
	o := testOptions(ns)
	if mod != nil {
		mod(&o)
	}
	h := &harness{t: t, ns: ns, secret: o.JWTSecret, logs: &logBuffer{}, done: make(chan error, 1)}
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := New(o, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.g = g
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- g.Run(ctx) }()
	select {
	case <-g.Ready():
	case err := <-h.done:
		t.Fatalf("Run: %v", err)
	}
	h.nc, err = nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Error("Run did not return after cancel")
	}
	h.nc.Close()
}

func (h *harness) wsURL(query string) string {
	u := "ws://" + h.g.Addr() + "/ws"
	if query != "" {
		u += "?" + query
	}
	return u
}

func (h *harness) opsURL(path string) string { return "http://" + h.g.MetricsAddr() + path }

// token mints an HS256 token with the §16 claims, then applies mod.
func (h *harness) token(mod func(map[string]any)) string {
	return signToken(h.t, h.secret, mod)
}

func signToken(t testing.TB, secret string, mod func(map[string]any)) string {
	t.Helper()
	claims := map[string]any{"sub": "user-1", "tenant_id": "tenant-a", "exp": time.Now().Add(time.Hour).Unix()}
	if mod != nil {
		mod(claims)
	}
	tok, err := auth.Sign("HS256", []byte(secret), claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func tenantToken(tenant string) func(map[string]any) {
	return func(c map[string]any) { c["tenant_id"] = tenant }
}

// dial opens a client connection with an Authorization header.
func (h *harness) dial(tok string) *websocket.Conn {
	h.t.Helper()
	ws, resp, err := h.dialRaw(tok, "", nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		h.t.Fatalf("dial: %v (status %d)", err, status)
	}
	return ws
}

func (h *harness) dialRaw(tok, query string, protocols []string) (*websocket.Conn, *http.Response, error) {
	hdr := http.Header{}
	if tok != "" {
		hdr.Set("Authorization", "Bearer "+tok)
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, Subprotocols: protocols}
	ws, resp, err := d.Dial(h.wsURL(query), hdr)
	if ws != nil {
		h.t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

// subscribe collects NATS messages on subject.
func (h *harness) subscribe(subject string) chan *nats.Msg {
	h.t.Helper()
	ch := make(chan *nats.Msg, 64)
	sub, err := h.nc.ChanSubscribe(subject, ch)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.nc.Flush(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = sub.Unsubscribe() })
	return ch
}

func readFrame(t testing.TB, ws *websocket.Conn) (int, []byte) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, b, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, b
}

func readJSON(t testing.TB, ws *websocket.Conn) map[string]any {
	t.Helper()
	typ, b := readFrame(t, ws)
	if typ != websocket.TextMessage {
		t.Fatalf("got frame type %d, want text: %x", typ, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("frame is not JSON: %q", b)
	}
	return m
}

// expectClose reads until the close frame and returns its code and text.
func expectClose(t testing.TB, ws *websocket.Conn) (int, string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if ok := asCloseError(err, &ce); ok {
			return ce.Code, ce.Text
		}
		t.Fatalf("connection ended without close frame: %v", err)
	}
}

func asCloseError(err error, ce **websocket.CloseError) bool {
	c, ok := err.(*websocket.CloseError)
	if ok {
		*ce = c
	}
	return ok
}

func noMessage(t testing.TB, ch chan *nats.Msg, wait time.Duration) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected NATS message on %s", m.Subject)
	case <-time.After(wait):
	}
}

func recvMsg(t testing.TB, ch chan *nats.Msg) *nats.Msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no NATS message")
		return nil
	}
}

func httpGet(t testing.TB, url string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func upgradeHeaders() http.Header {
	return http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Version": {"13"},
	}
}

func metricValue(t testing.TB, h *harness, name string, labels ...string) float64 {
	t.Helper()
	m := h.g.metrics
	switch name {
	case "messages":
		return toFloat(m.Messages.WithLabelValues(labels...))
	case "rejections":
		return toFloat(m.HandshakeRejections.WithLabelValues(labels...))
	case "closes":
		return toFloat(m.Closes.WithLabelValues(labels...))
	case "schema":
		return toFloat(m.SchemaViolations.WithLabelValues(labels...))
	case "mirror":
		return toFloat(m.Mirror.WithLabelValues(labels...))
	case "outbound":
		return toFloat(m.Outbound.WithLabelValues(labels...))
	case "connections":
		return toFloat(m.Connections)
	case "active":
		return toFloat(m.ActiveConnections)
	}
	t.Fatalf("unknown metric %s", name)
	return 0
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := dir + "/" + name
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func toFloat(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// waitLog waits up to 2 s for a log line containing s.
func (h *harness) waitLog(s string) bool {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(h.logs.String(), s) {
			return true
		}
	}
	return false
}

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// eventually polls cond until it holds or d passes; the assertions that
// follow report the final state. Asynchronous effects (NATS callbacks,
// connection cleanup) settle at the machine's pace, never by a fixed sleep.
func eventually(d time.Duration, cond func() bool) {
	for deadline := time.Now().Add(d); time.Now().Before(deadline) && !cond(); time.Sleep(10 * time.Millisecond) {
	}
}
