package telemetry

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/storage"
)

// handshake dials and returns the HTTP status and body of a refused upgrade
// (or 101 for an accepted one, which is closed).
func handshake(t *testing.T, url string, hdr http.Header) (int, string, http.Header) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, hdr)
	if err == nil {
		defer c.Close()
		readJSON(t, c)
		return resp.StatusCode, "", resp.Header
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func TestHandshakeAuthentication(t *testing.T) {
	v := testVerifier(t)
	st := newStack(t, stackConfig{verifier: v})
	operator := operatorToken(t, map[string]any{"sub": "ops", "role": "admin"})
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	forbidden := `{"error":"Forbidden","details":"Operator admin role required"}`
	cases := []struct {
		name   string
		query  string
		hdr    http.Header
		status int
		body   string
	}{
		{"no token", "", nil, 401, `{"error":"Unauthorized","details":"Missing bearer token"}`},
		{"bad token", "", bearer("a.b.c"), 401, `{"error":"Unauthorized","details":"Invalid token"}`},
		{"bad header wins over good query", "?token=" + operator, bearer("x.y.z"), 401, `{"error":"Unauthorized","details":"Invalid token"}`},
		{"plain user", "", bearer(operatorToken(t, map[string]any{"sub": "u"})), 403, forbidden},
		{"tenant admin", "", bearer(operatorToken(t, map[string]any{"sub": "a", "role": "admin", "tenant_id": "t1"})), 403, forbidden},
		{"operator admin header", "", bearer(operator), 101, ""},
		{"operator admin ADMIN role", "", bearer(operatorToken(t, map[string]any{"role": "ADMIN"})), 101, ""},
		{"operator admin query token", "?token=" + operator, nil, 101, ""},
		{"operator admin access_token", "?access_token=" + operator, nil, 101, ""},
		{"cross-origin ignored with auth on", "", http.Header{"Authorization": {"Bearer " + operator}, "Origin": {"https://evil.example"}}, 101, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, h := handshake(t, st.telURL+"/"+tc.query, tc.hdr)
			if status != tc.status || body != tc.body {
				t.Fatalf("got %d %s, want %d %s", status, body, tc.status, tc.body)
			}
			if status == 401 && h.Get("WWW-Authenticate") != `Bearer realm="arqonbus"` {
				t.Fatalf("401 without the WWW-Authenticate header: %v", h)
			}
			if status != 101 && h.Get("Content-Type") != "application/json" {
				t.Fatalf("Content-Type = %q", h.Get("Content-Type"))
			}
		})
	}
	// A browser passes the token as a subprotocol; it is never echoed.
	d := websocket.Dialer{Subprotocols: []string{"bearer." + operator, "arqonbus.v1"}}
	c, resp, err := d.Dial(st.telURL, nil)
	if err != nil {
		t.Fatalf("subprotocol token: %v", err)
	}
	c.Close()
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "arqonbus.v1" {
		t.Fatalf("selected subprotocol %q, want arqonbus.v1", p)
	}
	rej := func(reason string) float64 {
		return value(st.metrics.ConnectionRejections.WithLabelValues("telemetry", reason))
	}
	if rej("unauthorized") != 3 || rej("forbidden") != 2 {
		t.Fatalf("rejections unauthorized=%v forbidden=%v, want 3 and 2", rej("unauthorized"), rej("forbidden"))
	}
	// A plain HTTP request with a valid token is not an upgrade.
	req, _ := http.NewRequest(http.MethodGet, st.telHTTP.URL+"/", nil)
	req.Header.Set("Authorization", "Bearer "+operator)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 426 || string(body) != `{"error":"Upgrade Required","details":"WebSocket upgrade expected"}` {
		t.Fatalf("plain GET = %d %s", res.StatusCode, body)
	}
}

func TestOriginRuleWithAuthOff(t *testing.T) {
	st := newStack(t, stackConfig{})
	refused := `{"error":"Forbidden","details":"Cross-origin request refused"}`
	for _, tc := range []struct {
		origin string
		status int
	}{
		{"https://evil.example", 403},
		{"null", 403},
		{"http://localhost.evil.example", 403},
		{"http://localhost:3000", 101},
		{"http://127.0.0.1:8080", 101},
		{"http://[::1]:8080", 101},
		{"", 101},
	} {
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		status, body, _ := handshake(t, st.telURL, hdr)
		if status != tc.status || (status == 403 && body != refused) {
			t.Errorf("Origin %q: %d %s, want %d", tc.origin, status, body, tc.status)
		}
	}
}

