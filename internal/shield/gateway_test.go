package shield

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/arqonbus/arqonbus/internal/config"
)

// Vector 3, 4, 5: handshake rejections and token sources.
func TestIntegrationHandshake(t *testing.T) {
	ns := startNATS(t, false)
	h := startShield(t, ns, nil)

	check := func(name string, hdr http.Header, query string, wantStatus int, wantBody, reason string) {
		t.Helper()
		before := metricValue(t, h, "rejections", reason)
		url := "http://" + h.g.Addr() + "/ws"
		if query != "" {
			url += "?" + query
		}
		resp, body := httpGet(t, url, hdr)
		if resp.StatusCode != wantStatus || body != wantBody {
			t.Errorf("%s: got %d %s, want %d %s", name, resp.StatusCode, body, wantStatus, wantBody)
		}
		if wantStatus == 401 && resp.Header.Get("WWW-Authenticate") != `Bearer realm="arqon-shield"` {
			t.Errorf("%s: WWW-Authenticate = %q", name, resp.Header.Get("WWW-Authenticate"))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		if got := metricValue(t, h, "rejections", reason); got != before+1 {
			t.Errorf("%s: rejections{%s} %v -> %v", name, reason, before, got)
		}
	}
	with := func(k, v string) http.Header {
		hd := upgradeHeaders()
		hd.Set(k, v)
		return hd
	}
	missing := `{"error":"Unauthorized","details":"Missing Authorization header"}`
	decode := `{"error":"Unauthorized","details":"JWT decode failed"}`
	check("no token", upgradeHeaders(), "", 401, missing, "missing_token")
	check("basic", with("Authorization", "Basic abc"), "", 401, `{"error":"Unauthorized","details":"Authorization header is not Bearer token format"}`, "bad_format")
	check("bearer without token", with("Authorization", "Bearer "), "", 401, `{"error":"Unauthorized","details":"Authorization header is not Bearer token format"}`, "bad_format")
	bad := func(name, tok string) {
		check(name, with("Authorization", "Bearer "+tok), "", 401, decode, "invalid_token")
	}
	bad("other secret", signToken(t, randomSecret(), nil))
	bad("expired", h.token(func(c map[string]any) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() }))
	bad("malformed", "abc.def")
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + strings.Split(h.token(nil), ".")[1] + "."
	bad("alg none", none)
	bad("no tenant", h.token(func(c map[string]any) { delete(c, "tenant_id") }))
	bad("no exp", h.token(func(c map[string]any) { delete(c, "exp") }))
	bad("no sub", h.token(func(c map[string]any) { delete(c, "sub") }))
	for _, tenant := range []string{"a.b", "a b", "é", ""} {
		bad("tenant "+tenant, h.token(tenantToken(tenant)))
	}
	bad("too long", h.token(func(c map[string]any) { c["pad"] = strings.Repeat("x", 9000) }))
	// Wrong algorithm family: header says RS256.
	rs := "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + strings.Join(strings.Split(h.token(nil), ".")[1:], ".")
	bad("wrong alg", rs)
	check("query token disabled", upgradeHeaders(), "access_token="+h.token(nil), 401, missing, "missing_token")
	check("bad request", http.Header{"Connection": {"close"}}, "", 400, `{"error":"Bad Request","details":"Invalid WebSocket upgrade request"}`, "bad_request")
	v8 := upgradeHeaders()
	v8.Set("Sec-Websocket-Version", "8")
	check("version", v8, "", 426, `{"error":"Upgrade Required","details":"Unsupported WebSocket version"}`, "bad_request")

	resp, body := httpGet(t, "http://"+h.g.Addr()+"/nope", nil)
	if resp.StatusCode != 404 || body != `{"error":"Not Found"}` {
		t.Errorf("404: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.g.Addr()+"/v1/socket", nil)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 405 || r2.Header.Get("Allow") != "GET" {
		t.Errorf("405: %d allow=%q", r2.StatusCode, r2.Header.Get("Allow"))
	}

	// Browser subprotocol: the bearer entry is never echoed.
	tok := h.token(nil)
	ws, resp2, err := h.dialRaw("", "", []string{"arqon.v1", "bearer." + tok})
	if err != nil {
		t.Fatalf("subprotocol dial: %v", err)
	}
	if got := resp2.Header.Get("Sec-WebSocket-Protocol"); got != "arqon.v1" {
		t.Errorf("Sec-WebSocket-Protocol = %q", got)
	}
	if id := resp2.Header.Get("Arqon-Conn-Id"); len(id) != 41 || !strings.HasPrefix(id, "arq_conn_") {
		t.Errorf("Arqon-Conn-Id = %q", id)
	}
	ws.Close()
	if !h.waitLog("token_source=subprotocol") {
		t.Error("connection opened log lacks token_source=subprotocol")
	}
}

func TestIntegrationQueryTokenAndOrigin(t *testing.T) {
	ns := startNATS(t, false)
	h := startShield(t, ns, func(o *Options) {
		o.AllowQueryToken = true
		o.AllowedOrigins = []string{"https://app.example.com", "https://*.example.org"}
	})
	tok := h.token(nil)
	ws, _, err := h.dialRaw("", "access_token="+tok, nil)
	if err != nil {
		t.Fatalf("query token dial: %v", err)
	}
	ws.Close()
	hd := upgradeHeaders()
	hd.Set("Authorization", "Bearer "+tok)
	hd.Set("Origin", "https://evil.example.com")
	resp, body := httpGet(t, "http://"+h.g.Addr()+"/ws", hd)
	if resp.StatusCode != 403 || body != `{"error":"Forbidden","details":"Origin not allowed"}` {
		t.Errorf("origin: %d %s", resp.StatusCode, body)
	}
	for _, origin := range []string{"https://app.example.com", "https://x.example.org"} {
		d := websocket.Dialer{}
		hd := http.Header{"Authorization": {"Bearer " + tok}, "Origin": {origin}}
		ws, _, err := d.Dial(h.wsURL(""), hd)
		if err != nil {
			t.Errorf("origin %s refused: %v", origin, err)
			continue
		}
		ws.Close()
	}
	time.Sleep(50 * time.Millisecond)
	if strings.Contains(h.logs.String(), tok) {
		t.Error("a log line contains the token")
	}
}

// Vector 6.
func TestIntegrationAcceptedTextFrame(t *testing.T) {
	ns := startNATS(t, false)
	h := startShield(t, ns, nil)
	in := h.subscribe("in.t.>")
	ws := h.dial(h.token(nil))
	before := metricValue(t, h, "messages", "accepted")
	frame := `{"type":"message","id":"arq_msg_001","room":"science","channel":"general","from":"spoof","payload":{"n":1,"big":12345678901234567890123}}`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	_, b := readFrame(t, ws)
	if string(b) != `{"type":"ack","id":"arq_msg_001","subject":"in.t.tenant-a.raw"}` {
		t.Errorf("ack = %s", b)
	}
	m := recvMsg(t, in)
	if m.Subject != "in.t.tenant-a.raw" {
		t.Errorf("subject %s", m.Subject)
	}
	for k, v := range map[string]string{"Arqon-Tenant": "tenant-a", "Arqon-Sub": "user-1", "Arqon-Frame": "text", "Nats-Msg-Id": "arq_msg_001", "Arqon-Trace-Id": "arq_msg_001"} {
		if got := m.Header[k]; len(got) != 1 || got[0] != v {
			t.Errorf("header %s = %v, want %s", k, got, v)
		}
	}
	if got := m.Header["Arqon-Reply-To"]; len(got) != 1 || !strings.HasPrefix(got[0], "out.t.tenant-a.c.arq_conn_") {
		t.Errorf("Arqon-Reply-To = %v", got)
	}
	var env map[string]any
	dec := json.NewDecoder(bytes.NewReader(m.Data))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		t.Fatal(err)
	}
	payload := env["payload"].(map[string]any)
	if env["sender"] != "user-1" || env["metadata"].(map[string]any)["tenant_id"] != "tenant-a" || payload["n"] != json.Number("1") {
		t.Errorf("published %s", m.Data)
	}
	if payload["big"] != json.Number("12345678901234567890123") {
		t.Errorf("number precision lost: %v", payload["big"])
	}
	if _, ok := env["from"]; ok || env["version"] != "1.0" || !ValidTimestamp(env["timestamp"].(string)) {
		t.Errorf("normalisation: %s", m.Data)
	}
	if got := metricValue(t, h, "messages", "accepted"); got != before+1 {
		t.Errorf("accepted %v -> %v", before, got)
	}

	// Generated id, metadata.trace_id and a ping.
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"event","metadata":{"trace_id":"tr-1"}}`))
	ack := readJSON(t, ws)
	id, _ := ack["id"].(string)
	if len(id) != 30 || !strings.HasPrefix(id, "arq_") {
		t.Errorf("generated id %q", id)
	}
	m = recvMsg(t, in)
	if m.Header.Get("Arqon-Trace-Id") != "tr-1" || m.Header.Get("Nats-Msg-Id") != id {
		t.Errorf("headers %v", m.Header)
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","id":"arq_p1"}`))
	pong := readJSON(t, ws)
	if pong["type"] != "pong" || pong["request_id"] != "arq_p1" {
		t.Errorf("pong %v", pong)
	}
	noMessage(t, in, 50*time.Millisecond)
}

