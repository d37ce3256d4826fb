package e2e

// Test vectors of PROTOCOL.md Appendix A, one test per vector. Vectors 15
// (op.store), 19 (CASIL) and 27 (op.casil.reload) belong to later issues.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestRegressionVector01_MissingTokenRejected is Appendix A vector 1 and pins
// a bug fixed in 0d24aae: the 401 body was marshalled from a map, whose keys
// come out sorted ({"details":…,"error":…}), not in the byte-exact order of
// PROTOCOL.md §3.3.
func TestRegressionVector01_MissingTokenRejected(t *testing.T) {
	t.Parallel()
	s := authServer(t)
	resp, body := rawHandshake(t, s, "/ws", nil, true)
	expectExact401(t, resp, body, "Missing bearer token")
}

func TestVector02_ExpiredTokenRejected(t *testing.T) {
	t.Parallel()
	s := authServer(t)
	tok := mintHS(t, map[string]any{"sub": "alice", "exp": time.Now().Add(-60 * time.Second).Unix()})
	resp, body := rawHandshake(t, s, "/ws", http.Header{"Authorization": {"Bearer " + tok}}, true)
	expectExact401(t, resp, body, "Invalid token")
}

func TestVector03_WelcomeWithTenant(t *testing.T) {
	t.Parallel()
	s := authServer(t)
	tok := mintHS(t, map[string]any{"sub": "alice", "tenant_id": "tenant-a", "exp": time.Now().Add(time.Hour).Unix()})
	c := dial(t, s, dialOpts{token: tok})
	w := c.welcome
	checks := map[string]any{
		"type": "message", "sender": "arqonbus", "payload.welcome": "Connected to ArqonBus",
		"payload.protocol": "1.0", "payload.heartbeat_seconds": float64(20), "payload.tenant_id": "tenant-a",
		"payload.role": "user", "payload.client_type": "human", "payload.screen_name": nil,
	}
	for path, want := range checks {
		if got, ok := w.get(path); !ok || !jsonEq(got, want) {
			t.Errorf("welcome %s = %v, want %v", path, got, want)
		}
	}
	if !reClientID.MatchString(c.id()) {
		t.Errorf("client_id %q does not match %s", c.id(), reClientID)
	}
	if !reServerID.MatchString(w.str("id")) || !reTimestamp.MatchString(w.str("timestamp")) {
		t.Errorf("welcome id/timestamp format: %v", w)
	}
	if w.str("payload.server_version") == "" {
		t.Errorf("welcome has no server_version: %v", w)
	}
	for _, k := range []string{"room", "channel"} {
		if _, ok := w[k]; ok {
			t.Errorf("welcome has top-level %q", k)
		}
	}
	if _, ok := w.get("payload.subscription"); ok {
		t.Errorf("welcome without initial subscription carries one: %v", w)
	}
}

func TestVector04_InvalidJSON(t *testing.T) {
	t.Parallel()
	c := dial(t, defaultServer(t), dialOpts{})
	c.sendRaw(`{"type":"message",`)
	f := c.next()
	if f.str("type") != "error" || f.str("error_code") != "INVALID_JSON" || !strings.HasPrefix(f.str("error"), "Invalid JSON: ") {
		t.Errorf("got %v, want INVALID_JSON with error prefix 'Invalid JSON: '", f)
	}
	if _, ok := f["request_id"]; ok {
		t.Errorf("INVALID_JSON frame has request_id: %v", f)
	}
	errs, _ := f.get("payload.errors")
	if l, ok := errs.([]any); !ok || len(l) != 1 || "Invalid JSON: "+asString(l[0]) != f.str("error") {
		t.Errorf("payload.errors = %v, want [<parser detail>] matching error %q", errs, f.str("error"))
	}
	c.send(map[string]any{"type": "ping", "id": "arq_after_bad"})
	if p := c.next(); p.str("type") != "pong" || p.str("request_id") != "arq_after_bad" {
		t.Errorf("valid frame after bad JSON: got %v", p)
	}
}

func TestVector05_UnknownFieldsSorted(t *testing.T) {
	t.Parallel()
	c := dial(t, defaultServer(t), dialOpts{})
	room := uniq("v5")
	c.sendRaw(`{"type":"message","room":"` + room + `","channel":"general","payload":{},"foo":1,"bar":2}`)
	c.expectValidation("-", "Unknown field: bar", "Unknown field: foo")
}