func TestConnectionCap(t *testing.T) {
	st := newStack(t, stackConfig{tel: func(o *Options) { o.MaxConnections = 2 }})
	a, b := st.dial(t), st.dial(t)
	defer b.Close()
	over, _, err := websocket.DefaultDialer.Dial(st.telURL, nil)
	if err != nil {
		t.Fatalf("the connection over the cap must be upgraded, then closed: %v", err)
	}
	ce := expectClose(t, over, 5*time.Second)
	over.Close()
	if ce.Code != 1013 || ce.Text != "Connection limit reached" {
		t.Fatalf("over the cap: close %d %q, want 1013 Connection limit reached", ce.Code, ce.Text)
	}
	if got := value(st.metrics.ConnectionRejections.WithLabelValues("telemetry", "capacity")); got != 1 {
		t.Fatalf("capacity rejections = %v", got)
	}
	if s := st.tel.Stats().(Stats); s.Connections != 2 || s.MaxConnections != 2 || !s.Enabled {
		t.Fatalf("stats = %+v", s)
	}
	// The refused client got no telemetry: the two admitted ones still work.
	syncPoint(t, b)
	a.Close()
	waitFor(t, 5*time.Second, "the closed connection to be released", func() bool { return st.tel.Connections() == 1 })
	if got := value(st.metrics.TelemetryConnections); got != 1 {
		t.Fatalf("arqonbus_telemetry_connections = %v, want 1", got)
	}
	c := st.dial(t)
	defer c.Close()
	syncPoint(t, c)
}

func TestOversizedEventIsClosedWith1009(t *testing.T) {
	st := newStack(t, stackConfig{tel: func(o *Options) { o.MaxEventSize = 1024 }})
	c := st.dial(t)
	defer c.Close()
	pad := func(n int) string {
		base := `{"event_type":"big","payload":""}`
		return `{"event_type":"big","payload":"` + strings.Repeat("x", n-len(base)) + `"}`
	}
	send(t, c, pad(1024)) // exactly at the limit
	if f := readJSON(t, c); f["type"] != "ack" {
		t.Fatalf("event of exactly the limit: %v", f)
	}
	send(t, c, pad(1025))
	ce := expectClose(t, c, 5*time.Second)
	if ce.Code != 1009 || ce.Text != "message too big" {
		t.Fatalf("close %d %q, want 1009 message too big", ce.Code, ce.Text)
	}
	waitFor(t, 5*time.Second, "the connection to be released", func() bool { return st.tel.Connections() == 0 })
	if got := value(st.metrics.ConnectionCloses.WithLabelValues("1009")); got != 1 {
		t.Fatalf("closes{code=1009} = %v", got)
	}
}