// Vector 7.
func TestIntegrationSchemaStrictAndNonStrict(t *testing.T) {
	ns := startNATS(t, false)
	for _, strict := range []bool{true, false} {
		t.Run(fmt.Sprint("strict=", strict), func(t *testing.T) {
			h := startShield(t, ns, func(o *Options) { o.SchemaStrict = strict })
			in := h.subscribe("in.t.>")
			ws := h.dial(h.token(nil))
			ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"message","foo":1}`))
			f := readJSON(t, ws)
			if strict {
				errs, _ := f["payload"].(map[string]any)["errors"].([]any)
				if f["type"] != "error" || f["error_code"] != "SCHEMA_VIOLATION" || f["error"] != "Schema validation failed" || len(errs) == 0 {
					t.Errorf("strict: %v", f)
				}
				noMessage(t, in, 50*time.Millisecond)
				if metricValue(t, h, "schema", "text", "rejected") != 1 || metricValue(t, h, "messages", "schema_violation") != 1 {
					t.Error("schema metrics not recorded")
				}
				// Pointer prefix for a nested violation; request_id echoes the id.
				ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"bogus","id":"arq_1"}`))
				f = readJSON(t, ws)
				errs, _ = f["payload"].(map[string]any)["errors"].([]any)
				if f["request_id"] != "arq_1" || len(errs) == 0 || !strings.HasPrefix(errs[0].(string), "/type: ") {
					t.Errorf("errors %v", f)
				}
			} else {
				if f["type"] != "ack" {
					t.Fatalf("non-strict: %v", f)
				}
				m := recvMsg(t, in)
				if m.Header.Get("Arqon-Schema-Violation") == "" {
					t.Error("no Arqon-Schema-Violation header")
				}
				if metricValue(t, h, "schema", "text", "passed") != 1 {
					t.Error("passed not counted")
				}
			}
			for _, bad := range []string{"not json", "[1,2]", "42", `{"type":"message"} x`} {
				ws.WriteMessage(websocket.TextMessage, []byte(bad))
				f = readJSON(t, ws)
				if f["error_code"] != "INVALID_JSON" || f["error"] != "Invalid JSON: frame must be a JSON object" {
					t.Errorf("%q: %v", bad, f)
				}
				if _, ok := f["request_id"]; ok {
					t.Errorf("request_id on INVALID_JSON: %v", f)
				}
			}
			ws.Close()
			h.stop()
		})
	}
}

