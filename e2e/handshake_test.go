package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestHandshakeQueryErrors(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	cases := []struct{ query, details string }{
		{"client_type=robot", "Invalid client_type"},
		{"screen_name=" + strings.Repeat("x", 65), "Invalid screen_name"},
		{"screen_name=a%07b", "Invalid screen_name"},
		{"room=science", "Invalid room or channel"},
		{"channel=general", "Invalid room or channel"},
		{"room=bad%20room&channel=general", "Invalid room or channel"},
		{"room=science&channel=.dot", "Invalid room or channel"},
		{"batch=yes", "Invalid batch"},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			resp, body := rawHandshake(t, s, "/ws?"+tc.query, nil, true)
			expectRejection(t, resp, body, 400, "Bad Request", tc.details)
		})
	}
	// Query validation (check 4) comes before the upgrade check (5).
	resp, body := rawHandshake(t, s, "/ws?batch=yes", nil, false)
	expectRejection(t, resp, body, 400, "Bad Request", "Invalid batch")
}

func TestHandshakeQueryAccepted(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	for _, q := range []url.Values{
		{"client_type": {"dashboard"}, "screen_name": {strings.Repeat("é", 64)}},
		{"client_type": {"service"}, "unknown_param": {"whatever"}},
		{"batch": {"0"}}, {"batch": {"false"}}, {"batch": {"true"}},
	} {
		c := dial(t, s, dialOpts{query: q})
		if ct := q.Get("client_type"); ct != "" && c.welcome.str("payload.client_type") != ct {
			t.Errorf("%v: welcome client_type = %q", q, c.welcome.str("payload.client_type"))
		}
		if sn := q.Get("screen_name"); sn != "" && c.welcome.str("payload.screen_name") != sn {
			t.Errorf("%v: welcome screen_name = %q", q, c.welcome.str("payload.screen_name"))
		}
	}
}

func TestHandshakePlainGET(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	resp, body := rawHandshake(t, s, "/", nil, false)
	expectRejection(t, resp, body, 426, "Upgrade Required", "WebSocket upgrade expected")
	resp, body = rawHandshake(t, s, "/ws?client_type=human", nil, false)
	expectRejection(t, resp, body, 426, "Upgrade Required", "WebSocket upgrade expected")
}

func TestHandshakeOriginLoopbackForms(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	for _, origin := range []string{"http://127.0.0.1:8000", "http://127.9.9.9", "http://[::1]:3000", "https://localhost"} {
		c := dial(t, s, dialOpts{header: http.Header{"Origin": {origin}}})
		if c.id() == "" {
			t.Errorf("origin %q refused", origin)
		}
	}
	for _, origin := range []string{"null", "http://localhost.evil.example", "http://10.0.0.1"} {
		resp, body := rawHandshake(t, s, "/ws", http.Header{"Origin": {origin}}, true)
		expectRejection(t, resp, body, 403, "Forbidden", "Cross-origin request refused")
	}
}

