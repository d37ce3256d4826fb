package bus

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/storage"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testBus runs a real bus on a real loopback socket with memory storage.
type testBus struct {
	srv   *Server
	http  *httptest.Server
	store *storage.Manager
	url   string
}

func newTestBus(t testing.TB, mutate func(*Options)) *testBus {
	t.Helper()
	ctx := context.Background()
	store, err := storage.NewManager(ctx, storage.ManagerOptions{Backend: "memory", Mode: "degraded", HistorySize: 500})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Store: store, Metrics: metrics.NewBus(), ShutdownTimeout: 2 * time.Second}
	if mutate != nil {
		mutate(&opts)
	}
	srv, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	tb := &testBus{srv: srv, http: hs, store: store, url: "ws" + strings.TrimPrefix(hs.URL, "http")}
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		hs.Close()
		store.Close()
	})
	return tb
}

func (b *testBus) dial(t testing.TB, query string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(b.url+"/ws"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	frame := readFrame(t, c)
	if p, _ := frame["payload"].(map[string]any); p["welcome"] != "Connected to ArqonBus" {
		t.Fatalf("first frame is not the welcome: %v", frame)
	}
	return c
}

func readFrame(t testing.TB, c *websocket.Conn) map[string]any {
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

func send(t testing.TB, c *websocket.Conn, frame string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

// TestConnectionLifecycleLeavesNothingBehind connects, subscribes, routes and
// disconnects many clients; goleak (TestMain) then proves no goroutine of the
// hub or of a connection outlived it, and the registry is empty.
func TestConnectionLifecycleLeavesNothingBehind(t *testing.T) {
	b := newTestBus(t, nil)
	var conns []*websocket.Conn
	for i := 0; i < 20; i++ {
		conns = append(conns, b.dial(t, "?room=science&channel=general"))
	}
	send(t, conns[0], `{"type":"message","payload":{"n":1}}`)
	for _, c := range conns[1:] {
		if f := readFrame(t, c); f["type"] != "message" {
			t.Fatalf("subscriber got %v, want the message", f["type"])
		}
	}
	if f := readFrame(t, conns[0]); f["type"] != "message_response" {
		t.Fatalf("sender got %v, want its ack", f["type"])
	}
	for _, c := range conns {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.srv.ActiveClients() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := b.srv.ActiveClients(); n != 0 {
		t.Fatalf("%d clients still registered after every connection closed", n)
	}
	ch := b.srv.hub.tenant("").lookup("science", "general")
	if n := ch.memberCount(); n != 0 {
		t.Fatalf("science:general still has %d members after disconnects", n)
	}
}

// TestRegressionSlowConsumerIsCutOffWithoutSlowingOthers fills a subscriber
// that never reads; it is closed with 4008 while a reading subscriber keeps
// receiving and the sender keeps getting acks.
//
// Regression (fixed in e138751 and 0d24aae): a slow consumer's 4008 could be
// queued behind data it never read, so the connection lingered; it is now
// closed promptly, with the close frame when it fits and a reset after a
// grace period otherwise.
func TestRegressionSlowConsumerIsCutOffWithoutSlowingOthers(t *testing.T) {
	b := newTestBus(t, func(o *Options) {
		o.SendQueueSize = 16
		o.SendQueueBytes = 65536
		o.RateLimitPerSecond = 0
	})
	slow := b.dial(t, "?room=science&channel=general")
	fast := b.dial(t, "?room=science&channel=general")
	pub := b.dial(t, "")
	payload := strings.Repeat("x", 16000)
	for i := 0; i < 1000; i++ {
		send(t, pub, `{"type":"message","room":"science","channel":"general","payload":{"p":"`+payload+`","i":`+strconv.Itoa(i)+`}}`)
		if f := readFrame(t, pub); f["type"] != "message_response" {
			t.Fatalf("publisher frame %d: %v, want message_response", i, f)
		}
		if f := readFrame(t, fast); f["type"] != "message" {
			t.Fatalf("fast subscriber frame %d: %v", i, f["type"])
		}
	}
	if n := counterValue(t, b.srv.metrics.ConnectionCloses.WithLabelValues("4008")); n != 1 {
		t.Fatalf("arqonbus_connection_closes_total{code=4008} = %v, want 1", n)
	}
	// The slow client reads what reached its socket, then the connection
	// ends: with the 4008 close frame when it fitted behind the data, or a
	// reset once the grace period is over for a peer that stayed stuck.
	_ = slow.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, _, err := slow.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := err.(*websocket.CloseError); ok && (ce.Code != 4008 || ce.Text != "slow consumer") {
			t.Fatalf("slow consumer closed with %d %q, want 4008 slow consumer", ce.Code, ce.Text)
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("slow consumer connection still open after the grace period")
		}
		break
	}
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// benchSubscribers builds n subscribers without sockets whose writer is
// pinned busy, so the benchmark measures routing: encode once, enqueue n.
func benchSubscribers(b *testing.B, srv *Server, ch *channel, n int) []*Client {
	subs := make([]*Client, n)
	for i := range subs {
		c := &Client{srv: srv, id: protocol.NewClientID(), tenant: ch.t}
		c.q.maxItems, c.q.maxBytes = 1<<20, 1<<30
		c.writing.Store(true)
		ch.addSub(c)
		subs[i] = c
	}
	return subs
}

// BenchmarkBroadcast measures one publish to N subscribers: storage append
// (memory), one encode of the delivery frame, N enqueues.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1, 100, 1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			tb := newTestBus(b, nil)
			ch := tb.srv.hub.tenant("").lookup("science", "general")
			subs := benchSubscribers(b, tb.srv, ch, n)
			env, ferr := protocol.Decode([]byte(`{"type":"message","room":"science","channel":"general","payload":{"content":"hello world","n":42}}`), time.Now())
			if ferr != nil {
				b.Fatal(ferr.Message)
			}
			env.Sender = "arq_client_00000000000000000000000000000000"
			meta := env.Metadata
			var drain [][]byte
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				env.Metadata = meta
				if _, err := tb.srv.hub.publish(context.Background(), ch, env, nil, time.Now()); err != nil {
					b.Fatal(err)
				}
				if i%64 == 63 {
					for _, c := range subs {
						drain = c.q.drain(drain[:0], 1<<30)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
			for _, c := range subs {
				ch.removeSub(c)
			}
		})
	}
}

// TestKeepaliveClosesSilentPeers: a client that never answers WebSocket
// pings is closed with 1011 "keepalive timeout" (PROTOCOL.md §3.5), and one
// that answers stays connected.
func TestKeepaliveClosesSilentPeers(t *testing.T) {
	b := newTestBus(t, func(o *Options) {
		o.PingInterval = 200 * time.Millisecond
		o.PingTimeout = 200 * time.Millisecond
	})
	silent := b.dial(t, "")
	silent.SetPingHandler(func(string) error { return nil }) // swallow pings: no pong
	polite := b.dial(t, "")
	frames := make(chan map[string]any, 8)
	go func() { // a reading client answers pings automatically
		defer close(frames)
		for {
			_, data, err := polite.ReadMessage()
			if err != nil {
				return
			}
			var m map[string]any
			_ = json.Unmarshal(data, &m)
			frames <- m
		}
	}()
	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := silent.ReadMessage()
	ce, ok := err.(*websocket.CloseError)
	if !ok || ce.Code != 1011 || ce.Text != "keepalive timeout" {
		t.Fatalf("silent peer ended with %v, want close 1011 keepalive timeout", err)
	}
	// The polite client answered several pings meanwhile and still works.
	time.Sleep(600 * time.Millisecond)
	send(t, polite, `{"type":"ping","id":"arq_alive"}`)
	select {
	case f, ok := <-frames:
		if !ok || f["type"] != "pong" {
			t.Fatalf("polite client got %v (open=%v), want its pong", f, ok)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("polite client got no pong")
	}
	polite.Close()
	for range frames {
	}
}

// TestRegressionLargeHistoryDoesNotDisconnect pins a fixed bug: a history
// reply larger than the send budget closed its caller with 4008. Now the
// reply holds what fits, newest first kept, with has_more.
func TestRegressionLargeHistoryDoesNotDisconnect(t *testing.T) {
	b := newTestBus(t, func(o *Options) { o.RateLimitPerSecond = 0; o.SendQueueBytes = 1 << 20 })
	pub := b.dial(t, "")
	big := strings.Repeat("x", 50_000)
	for i := 0; i < 40; i++ { // 2 MB of history, twice the send budget
		send(t, pub, `{"type":"message","room":"science","channel":"general","payload":{"i":`+strconv.Itoa(i)+`,"blob":"`+big+`"}}`)
		if f := readFrame(t, pub); f["type"] != "message_response" {
			t.Fatalf("publish %d: %v", i, f["type"])
		}
	}
	send(t, pub, `{"type":"command","id":"arq_hist","command":"history","args":{"room":"science","channel":"general","limit":1000}}`)
	resp := readFrame(t, pub)
	if resp["type"] != "response" || resp["status"] != "success" {
		t.Fatalf("history answered %v %v", resp["type"], resp["status"])
	}
	data := resp["payload"].(map[string]any)["data"].(map[string]any)
	msgs := data["messages"].([]any)
	if len(msgs) == 0 || len(msgs) >= 40 || data["has_more"] != true {
		t.Fatalf("history returned %d of 40 messages with has_more=%v; want a truncated window with has_more", len(msgs), data["has_more"])
	}
	last := msgs[len(msgs)-1].(map[string]any)["payload"].(map[string]any)["i"]
	if last != float64(39) {
		t.Fatalf("the newest message (i=39) must be kept, last is i=%v", last)
	}
	if f := readFrame(t, pub); f["type"] != "command_response" {
		t.Fatalf("after the response: %v", f["type"])
	}
	send(t, pub, `{"type":"ping","id":"arq_still_here"}`)
	if f := readFrame(t, pub); f["type"] != "pong" {
		t.Fatalf("the connection does not work after a large history reply: %v", f)
	}
}