// Vector 8.
func TestIntegrationTenantMismatch(t *testing.T) {
	ns := startNATS(t, false)
	h := startShield(t, ns, nil)
	in := h.subscribe("in.t.>")
	ws := h.dial(h.token(nil))
	frame := []byte(`{"type":"message","metadata":{"tenant_id":"tenant-b"}}`)
	ws.WriteMessage(websocket.TextMessage, frame)
	f := readJSON(t, ws)
	errs := f["payload"].(map[string]any)["errors"].([]any)
	if f["error_code"] != "TENANT_MISMATCH" || f["error"] != "Envelope tenant does not match token tenant" || len(errs) != 0 {
		t.Errorf("got %v", f)
	}
	noMessage(t, in, 50*time.Millisecond)
	h.stop()

	h = startShield(t, ns, func(o *Options) { o.MaxViolations = 1 })
	ws = h.dial(h.token(nil))
	ws.WriteMessage(websocket.TextMessage, frame)
	if f := readJSON(t, ws); f["error_code"] != "TENANT_MISMATCH" {
		t.Errorf("got %v", f)
	}
	if code, text := expectClose(t, ws); code != 1008 || text != "too many violations" {
		t.Errorf("close %d %q", code, text)
	}
}

// Vector 9.
func TestIntegrationBinaryStampingAndEcho(t *testing.T) {
	ns := startNATS(t, false)
	h := startShield(t, ns, nil)
	in := h.subscribe("in.t.>")
	ws := h.dial(h.token(tenantToken("tenant-e2e")))
	frame := []byte{0x0A, 0x03, 0x61, 0x62, 0x63}
	ws.WriteMessage(websocket.BinaryMessage, frame)
	typ, b := readFrame(t, ws)
	if typ != websocket.BinaryMessage || !bytes.Equal(b, frame) {
		t.Errorf("echo %d %x", typ, b)
	}
	m := recvMsg(t, in)
	want := []byte{0x0A, 0x03, 0x61, 0x62, 0x63, 0x12, 0x0A, 0x74, 0x65, 0x6E, 0x61, 0x6E, 0x74, 0x2D, 0x65, 0x32, 0x65}
	if m.Subject != "in.t.tenant-e2e.raw" || !bytes.Equal(m.Data, want) || m.Header.Get("Arqon-Trace-Id") != "abc" || m.Header.Get("Arqon-Frame") != "binary" {
		t.Errorf("published %s %x %v", m.Subject, m.Data, m.Header)
	}
	if id := m.Header.Get("Nats-Msg-Id"); !strings.HasPrefix(id, "arq_") || len(id) != 30 {
		t.Errorf("Nats-Msg-Id %q", id)
	}
	ws.WriteMessage(websocket.BinaryMessage, []byte{0xFF, 0xFF, 0xFF})
	f := readJSON(t, ws)
	if f["error_code"] != "SCHEMA_VIOLATION" {
		t.Errorf("FF FF FF: %v", f)
	}
	// A frame carrying another tenant is refused.
	ws.WriteMessage(websocket.BinaryMessage, StampTenant(nil, "tenant-b"))
	if f := readJSON(t, ws); f["error_code"] != "TENANT_MISMATCH" {
		t.Errorf("binary mismatch: %v", f)
	}
	noMessage(t, in, 50*time.Millisecond)
	h.stop()

	h = startShield(t, ns, func(o *Options) { o.SchemaStrict = false })
	in = h.subscribe("in.t.>")
	ws = h.dial(h.token(tenantToken("tenant-e2e")))
	ws.WriteMessage(websocket.BinaryMessage, []byte{0xFF, 0xFF, 0xFF})
	typ, b = readFrame(t, ws)
	if typ != websocket.BinaryMessage || !bytes.Equal(b, []byte{0xFF, 0xFF, 0xFF}) {
		t.Errorf("non-strict echo %x", b)
	}
	m = recvMsg(t, in)
	if !bytes.Equal(m.Data, []byte{0xFF, 0xFF, 0xFF}) || m.Header.Get("Arqon-Schema-Violation") == "" || m.Header.Get("Arqon-Tenant") != "tenant-e2e" {
		t.Errorf("non-strict publish %x %v", m.Data, m.Header)
	}
}

