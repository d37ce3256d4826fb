package operators

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/casil"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/storage"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testSecret = []byte("operators-test-secret-0123456789abcdef")

// envConfig describes one bus instance for a test.
type envConfig struct {
	auth     bool           // ARQONBUS_ENABLE_AUTH with testSecret
	devAdmin bool           // ARQONBUS_DEV_ADMIN (auth off)
	casil    *casil.Policy  // nil: CASIL engine with the default (disabled) policy
	ops      func(*Options) // adjust operator options
	wrap     func(*storage.Manager) storage.Store
}

// env is a real bus with the operators extension, served on a loopback
// socket with memory storage.
type env struct {
	ops     *Operators
	srv     *bus.Server
	store   *storage.Manager
	metrics *metrics.Bus
	url     string
}

func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	ctx := context.Background()
	store, err := storage.NewManager(ctx, storage.ManagerOptions{Backend: "memory", Mode: "degraded", HistorySize: 500})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.NewBus()
	var st storage.Store = store
	if cfg.wrap != nil {
		st = cfg.wrap(store)
	}
	oo := Options{Store: st, Metrics: m, WebhookAllowPrivateNetworks: true, Version: "9.9.9-test", ShutdownTimeout: 2 * time.Second}
	if cfg.ops != nil {
		cfg.ops(&oo)
	}
	ops := New(oo)
	policy := casil.DefaultPolicy()
	if cfg.casil != nil {
		policy = *cfg.casil
	}
	bo := bus.Options{Store: st, Metrics: m, ShutdownTimeout: 2 * time.Second, DevAdmin: cfg.devAdmin,
		Casil: casil.NewEngine(policy), Extensions: []bus.Extension{ops.Extension()}, RateLimitPerSecond: 1000, RateLimitBurst: 1000}
	if cfg.auth {
		v, err := auth.NewVerifier(auth.Config{Algorithm: "HS256", Secret: testSecret})
		if err != nil {
			t.Fatal(err)
		}
		bo.EnableAuth, bo.Verifier = true, v
	}
	srv, err := bus.New(ctx, bo)
	if err != nil {
		t.Fatal(err)
	}
	ops.Attach(srv)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		ops.Close()
		hs.Close()
		store.Close()
	})
	return &env{ops: ops, srv: srv, store: store, metrics: m, url: "ws" + strings.TrimPrefix(hs.URL, "http")}
}

func token(t *testing.T, claims map[string]any) string {
	t.Helper()
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	tok, err := auth.Sign("HS256", testSecret, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// client is one WebSocket connection whose welcome has been read.
type client struct {
	t   *testing.T
	c   *websocket.Conn
	id  string
	seq atomic.Int64
}

func (e *env) dial(t *testing.T, query, bearer string) *client {
	t.Helper()
	h := http.Header{}
	if bearer != "" {
		h.Set("Authorization", "Bearer "+bearer)
	}
	c, resp, err := websocket.DefaultDialer.Dial(e.url+"/ws"+query, h)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	cl := &client{t: t, c: c}
	w := cl.read()
	p, _ := w["payload"].(map[string]any)
	if p["welcome"] != "Connected to ArqonBus" {
		t.Fatalf("first frame is not the welcome: %v", w)
	}
	cl.id, _ = p["client_id"].(string)
	t.Cleanup(func() { c.Close() })
	return cl
}

func (c *client) send(frame map[string]any) {
	c.t.Helper()
	b, err := json.Marshal(frame)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.c.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() map[string]any {
	c.t.Helper()
	f, err := c.tryRead(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

func (c *client) tryRead(d time.Duration) (map[string]any, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	_, data, err := c.c.ReadMessage()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// readType skips frames until one of type typ arrives.
func (c *client) readType(typ string) map[string]any {
	c.t.Helper()
	for {
		f := c.read()
		if f["type"] == typ {
			return f
		}
	}
}

// expectSilence asserts that nothing arrives within d. The connection is
// unusable afterwards (a read deadline poisons it).
func (c *client) expectSilence(d time.Duration) {
	c.t.Helper()
	f, err := c.tryRead(d)
	if err == nil {
		c.t.Fatalf("expected no frame, got %v", f)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("expected a read timeout, got %v", err)
	}
}

// command sends a command and returns its response after checking that the
// command_response ack follows it immediately with the same status.
func (c *client) command(name string, args map[string]any) map[string]any {
	c.t.Helper()
	id := "arq_t" + strconv.FormatInt(c.seq.Add(1), 10)
	if args == nil {
		args = map[string]any{}
	}
	c.send(map[string]any{"id": id, "type": "command", "command": name, "args": args})
	var resp map[string]any
	for {
		f := c.read()
		if f["type"] == "response" && f["request_id"] == id {
			resp = f
			break
		}
	}
	ack := c.read()
	want := "ok"
	if resp["status"] != "success" {
		want = "error"
	}
	if ack["type"] != "command_response" || ack["request_id"] != id || ack["command"] != name ||
		ack["payload"].(map[string]any)["result"] != want {
		c.t.Fatalf("%s: frame after the response is %v, want command_response result %s", name, ack, want)
	}
	return resp
}

// ok runs a command that must succeed and returns its data.
func (c *client) ok(name string, args map[string]any) map[string]any {
	c.t.Helper()
	r := c.command(name, args)
	if r["status"] != "success" {
		c.t.Fatalf("%s %v: %v", name, args, r)
	}
	return data(r)
}

// fail runs a command that must fail with code and message.
func (c *client) fail(name string, args map[string]any, code, message string) map[string]any {
	c.t.Helper()
	r := c.command(name, args)
	p := r["payload"].(map[string]any)
	if r["status"] != "error" || r["error_code"] != code || p["message"] != message {
		c.t.Fatalf("%s %v: got %v %v %q, want %s %q", name, args, r["status"], r["error_code"], p["message"], code, message)
	}
	return data(r)
}

func data(resp map[string]any) map[string]any {
	d, _ := resp["payload"].(map[string]any)["data"].(map[string]any)
	return d
}

func jsonEq(t *testing.T, got any, want string) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	_ = json.Unmarshal(g, &a)
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatalf("bad want JSON %s: %v", want, err)
	}
	ga, _ := json.Marshal(a)
	gb, _ := json.Marshal(b)
	if string(ga) != string(gb) {
		t.Fatalf("got %s, want %s", ga, gb)
	}
}

func counter(e *env, result string) float64 {
	var m dto.Metric
	if err := e.metrics.WebhookDeliveries.WithLabelValues(result).Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustJSONString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