func TestKeepalive(t *testing.T) {
	st := newStack(t, stackConfig{tel: func(o *Options) { o.PingInterval, o.PingTimeout = 50*time.Millisecond, 50*time.Millisecond }})
	// A client that answers pings (gorilla does while reading) stays.
	alive := st.dial(t)
	defer alive.Close()
	pings := 0
	alive.SetPingHandler(func(data string) error {
		pings++
		return alive.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	for end := time.Now().Add(400 * time.Millisecond); time.Now().Before(end); {
		syncPoint(t, alive)
		time.Sleep(20 * time.Millisecond)
	}
	if pings < 2 {
		t.Fatalf("%d pings in 400 ms with a 50 ms interval", pings)
	}
	// A client that does not answer is closed with 1011.
	mute := st.dial(t)
	defer mute.Close()
	mute.SetPingHandler(func(string) error { return nil })
	time.Sleep(300 * time.Millisecond)
	ce := expectClose(t, mute, 5*time.Second)
	if ce.Code != 1011 || ce.Text != "keepalive timeout" {
		t.Fatalf("close %d %q, want 1011 keepalive timeout", ce.Code, ce.Text)
	}
}

// TestShutdownFlushesThenCloses1001: frames queued before the shutdown are
// delivered, then the close 1001; new upgrades get 503.
func TestShutdownFlushesThenCloses1001(t *testing.T) {
	st := newStack(t, stackConfig{})
	c := st.dial(t)
	defer c.Close()
	for i := 0; i < 50; i++ {
		st.tel.OnEvent(bus.Event{Type: "channel_created", Data: map[string]any{"n": i}, Time: time.Now()})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stopped := make(chan struct{})
	go func() { st.tel.Shutdown(ctx); close(stopped) }()
	for i := 0; i < 50; i++ {
		f := readJSON(t, c)
		d, _ := f["data"].(map[string]any)
		if f["event_type"] != "channel_created" || d["n"] != float64(i) || f["tenant"] != nil {
			t.Fatalf("frame %d after shutdown = %v", i, f)
		}
	}
	ce := expectClose(t, c, 5*time.Second)
	if ce.Code != 1001 || ce.Text != "server shutting down" {
		t.Fatalf("close %d %q, want 1001 server shutting down", ce.Code, ce.Text)
	}
	<-stopped
	status, body, _ := handshake(t, st.telURL, nil)
	if status != 503 || body != `{"error":"Service Unavailable","details":"Server shutting down"}` {
		t.Fatalf("upgrade during shutdown = %d %s", status, body)
	}
	if st.tel.Connections() != 0 {
		t.Fatalf("%d connections after Shutdown", st.tel.Connections())
	}
}

// TestShutdownIsBounded: a client that never reads cannot hold Shutdown past
// its context.
func TestShutdownIsBounded(t *testing.T) {
	st := newStack(t, stackConfig{tel: func(o *Options) { o.SendQueueSize = 1 << 16; o.SendQueueBytes = 1 << 30 }})
	c := st.dial(t)
	defer c.Close()
	st.shrinkBuffers(t, c, 4096)
	big := strings.Repeat("y", 8000)
	for i := 0; i < 2000; i++ {
		st.tel.OnEvent(bus.Event{Type: "x", Data: map[string]any{"pad": big}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() { st.tel.Shutdown(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after its context ended")
	}
}

// TestStrictStorageRefusalIsReported runs the bus on a private Redis in
// strict mode and kills Redis: the event is delivered nowhere, the sender
// gets STORAGE_UNAVAILABLE instead of the ack, and the drop is counted.
func TestStrictStorageRefusalIsReported(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	port := freePort(t)
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if !killed {
			killed = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(kill)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	waitFor(t, 5*time.Second, "redis-server", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	st := newStack(t, stackConfig{store: &storage.ManagerOptions{Backend: "redis", Mode: "strict",
		RedisURL: fmt.Sprintf("redis://%s/0", addr), Timeout: 300 * time.Millisecond, HistorySize: 100}})
	sub := st.dialBusQuietly(t, "?room=integriguard&channel=telemetry-stream")
	defer sub.Close()
	sender, other := st.dial(t), st.dial(t)
	defer sender.Close()
	defer other.Close()

	send(t, sender, `{"event_type":"stored"}`)
	if f := readJSON(t, sender); f["type"] != "ack" {
		t.Fatalf("with Redis up: %v", f)
	}
	if f := readJSON(t, other); f["event_type"] != "stored" {
		t.Fatalf("with Redis up, other client: %v", f)
	}
	if f := readJSON(t, sub); f["type"] != "telemetry" {
		t.Fatalf("with Redis up, bus subscriber: %v", f)
	}

	kill()
	dropped := st.metrics.EventsDropped.WithLabelValues("storage")
	before := value(dropped)
	send(t, sender, `{"event_type":"lost"}`)
	if f := readRaw(t, sender); f != `{"type":"error","error":"Storage unavailable; event not delivered","error_code":"STORAGE_UNAVAILABLE","payload":{"errors":[]}}` {
		t.Fatalf("with Redis down: %s", f)
	}
	syncPoint(t, other)
	send(t, sub, `{"type":"ping"}`)
	if f := readJSON(t, sub); f["type"] != "pong" {
		t.Fatalf("bus subscriber got %v, want nothing but its pong", f)
	}
	if got := value(dropped) - before; got != 1 {
		t.Fatalf("events_dropped_total{reason=storage} grew by %v, want 1", got)
	}
	if got := value(st.metrics.TelemetryEvents.WithLabelValues("accepted")); got != 1 {
		t.Fatalf("accepted = %v, want 1", got)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