// Vector 10 through the gateway.
func TestIntegrationPolicyOutcomes(t *testing.T) {
	ns := startNATS(t, false)
	h := startShield(t, ns, func(o *Options) { o.PolicyPath = "../../policies/block_empty.wasm" })
	in := h.subscribe("in.t.>")
	ws := h.dial(h.token(nil))
	ws.WriteMessage(websocket.BinaryMessage, nil)
	f := readJSON(t, ws)
	if f["error_code"] != "POLICY_DENIED" || f["payload"].(map[string]any)["policy_code"] != float64(1) {
		t.Errorf("empty: %v", f)
	}
	ws.WriteMessage(websocket.BinaryMessage, []byte{0x0A, 0x01, 0x78})
	if typ, b := readFrame(t, ws); typ != websocket.BinaryMessage || !bytes.Equal(b, []byte{0x0A, 0x01, 0x78}) {
		t.Errorf("allowed echo %x", b)
	}
	recvMsg(t, in)
	big := bigEventEnvelope(69990)
	ws.WriteMessage(websocket.BinaryMessage, big)
	f = readJSON(t, ws)
	errs := f["payload"].(map[string]any)["errors"].([]any)
	if f["error_code"] != "POLICY_ERROR" || len(errs) != 1 || errs[0] != "payload exceeds policy memory" {
		t.Errorf("big: %v", f)
	}
	noMessage(t, in, 50*time.Millisecond)
	for res, want := range map[string]float64{"policy_denied": 1, "policy_error": 1, "accepted": 1} {
		if got := metricValue(t, h, "messages", res); got != want {
			t.Errorf("messages{%s} = %v", res, got)
		}
	}
	body := scrape(t, h)
	if !strings.Contains(body, "shield_policy_duration_seconds_count 3") {
		t.Error("policy duration not observed")
	}
}