func TestVector06_InvalidMessageID(t *testing.T) {
	t.Parallel()
	c := dial(t, defaultServer(t), dialOpts{})
	c.sendRaw(`{"id":"msg-1","type":"message","room":"science","channel":"general","payload":{}}`)
	c.expectValidation("msg-1", "Invalid message ID format: msg-1")
}

func TestVector07_UnsupportedType(t *testing.T) {
	t.Parallel()
	c := dial(t, defaultServer(t), dialOpts{})
	c.sendRaw(`{"type":"shout","payload":{}}`)
	c.expectValidation("-", "Unsupported message type: shout")
}

func TestVector08_MissingTarget(t *testing.T) {
	t.Parallel()
	c := dial(t, defaultServer(t), dialOpts{})
	c.sendRaw(`{"id":"arq_t8","type":"message","payload":{"x":1}}`)
	f := c.expectError("MISSING_TARGET", "Message has no target: provide room and channel", "arq_t8")
	if !jsonEq(f["payload"], map[string]any{}) {
		t.Errorf("payload = %v, want {}", f["payload"])
	}
	c.expectNone(quietWait)
}

func TestVector09_JoinChannel(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	a := dial(t, s, dialOpts{})
	a.sendRaw(`{"id":"arq_j1","type":"command","command":"join_channel","args":{"room":"science","channel":"general"}}`)
	resp, ack := a.readPair("arq_j1", "join_channel")
	if resp.str("status") != "success" || resp.str("payload.message") != "Joined channel 'science:general' successfully" {
		t.Errorf("response = %v", resp)
	}
	data, _ := resp.get("payload.data")
	d, _ := data.(map[string]any)
	epoch, _ := d["epoch"].(string)
	if !reEpoch.MatchString(epoch) {
		t.Errorf("epoch %q is not 16 lowercase hex", epoch)
	}
	want := map[string]any{"room": "science", "channel": "general", "joined": true, "member_count": 1, "epoch": epoch, "offset": 0}
	if !jsonEq(d, want) {
		t.Errorf("data = %v, want %v", d, want)
	}
	if !jsonEq(ack["payload"], map[string]any{"result": "ok"}) {
		t.Errorf("ack payload = %v", ack["payload"])
	}
}

func TestVector10_MessageDeliveryThenAck(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	a := dial(t, s, dialOpts{})
	b := dial(t, s, dialOpts{})
	joined := a.join("science", "general")
	epoch := joined.str("epoch")
	b.sendRaw(`{"id":"arq_m1","type":"message","channel":"science:general","payload":{"content":"HELLO"}}`)
	got := a.next()
	want := map[string]any{
		"type": "message", "id": "arq_m1", "room": "science", "channel": "general", "sender": b.id(),
		"payload": map[string]any{"content": "HELLO"}, "metadata": map[string]any{"offset": 1, "epoch": epoch},
		"version": "1.0", "args": map[string]any{},
	}
	for k, v := range want {
		if !jsonEq(got[k], v) {
			t.Errorf("delivery %s = %v, want %v", k, got[k], v)
		}
	}
	if !reTimestamp.MatchString(got.str("timestamp")) {
		t.Errorf("delivery timestamp %q", got.str("timestamp"))
	}
	ack := b.next()
	wantAck := map[string]any{
		"type": "message_response", "id": "arq_m1", "request_id": "arq_m1", "sender": "arqonbus",
		"payload": map[string]any{"content": "HELLO"}, "room": "science", "channel": "general",
		"metadata": map[string]any{"offset": 1, "epoch": epoch},
	}
	for k, v := range wantAck {
		if !jsonEq(ack[k], v) {
			t.Errorf("ack %s = %v, want %v", k, ack[k], v)
		}
	}
	b.expectNone(quietWait)
}