func TestHandshakeMaxConnections(t *testing.T) {
	t.Parallel()
	s := startServer(t, env{"ARQONBUS_MAX_CONNECTIONS": "2"})
	a := dial(t, s, dialOpts{})
	dial(t, s, dialOpts{})
	resp, body := rawHandshake(t, s, "/ws", nil, true)
	expectRejection(t, resp, body, 503, "Service Unavailable", "Connection limit reached")
	// Check 2 comes before the Origin check (3).
	resp, body = rawHandshake(t, s, "/ws", http.Header{"Origin": {"https://evil.example"}}, true)
	expectRejection(t, resp, body, 503, "Service Unavailable", "Connection limit reached")
	a.close()
	deadline := time.Now().Add(frameWait)
	for {
		conn, resp, err := tryDial(s, dialOpts{})
		if err == nil {
			conn.Close()
			break
		}
		if resp == nil || resp.StatusCode != 503 || time.Now().After(deadline) {
			t.Fatalf("no free slot after a client left: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSubprotocolSelection(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	cases := []struct {
		offered []string
		want    string
	}{
		{[]string{"arqonbus.v1"}, "arqonbus.v1"},
		{[]string{"bearer.abc", "arqonbus.v1"}, "arqonbus.v1"},
		// "The first of them (the two supported) that the client offers", in
		// the client's order of preference.
		{[]string{"arqonbus.v1.batch", "arqonbus.v1"}, "arqonbus.v1.batch"},
		{[]string{"arqonbus.v1", "arqonbus.v1.batch"}, "arqonbus.v1"},
		{[]string{"other", "arqonbus.v1.batch"}, "arqonbus.v1.batch"},
		{[]string{"bearer.abc"}, ""},
		{[]string{"other"}, ""},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.offered, ","), func(t *testing.T) {
			h := http.Header{"Sec-Websocket-Protocol": {strings.Join(tc.offered, ", ")}}
			resp, _ := rawHandshake(t, s, "/ws", h, true)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := resp.Header.Values("Sec-Websocket-Protocol")
			if tc.want == "" && len(got) != 0 {
				t.Errorf("selected %q, want no Sec-WebSocket-Protocol header", got)
			}
			if tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
				t.Errorf("selected %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWelcomeFirstWhenClientSendsEarly(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	conn, _, err := tryDial(s, dialOpts{})
	if err != nil {
		t.Fatal(err)
	}
	c := &wsClient{t: t, conn: conn, frames: make(chan frame, 64), closed: make(chan struct{})}
	t.Cleanup(c.close)
	// Send before reading anything.
	c.sendRaw(`{"type":"ping","id":"arq_early"}`)
	c.sendRaw(`{"type":"command","id":"arq_early_cmd","command":"ping"}`)
	c.startReader()
	w := c.next()
	if w.str("payload.welcome") != "Connected to ArqonBus" {
		t.Fatalf("first frame = %v, want the welcome", w)
	}
	if p := c.next(); p.str("type") != "pong" || p.str("request_id") != "arq_early" {
		t.Errorf("second frame = %v, want pong", p)
	}
	c.readPair("arq_early_cmd", "ping")
}

func TestInitialSubscriptionFromQuery(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	room := uniq("init")
	a := dial(t, s, dialOpts{query: url.Values{"room": {room}, "channel": {"general"}}})
	sub := mustObj(t, a.welcome, "payload.subscription")
	epoch := asString(sub["epoch"])
	if !reEpoch.MatchString(epoch) || !jsonEq(sub, map[string]any{"room": room, "channel": "general", "epoch": epoch, "offset": 0}) {
		t.Errorf("welcome subscription = %v", sub)
	}
	// The compound form, and no extra frames after the welcome.
	b := dial(t, s, dialOpts{query: url.Values{"channel": {room + ":general"}}})
	b.expectNone(quietWait)
	if got := mustObj(t, b.welcome, "payload.subscription"); !jsonEq(got, sub) {
		t.Errorf("compound form subscription = %v, want %v", got, sub)
	}
}

func TestDefaultTargetRouting(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	room := uniq("deft")
	a := dial(t, s, dialOpts{query: url.Values{"room": {room}, "channel": {"general"}}})
	b := dial(t, s, dialOpts{query: url.Values{"room": {room}, "channel": {"general"}}})
	a.send(map[string]any{"id": "arq_def1", "type": "message", "payload": map[string]any{"k": "v"}})
	got := b.next()
	if got.str("id") != "arq_def1" || got.str("room") != room || got.str("channel") != "general" || got.num("metadata.offset") != 1 {
		t.Errorf("delivery = %v", got)
	}
	ack := a.next()
	if ack.str("type") != "message_response" || ack.str("room") != room || ack.str("channel") != "general" {
		t.Errorf("ack = %v", ack)
	}
	// channel_info shows both members; status lists the subscription.
	st := a.mustOK("status", nil)
	if v, _ := st.get("payload.data.client.subscriptions"); !jsonEq(v, []string{room + ":general"}) {
		t.Errorf("status subscriptions = %v", v)
	}
	// Leaving the default target clears it.
	resp := a.mustOK("leave_channel", map[string]any{"room": room, "channel": "general"})
	if m := resp.str("payload.message"); m != "Left channel '"+room+":general' successfully" {
		t.Errorf("leave message = %q", m)
	}
	a.send(map[string]any{"id": "arq_def2", "type": "message", "payload": map[string]any{}})
	a.expectError("MISSING_TARGET", "Message has no target: provide room and channel", "arq_def2")
	b.expectNone(quietWait)
}

func TestHandshakeChannelLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, env{"ARQONBUS_MAX_CHANNELS": "1"})
	dial(t, s, dialOpts{query: url.Values{"room": {"lab"}, "channel": {"one"}}})
	resp, body := rawHandshake(t, s, "/ws?room=lab&channel=two", nil, true)
	expectRejection(t, resp, body, 400, "Bad Request", "Channel limit reached")
	// Bootstrapped channels do not count.
	dial(t, s, dialOpts{query: url.Values{"room": {"science"}, "channel": {"explore"}}})
}

func TestHandshakeBodyNotUpgradedHTTPClient(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	resp, err := httpClient.Get("http://" + s.busAddr + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	expectRejection(t, resp, body, 426, "Upgrade Required", "WebSocket upgrade expected")
}