// bigEventEnvelope is a valid Envelope whose event.data is n zero bytes.
func bigEventEnvelope(n int) []byte {
	var ev []byte
	ev = append(ev, 0x12)
	ev = appendVarint(ev, uint64(n))
	ev = append(ev, make([]byte, n)...)
	out := []byte{0xAA, 0x01} // field 21, length-delimited
	out = appendVarint(out, uint64(len(ev)))
	return append(out, ev...)
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func scrape(t *testing.T, h *harness) string {
	t.Helper()
	resp, body := httpGet(t, h.opsURL("/metrics"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics %d", resp.StatusCode)
	}
	return body
}

// Vector 11.
func TestIntegrationLimits(t *testing.T) {
	ns := startNATS(t, false)
	h := startShield(t, ns, func(o *Options) {
		o.MaxMessageSize = 1024
		o.RateLimitPerSecond, o.RateLimitBurst, o.RateLimitMaxViolations = 1, 1, 3
	})
	ws := h.dial(h.token(nil))
	ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), 2000))
	if code, text := expectClose(t, ws); code != 1009 || text != "message too big" {
		t.Errorf("close %d %q", code, text)
	}
	ws = h.dial(h.token(nil))
	for i := 0; i < 5; i++ {
		ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"message"}`))
	}
	if f := readJSON(t, ws); f["type"] != "ack" {
		t.Errorf("first: %v", f)
	}
	for i := 0; i < 2; i++ {
		f := readJSON(t, ws)
		p := f["payload"].(map[string]any)
		if f["error_code"] != "RATE_LIMITED" || p["retry_after_ms"] == nil || f["request_id"] != nil {
			t.Errorf("rate %d: %v", i, f)
		}
	}
	if code, text := expectClose(t, ws); code != 4429 || text != "rate limited" {
		t.Errorf("close %d %q", code, text)
	}
	ws = h.dial(h.token(nil))
	ws.WriteMessage(websocket.TextMessage, []byte{'"', 0xff, '"'})
	if code, text := expectClose(t, ws); code != 1007 || text != "invalid UTF-8" {
		t.Errorf("close %d %q", code, text)
	}
	want := map[string]float64{"1009": 1, "4429": 1, "1007": 1}
	eventually(5*time.Second, func() bool {
		for code, n := range want {
			if metricValue(t, h, "closes", code) != n {
				return false
			}
		}
		return true
	})
	for code, want := range want {
		if got := metricValue(t, h, "closes", code); got != want {
			t.Errorf("closes{%s} = %v", code, got)
		}
	}
	for res, want := range map[string]float64{"too_large": 1, "rate_limited": 3, "invalid_utf8": 1} {
		if got := metricValue(t, h, "messages", res); got != want {
			t.Errorf("messages{%s} = %v", res, got)
		}
	}
}

func TestIntegrationConnectionLimit(t *testing.T) {
	ns := startNATS(t, false)
	h := startShield(t, ns, func(o *Options) { o.MaxConnections = 1 })
	h.dial(h.token(nil))
	_, resp, err := h.dialRaw(h.token(nil), "", nil)
	if err == nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("second connection: %v %v", err, resp)
	}
	if metricValue(t, h, "rejections", "capacity") != 1 {
		t.Error("capacity rejection not counted")
	}
}

// Vector 12.
func TestIntegrationNATSDownAtRuntime(t *testing.T) {
	ns := startNATS(t, false)
	h := startShield(t, ns, nil)
	ws := h.dial(h.token(nil))
	resp, body := httpGet(t, h.opsURL("/readyz"), nil)
	if resp.StatusCode != 200 || body != `{"status":"ready","checks":{"nats":"ok","jetstream":"disabled","policy":"disabled","shutdown":"no"}}` {
		t.Errorf("readyz %d %s", resp.StatusCode, body)
	}
	ns.Shutdown()
	deadline := time.Now().Add(2 * time.Second)
	for {
		resp, body = httpGet(t, h.opsURL("/readyz"), nil)
		if resp.StatusCode == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d after 2s", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(body, `"status":"not_ready"`) || !strings.Contains(body, `"nats":"disconnected"`) {
		t.Errorf("readyz body %s", body)
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"message","id":"arq_x"}`))
	f := readJSON(t, ws)
	errs := f["payload"].(map[string]any)["errors"].([]any)
	if f["error_code"] != "PUBLISH_FAILED" || len(errs) != 1 || errs[0] != "nats disconnected" || f["request_id"] != "arq_x" {
		t.Errorf("got %v", f)
	}
	_, resp2, err := h.dialRaw(h.token(nil), "", nil)
	if err == nil || resp2.StatusCode != 503 {
		t.Fatalf("upgrade while down: %v", err)
	}
	if resp, body := httpGet(t, h.opsURL("/healthz"), nil); resp.StatusCode != 200 || body != `{"status":"ok"}` {
		t.Errorf("healthz %d %s", resp.StatusCode, body)
	}
	if resp, body := httpGet(t, h.opsURL("/other"), nil); resp.StatusCode != 404 || body != `{"error":"Not Found"}` {
		t.Errorf("ops 404 %d %s", resp.StatusCode, body)
	}
	if metricValue(t, h, "messages", "publish_failed") != 1 || metricValue(t, h, "rejections", "upstream") != 1 {
		t.Error("metrics not recorded")
	}
	if !strings.Contains(scrape(t, h), "shield_nats_connected 0") {
		t.Error("shield_nats_connected not 0")
	}
	h.nc.Close()
}