func TestVector11_CreateChannelNotAdmin(t *testing.T) {
	t.Parallel()
	a := dial(t, defaultServer(t), dialOpts{})
	a.sendRaw(`{"id":"arq_c1","type":"command","command":"create_channel","args":{"room":"lab","channel":"x"}}`)
	resp, ack := a.readPair("arq_c1", "create_channel")
	if resp.str("status") != "error" || resp.str("error_code") != "AUTHORIZATION_ERROR" {
		t.Errorf("response = %v", resp)
	}
	if !jsonEq(resp["payload"], map[string]any{"message": "Only admin clients can create channels", "data": map[string]any{}}) {
		t.Errorf("payload = %v", resp["payload"])
	}
	if !jsonEq(ack["payload"], map[string]any{"result": "error"}) {
		t.Errorf("ack payload = %v", ack["payload"])
	}
}

func TestVector12_DeleteChannelNotEmptyAndProtected(t *testing.T) {
	t.Parallel()
	s := startServer(t, env{"ARQONBUS_DEV_ADMIN": "true"})
	admin := dial(t, s, dialOpts{})
	b := dial(t, s, dialOpts{})
	if admin.welcome.str("payload.role") != "admin" {
		t.Errorf("dev admin welcome role = %q", admin.welcome.str("payload.role"))
	}
	b.join("lab", "x")
	admin.expectCmdError("delete_channel", map[string]any{"room": "lab", "channel": "x"}, "CHANNEL_NOT_EMPTY", "Channel 'lab:x' is not empty (members: 1)")
	admin.expectCmdError("delete_channel", map[string]any{"room": "science", "channel": "general"}, "CHANNEL_PROTECTED", "Channel 'science:general' is hardcoded and cannot be deleted")
}

func TestVector13_HistoryLimitTooLarge(t *testing.T) {
	t.Parallel()
	a := dial(t, defaultServer(t), dialOpts{})
	a.sendRaw(`{"id":"arq_h1","type":"command","command":"history","args":{"room":"science","channel":"general","limit":5000}}`)
	resp, ack := a.readPair("arq_h1", "history")
	if resp.str("status") != "error" || resp.str("error_code") != "VALIDATION_ERROR" || resp.str("payload.message") != "Validation error: 'limit' must be <= 1000" {
		t.Errorf("response = %v", resp)
	}
	if ack.str("payload.result") != "error" {
		t.Errorf("ack = %v", ack)
	}
}

func TestVector14_PrivateTargetNotFound(t *testing.T) {
	t.Parallel()
	a := dial(t, defaultServer(t), dialOpts{})
	a.sendRaw(`{"id":"arq_p1","type":"private","to_client":"arq_client_00000000000000000000000000000000","payload":{"t":1}}`)
	a.expectError("TARGET_NOT_FOUND", "Target client 'arq_client_00000000000000000000000000000000' is not connected", "arq_p1")
}

func TestVector16_LegacyUnknownCommand(t *testing.T) {
	t.Parallel()
	a := dial(t, defaultServer(t), dialOpts{})
	a.sendRaw(`{"id":"arq_u1","type":"command","payload":{"command":"no.such","parameters":{}}}`)
	resp, ack := a.readPair("arq_u1", "no.such")
	if resp.str("status") != "error" || resp.str("error_code") != "UNKNOWN_COMMAND" || resp.str("payload.message") != "Unknown command: no.such" {
		t.Errorf("response = %v", resp)
	}
	if !jsonEq(ack["payload"], map[string]any{"result": "error"}) {
		t.Errorf("ack = %v", ack)
	}
}

func TestVector17_Ping(t *testing.T) {
	t.Parallel()
	a := dial(t, defaultServer(t), dialOpts{})
	a.sendRaw(`{"type":"ping","id":"arq_pi","payload":{"n":1}}`)
	p := a.next()
	if p.str("type") != "pong" || p.str("request_id") != "arq_pi" || !jsonEq(p["payload"], map[string]any{"n": 1}) || p.str("sender") != "arqonbus" {
		t.Errorf("got %v, want pong for arq_pi with payload {n:1}", p)
	}
}