// Vector 13: tenant isolation on the return path, and on publish subjects.
func TestIntegrationReturnPathIsolation(t *testing.T) {
	ns := startNATS(t, false)
	h := startShield(t, ns, nil)
	inA := h.subscribe("in.t.tenant-a.>")
	inB := h.subscribe("in.t.tenant-b.>")

	dialID := func(tenant string) (*websocket.Conn, string) {
		ws, resp, err := h.dialRaw(h.token(tenantToken(tenant)), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return ws, resp.Header.Get("Arqon-Conn-Id")
	}
	a, aID := dialID("tenant-a")
	b, _ := dialID("tenant-a")
	c, _ := dialID("tenant-b")

	h.nc.Publish("out.t.tenant-a.news", []byte(`{"hello":1}`))
	for _, ws := range []*websocket.Conn{a, b} {
		typ, got := readFrame(t, ws)
		if typ != websocket.TextMessage || string(got) != `{"hello":1}` {
			t.Errorf("broadcast %d %s", typ, got)
		}
	}
	h.nc.Publish("out.t.tenant-a.c."+aID, []byte{0xff, 0x00})
	if typ, got := readFrame(t, a); typ != websocket.BinaryMessage || !bytes.Equal(got, []byte{0xff, 0x00}) {
		t.Errorf("targeted %d %x", typ, got)
	}
	msg := nats.NewMsg("out.t.tenant-a.c." + aID + ".x")
	msg.Header["Arqon-Frame"] = []string{"binary"}
	msg.Data = []byte("hi")
	h.nc.PublishMsg(msg)
	if typ, got := readFrame(t, a); typ != websocket.BinaryMessage || string(got) != "hi" {
		t.Errorf("marked binary %d %q", typ, got)
	}
	h.nc.Publish("out.t.tenant-a.c.arq_conn_nobody", []byte("x"))
	h.nc.Flush()
	// B and C get nothing more; C never saw tenant-a traffic.
	for name, ws := range map[string]*websocket.Conn{"B": b, "C": c} {
		_ = ws.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
		if _, got, err := ws.ReadMessage(); err == nil {
			t.Errorf("%s received %q", name, got)
		}
	}
	// The NATS callbacks run asynchronously: wait for the counts to settle.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if metricValue(t, h, "outbound", "delivered") == 4 && metricValue(t, h, "outbound", "no_target") == 1 {
			break
		}
	}
	if got := metricValue(t, h, "outbound", "delivered"); got != 4 {
		t.Errorf("delivered = %v", got)
	}
	if got := metricValue(t, h, "outbound", "no_target"); got != 1 {
		t.Errorf("no_target = %v", got)
	}

	// Publish side: C's frame can only reach in.t.tenant-b.raw, even when
	// the frame claims tenant-a.
	c2, _ := dialID("tenant-b")
	c2.WriteMessage(websocket.TextMessage, []byte(`{"type":"message"}`))
	readJSON(t, c2)
	if m := recvMsg(t, inB); m.Subject != "in.t.tenant-b.raw" || m.Header.Get("Arqon-Tenant") != "tenant-b" {
		t.Errorf("tenant-b publish %s", m.Subject)
	}
	c2.WriteMessage(websocket.TextMessage, []byte(`{"type":"message","metadata":{"tenant_id":"tenant-a"}}`))
	if f := readJSON(t, c2); f["error_code"] != "TENANT_MISMATCH" {
		t.Errorf("got %v", f)
	}
	noMessage(t, inA, 50*time.Millisecond)
}

// Vector 14.
func TestIntegrationMirroring(t *testing.T) {
	ns := startNATS(t, false)
	rules, errs := config.ParseMirrorRules("in.t.>=100")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	h := startShield(t, ns, func(o *Options) { o.MirrorRules = rules })
	in := h.subscribe("in.t.>")
	shadow := h.subscribe("shadow.>")
	ws := h.dial(h.token(nil))
	for i := 0; i < 3; i++ {
		ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"message"}`))
		readJSON(t, ws)
		p := recvMsg(t, in)
		s := recvMsg(t, shadow)
		if s.Subject != "shadow.in.t.tenant-a.raw" || !bytes.Equal(s.Data, p.Data) || s.Header["x-arqon-shadow"][0] != "true" || s.Header.Get("Nats-Msg-Id") != p.Header.Get("Nats-Msg-Id") {
			t.Errorf("shadow %s %v", s.Subject, s.Header)
		}
	}
	if got := metricValue(t, h, "mirror", "published"); got != 3 {
		t.Errorf("mirror published = %v", got)
	}
	h.stop()

	// Default rule (0 %): nothing mirrored.
	h = startShield(t, ns, nil)
	shadow = h.subscribe("shadow.>")
	ws = h.dial(h.token(nil))
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"message"}`))
	readJSON(t, ws)
	noMessage(t, shadow, 50*time.Millisecond)
}

// Vector 15.
func TestIntegrationTokenExpiryClosesSession(t *testing.T) {
	ns := startNATS(t, false)
	h := startShield(t, ns, func(o *Options) { o.JWTLeeway = 0 })
	now := time.Now()
	exp := now.Truncate(time.Second).Add(time.Second).Unix() + 2
	ws := h.dial(h.token(func(c map[string]any) { c["exp"] = exp }))
	start := time.Now()
	code, text := expectClose(t, ws)
	el := time.Since(start)
	// Never before exp; the upper bound only guards against a missing close.
	if code != 4401 || text != "token expired" || el < time.Second || el > 15*time.Second {
		t.Errorf("close %d %q after %v", code, text, el)
	}
}