func TestVector18_Recovery(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	a := dial(t, s, dialOpts{})
	b := dial(t, s, dialOpts{})
	watcher := dial(t, s, dialOpts{})
	a.join("science", "general")
	watcher.join("science", "general")
	b.publish("science", "general", map[string]any{"n": 1})
	seen := a.next()
	watcher.next()
	epoch := seen.str("metadata.epoch")
	if seen.num("metadata.offset") != 1 || !reEpoch.MatchString(epoch) {
		t.Fatalf("first delivery = %v, want offset 1 and an epoch", seen)
	}
	a.close()

	b.publish("science", "general", map[string]any{"n": 2})
	b.publish("science", "general", map[string]any{"n": 3})
	live := []frame{watcher.next(), watcher.next()}

	a2 := dial(t, s, dialOpts{})
	resp := a2.mustOK("join_channel", map[string]any{"room": "science", "channel": "general", "recover": map[string]any{"epoch": epoch, "offset": 1}})
	data, _ := resp.get("payload.data")
	d := frame(data.(map[string]any))
	if d["recovered"] != true || d.num("offset") != 3 || d.str("epoch") != epoch || d["joined"] != true {
		t.Errorf("recover data = %v, want recovered:true offset:3 epoch %s", d, epoch)
	}
	pubs, _ := d["publications"].([]any)
	if len(pubs) != 2 {
		t.Fatalf("publications = %v, want offsets [2,3]", d["publications"])
	}
	for i, p := range pubs {
		if !jsonEq(p, live[i]) {
			t.Errorf("publication %d = %v, want it exactly as delivered live: %v", i, p, live[i])
		}
	}

	a3 := dial(t, s, dialOpts{})
	resp = a3.mustOK("join_channel", map[string]any{"room": "science", "channel": "general", "recover": map[string]any{"epoch": "bogus", "offset": 1}})
	if v, _ := resp.get("payload.data.recovered"); v != false {
		t.Errorf("bogus epoch: recovered = %v", v)
	}
	if v, _ := resp.get("payload.data.publications"); !jsonEq(v, []any{}) {
		t.Errorf("bogus epoch: publications = %v, want []", v)
	}
}

// TestRegressionVector20_FrameTooBig is Appendix A vector 20 and pins a bug
// fixed in 0d24aae: the size limit was left to the WebSocket library, whose
// 1009 close carried no reason text; PROTOCOL.md §3.8 requires "message too
// big".
func TestRegressionVector20_FrameTooBig(t *testing.T) {
	t.Parallel()
	a := dial(t, defaultServer(t), dialOpts{})
	big := `{"type":"ping","payload":{"x":"` + strings.Repeat("a", 1048577) + `"}}`
	big = big[:1048577-2] + `"}` // exactly 1048577 bytes, the last bytes still a string
	if len(big) != 1048577 {
		t.Fatalf("frame length %d", len(big))
	}
	_ = a.trySendRaw(big)
	a.expectCloseCode(1009, "message too big")
}

func TestVector21_RateLimitClose(t *testing.T) {
	t.Parallel()
	s := startServer(t, env{"ARQONBUS_RATE_LIMIT_PER_SECOND": "1", "ARQONBUS_RATE_LIMIT_BURST": "1", "ARQONBUS_RATE_LIMIT_MAX_VIOLATIONS": "3"})
	a := dial(t, s, dialOpts{})
	for i := 0; i < 5; i++ {
		_ = a.trySendRaw(`{"type":"ping","id":"arq_rl` + string(rune('0'+i)) + `"}`)
	}
	ci, frames := a.expectClosed(frameWait)
	if len(frames) != 3 {
		t.Fatalf("frames before close = %v, want pong + 2 RATE_LIMITED", frames)
	}
	if frames[0].str("type") != "pong" || frames[0].str("request_id") != "arq_rl0" {
		t.Errorf("first frame = %v, want pong arq_rl0", frames[0])
	}
	for _, f := range frames[1:] {
		if f.str("type") != "error" || f.str("error_code") != "RATE_LIMITED" || f.str("error") != "Rate limit exceeded" {
			t.Errorf("frame = %v, want RATE_LIMITED", f)
		}
		if _, ok := f["request_id"]; ok {
			t.Errorf("RATE_LIMITED frame carries request_id: %v", f)
		}
	}
	if ci.code != 4429 || ci.text != "rate limited" {
		t.Errorf("close = %d %q (%v), want 4429 \"rate limited\"", ci.code, ci.text, ci.err)
	}
}

func TestVector22_NoEcho(t *testing.T) {
	t.Parallel()
	a := dial(t, defaultServer(t), dialOpts{})
	room := uniq("v22")
	a.join(room, "general")
	a.publish(room, "general", map[string]any{"content": "me"})
	a.expectNone(quietWait)
}