func TestIntegrationWelcomeAndShutdown(t *testing.T) {
	ns := startNATS(t, false)
	h := startShield(t, ns, func(o *Options) { o.Welcome = true })
	ws, resp, err := h.dialRaw(h.token(nil), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Header.Get("Arqon-Conn-Id")
	w := readJSON(t, ws)
	if w["type"] != "welcome" || w["conn_id"] != id || w["tenant_id"] != "tenant-a" || w["subject"] != "in.t.tenant-a.raw" || w["reply_subject"] != "out.t.tenant-a.c."+id || w["protocol"] != "1.0" {
		t.Errorf("welcome %v", w)
	}
	if metricValue(t, h, "connections", "") != 1 || metricValue(t, h, "active", "") != 1 {
		t.Error("connection metrics")
	}
	h.cancel()
	code, text := expectClose(t, ws)
	if code != 1001 || text != "server shutting down" {
		t.Errorf("close %d %q", code, text)
	}
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	h.cancel = nil
	h.nc.Close()
	if !strings.Contains(h.logs.String(), "shutdown complete") {
		t.Error("no shutdown complete log")
	}
	if metricValue(t, h, "closes", "1001") != 1 || metricValue(t, h, "active", "") != 0 {
		t.Error("close metrics")
	}
}

func TestIntegrationJetStreamAck(t *testing.T) {
	ns := startNATS(t, true)
	o := testOptions(ns)
	o.JetStream = true
	if _, err := New(o, nil); err == nil || err.Error() != "JetStream publishing is enabled but no stream captures subject in.t.probe.raw" {
		t.Fatalf("no stream: %v", err)
	}
	nc, _ := nats.Connect(ns.ClientURL())
	defer nc.Close()
	js, _ := nc.JetStream()
	if _, err := js.AddStream(&nats.StreamConfig{Name: "INBOUND", Subjects: []string{"in.t.>"}}); err != nil {
		t.Fatal(err)
	}
	h := startShield(t, ns, func(o *Options) { o.JetStream = true })
	ws := h.dial(h.token(nil))
	for i, want := range []string{
		`{"type":"ack","id":"arq_js1","subject":"in.t.tenant-a.raw","stream":"INBOUND","seq":1}`,
		`{"type":"ack","id":"arq_js1","subject":"in.t.tenant-a.raw","stream":"INBOUND","seq":1,"duplicate":true}`,
	} {
		ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"message","id":"arq_js1"}`))
		if _, b := readFrame(t, ws); string(b) != want {
			t.Errorf("ack %d = %s", i, b)
		}
	}
	resp, body := httpGet(t, h.opsURL("/readyz"), nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"jetstream":"ok"`) {
		t.Errorf("readyz %s", body)
	}
}

func TestIntegrationStartupFailures(t *testing.T) {
	ns := startNATS(t, false)
	dir := t.TempDir()
	cases := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"missing secret", func(o *Options) { o.JWTSecret = "  " }, "Invalid configuration: JWT_SECRET must be configured for Shield startup"},
		{"default secret", func(o *Options) { o.JWTSecret = "Arqon-Dev-Secret " }, "Invalid configuration: JWT_SECRET is a known default value; configure a unique secret"},
		{"production", func(o *Options) {
			o.Profile, o.JWTSecret, o.SkipValidationSet = ProfileProduction, "abcdefghijklmnopqrst", true
		}, "Invalid configuration: JWT_SECRET must be at least 32 bytes in staging/production (got 20); JWT_SKIP_VALIDATION is not allowed in staging/production"},
		{"repeated", func(o *Options) { o.Profile, o.JWTSecret = ProfileStaging, strings.Repeat("a", 40) }, "Invalid configuration: JWT_SECRET must not be a single repeated character in staging/production"},
		{"ports", func(o *Options) { o.Port, o.MetricsPort = 4555, 4555 }, "Invalid configuration: ARQON_SHIELD_METRICS_PORT conflicts with ARQON_SHIELD_PORT (both 4555)"},
		{"nats", func(o *Options) { o.NATSURL = "nats://user:pw@127.0.0.1:1" }, "NATS unreachable at nats://user:***@127.0.0.1:1: "},
		{"schema dir", func(o *Options) { o.SchemaDir = dir + "/missing" }, `ARQON_SCHEMA_DIR: "` + dir + `/missing" is not a readable directory`},
		{"policy", func(o *Options) { o.PolicyPath = dir + "/none.wasm" }, `POLICY_WASM_PATH: cannot read "` + dir + `/none.wasm": no such file or directory`},
	}
	for _, c := range cases {
		o := testOptions(ns)
		c.mod(&o)
		g, err := New(o, nil)
		if err == nil {
			g.Close()
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s:\n got %s\nwant %s", c.name, err, c.want)
		}
	}
}

func TestIntegrationSkipValidationDevelopment(t *testing.T) {
	ns := startNATS(t, false)
	h := startShield(t, ns, func(o *Options) { o.SkipValidation, o.SkipValidationSet = true, true })
	if !strings.Contains(h.logs.String(), "JWT signature verification is DISABLED (JWT_SKIP_VALIDATION); development only") {
		t.Error("no startup WARN")
	}
	// Any signature passes, claims still apply.
	h.dial(signToken(t, randomSecret(), nil))
	if _, resp, err := h.dialRaw(signToken(t, randomSecret(), tenantToken("a.b")), "", nil); err == nil || resp.StatusCode != 401 {
		t.Error("skip mode accepted a bad tenant")
	}
	if !h.waitLog("connection accepted without JWT signature verification") {
		t.Error("no per-connection WARN")
	}
}