func TestVector23_NullPayload(t *testing.T) {
	t.Parallel()
	a := dial(t, defaultServer(t), dialOpts{})
	room := uniq("v23")
	a.sendRaw(`{"id":"arq_n1","type":"message","room":"` + room + `","channel":"general","payload":null}`)
	a.expectValidation("arq_n1", "Field 'payload' is required for message messages")
	a.sendRaw(`{"id":"arq_n2","type":"message","room":"` + room + `","channel":"general"}`)
	ack := a.next()
	if ack.str("type") != "message_response" || ack.str("request_id") != "arq_n2" || !jsonEq(ack["payload"], map[string]any{}) {
		t.Errorf("got %v, want message_response with payload {}", ack)
	}
}

func TestVector24_OriginRule(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	resp, body := rawHandshake(t, s, "/ws", http.Header{"Origin": {"https://evil.example"}}, true)
	expectRejection(t, resp, body, 403, "Forbidden", "Cross-origin request refused")
	for _, origin := range []string{"http://localhost:3000", ""} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c := dial(t, s, dialOpts{header: h})
		if c.id() == "" {
			t.Errorf("origin %q: no welcome", origin)
		}
	}
}

func TestVector25_TenantGrammarAndDefaultTenant(t *testing.T) {
	t.Parallel()
	s := startServer(t, env{"ARQONBUS_ENABLE_AUTH": "true", "ARQONBUS_AUTH_JWT_SECRET": jwtSecret})
	exp := time.Now().Add(time.Hour).Unix()
	resp, body := rawHandshake(t, s, "/ws", http.Header{"Authorization": {"Bearer " + mintHS(t, map[string]any{"tenant_id": "a.b", "exp": exp})}}, true)
	expectExact401(t, resp, body, "Invalid token")

	named := dial(t, s, dialOpts{token: mintHS(t, map[string]any{"tenant_id": "default", "exp": exp})})
	if v, _ := named.welcome.get("payload.tenant_id"); v != "default" {
		t.Errorf("tenant_id:\"default\" welcome tenant_id = %v", v)
	}
	anon := dial(t, s, dialOpts{token: mintHS(t, map[string]any{"exp": exp})})
	if v, ok := anon.welcome.get("payload.tenant_id"); !ok || v != nil {
		t.Errorf("no tenant_id: welcome tenant_id = %v (present %v), want null", v, ok)
	}
	named.join("science", "general")
	anon.join("science", "general")
	named.publish("science", "general", map[string]any{"from": "named"})
	anon.publish("science", "general", map[string]any{"from": "anon"})
	named.expectNone(quietWait)
	anon.expectNone(quietWait)
}

func TestVector26_BatchedRateLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, env{"ARQONBUS_RATE_LIMIT_PER_SECOND": "1", "ARQONBUS_RATE_LIMIT_BURST": "2", "ARQONBUS_RATE_LIMIT_MAX_VIOLATIONS": "0"})
	a := dial(t, s, dialOpts{query: url.Values{"batch": {"1"}}})
	a.sendRaw("{\"type\":\"ping\",\"id\":\"arq_b1\"}\n{\"type\":\"ping\",\"id\":\"arq_b2\"}\n{\"type\":\"ping\",\"id\":\"arq_b3\"}\n")
	for _, id := range []string{"arq_b1", "arq_b2"} {
		if p := a.next(); p.str("type") != "pong" || p.str("request_id") != id {
			t.Errorf("got %v, want pong %s", p, id)
		}
	}
	a.expectError("RATE_LIMITED", "Rate limit exceeded", "-")
	a.expectNone(quietWait)
}

func TestVector28_ProductionRequiresExp(t *testing.T) {
	t.Parallel()
	s := productionServer(t)
	noExp := mintHS(t, map[string]any{"sub": "alice"})
	resp, body := rawHandshake(t, s, "/ws", http.Header{"Authorization": {"Bearer " + noExp}}, true)
	expectExact401(t, resp, body, "Invalid token")
	withExp := mintHS(t, map[string]any{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	dial(t, s, dialOpts{token: withExp})

	// In development the same token without exp is accepted.
	dial(t, authServer(t), dialOpts{token: noExp})
}
