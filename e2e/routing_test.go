package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

func TestEnvelopeValidationCollectsAllErrors(t *testing.T) {
	t.Parallel()
	c := dial(t, defaultServer(t), dialOpts{})
	c.sendRaw(`{"zz":1,"aa":2,"id":"bad id","type":"","version":"2.0","timestamp":"yesterday","room":5,"sender":false,"args":[],"metadata":"x"}`)
	c.expectValidation("bad id",
		"Unknown field: aa", "Unknown field: zz",
		"Invalid message ID format: bad id",
		"Message type is required",
		"Unsupported protocol version: 2.0",
		"Invalid timestamp: yesterday",
		"Field 'room' must be a string", "Field 'sender' must be a string",
		"Field 'args' must be an object", "Field 'metadata' must be an object")
}

func TestEnvelopeValidationCases(t *testing.T) {
	t.Parallel()
	c := dial(t, defaultServer(t), dialOpts{})
	long := "arq_" + strings.Repeat("a", 125) // 129 characters
	cases := []struct {
		frame     string
		requestID string
		errs      []string
	}{
		{`[1,2]`, "-", []string{"Envelope must be a JSON object"}},
		{`"text"`, "-", []string{"Envelope must be a JSON object"}},
		{`{"payload":{}}`, "-", []string{"Message type is required"}},
		{`{"type":"error"}`, "-", []string{"Unsupported message type: error"}},
		{`{"type":"operator.join"}`, "-", []string{"Unsupported message type: operator.join"}},
		{`{"type":7}`, "-", []string{"Unsupported message type: 7"}},
		{`{"type":"ping","version":1.5}`, "-", []string{"Unsupported protocol version: 1.5"}},
		{`{"type":"ping","id":"ARQ_1"}`, "ARQ_1", []string{"Invalid message ID format: ARQ_1"}},
		{`{"type":"ping","id":"arq_"}`, "arq_", []string{"Invalid message ID format: arq_"}},
		{`{"type":"ping","id":"arq_a.b"}`, "arq_a.b", []string{"Invalid message ID format: arq_a.b"}},
		{`{"type":"ping","id":"arq_-5_+3_ABCDEF"}`, "arq_-5_+3_ABCDEF", []string{"Invalid message ID format: arq_-5_+3_ABCDEF"}},
		{`{"type":"ping","id":"` + long + `"}`, "-", []string{"Invalid message ID format: " + long}},
		{`{"type":"ping","id":12}`, "-", []string{"Invalid message ID format: 12"}},
		{`{"type":"ping","timestamp":"2026-03-01 12:00:00"}`, "-", []string{"Invalid timestamp: 2026-03-01 12:00:00"}},
		{`{"type":"ping","timestamp":12}`, "-", []string{"Invalid timestamp: 12"}},
		{`{"type":"command"}`, "-", []string{"Field 'command' is required for command messages"}},
		{`{"type":"private","payload":{}}`, "-", []string{"Field 'to_client' is required for private messages"}},
		{`{"type":"private","payload":null,"to_client":"arq_client_00000000000000000000000000000000"}`, "-", []string{"Field 'payload' is required for private messages"}},
		{`{"type":"event","room":"r","channel":"c","payload":null}`, "-", []string{"Field 'payload' is required for message messages"}},
		{`{"type":"response"}`, "-", []string{"Field 'request_id' is required for response messages", "Response messages must include status"}},
		{`{"type":"response","request_id":"x","status":"bogus"}`, "-", []string{"Invalid status: bogus"}},
		{`{"type":"telemetry","payload":[1]}`, "-", []string{"Field 'payload' must be an object for telemetry messages"}},
		{`{"type":"message","room":"a:b","channel":"c:d","payload":{}}`, "*", []string{"Conflicting room: 'a:b' vs 'c'"}},
		{`{"type":"message","room":"bad room","channel":"general","payload":{}}`, "*", []string{"Invalid room name: bad room"}},
		{`{"type":"message","room":"science","channel":"-x","payload":{}}`, "*", []string{"Invalid channel name: -x"}},
		{`{"type":"message","channel":"sci ence:general","payload":{}}`, "*", []string{"Invalid room name: sci ence"}},
	}
	for _, tc := range cases {
		c.sendRaw(tc.frame)
		f := c.next()
		errs, _ := f.get("payload.errors")
		if f.str("error_code") != "VALIDATION_ERROR" || f.str("error") != "Message validation failed" || !jsonEq(errs, tc.errs) {
			t.Errorf("%s:\n got  %v\n want VALIDATION_ERROR %q", tc.frame, f, tc.errs)
			continue
		}
		switch {
		case tc.requestID == "-":
			if _, ok := f["request_id"]; ok {
				t.Errorf("%s: request_id %v, want none", tc.frame, f["request_id"])
			}
		case tc.requestID == "*":
			// Target errors come after normalization: the effective id.
			if !reServerID.MatchString(f.str("request_id")) {
				t.Errorf("%s: request_id %v, want the assigned id", tc.frame, f["request_id"])
			}
		case f.str("request_id") != tc.requestID:
			t.Errorf("%s: request_id = %q, want %q", tc.frame, f.str("request_id"), tc.requestID)
		}
	}
	// A conflicting-room error after validation carries the effective id.
	c.sendRaw(`{"id":"arq_conf","type":"message","room":"x","channel":"y:z","payload":{}}`)
	c.expectValidation("arq_conf", "Conflicting room: 'x' vs 'y'")
}

func TestAcceptedEnvelopeForms(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	a := dial(t, s, dialOpts{})
	b := dial(t, s, dialOpts{})
	room := uniq("forms")
	b.join(room, "general")
	cases := []struct {
		name  string
		frame string
		check func(delivery, ack frame)
	}{
		{"upstream id and isoformat timestamp", `{"id":"arq_1795735985497689027_3_cd88aa","type":"message","room":"` + room + `","channel":"general","timestamp":"2026-03-01T12:00:00.123456+00:00","payload":{"a":1}}`,
			func(d, ack frame) {
				if d.str("id") != "arq_1795735985497689027_3_cd88aa" || d.str("timestamp") != "2026-03-01T12:00:00.123456+00:00" {
					t.Errorf("id/timestamp not forwarded unchanged: %v", d)
				}
			}},
		{"timestamp without offset", `{"type":"message","room":"` + room + `","channel":"general","timestamp":"2026-03-01T12:00:00","payload":{}}`,
			func(d, ack frame) {
				if d.str("timestamp") != "2026-03-01T12:00:00" {
					t.Errorf("timestamp = %q", d.str("timestamp"))
				}
				if !reServerID.MatchString(d.str("id")) || ack.str("id") != d.str("id") || ack.str("request_id") != d.str("id") {
					t.Errorf("assigned id: delivery %v ack %v", d["id"], ack)
				}
			}},
		{"event alias and from aliases", `{"type":"event","room":"` + room + `","channel":"general","from":"x","from_client":"y","sender":"z","version":"1.0","payload":{"e":1}}`,
			func(d, ack frame) {
				if d.str("type") != "message" || d.str("sender") != a.id() {
					t.Errorf("delivery = %v, want type message from %s", d, a.id())
				}
				for _, k := range []string{"from", "from_client"} {
					if _, ok := d[k]; ok {
						t.Errorf("delivery carries %q", k)
					}
				}
			}},
		{"compound room only", `{"type":"message","room":"` + room + `:general","payload":{}}`,
			func(d, ack frame) {
				if d.str("room") != room || d.str("channel") != "general" {
					t.Errorf("delivery target %q:%q", d.str("room"), d.str("channel"))
				}
			}},
		{"metadata, args and to_client forwarded; offset/epoch overwritten", `{"type":"message","room":"` + room + `","channel":"general","payload":{"p":[1,"2",null]},"args":{"k":"v"},"metadata":{"trace":"t1","offset":999,"epoch":"x"},"to_client":"someone","request_id":"rq","status":"whatever"}`,
			func(d, ack frame) {
				md, _ := d["metadata"].(map[string]any)
				if md["trace"] != "t1" || md["offset"] == float64(999) || md["epoch"] == "x" || !reEpoch.MatchString(asString(md["epoch"])) {
					t.Errorf("metadata = %v", md)
				}
				if !jsonEq(d["args"], map[string]any{"k": "v"}) || d.str("to_client") != "someone" || d.str("request_id") != "rq" || d.str("status") != "whatever" {
					t.Errorf("forwarded keys: %v", d)
				}
				if !jsonEq(d["payload"], map[string]any{"p": []any{1, "2", nil}}) || !jsonEq(ack["payload"], d["payload"]) {
					t.Errorf("payload: delivery %v ack %v", d["payload"], ack["payload"])
				}
				if !jsonEq(ack["metadata"], map[string]any{"offset": md["offset"], "epoch": md["epoch"]}) && !jsonEq(ack["metadata"], md) {
					t.Errorf("ack metadata = %v", ack["metadata"])
				}
			}},
	}
	var lastOffset float64
	for _, tc := range cases {
		a.sendRaw(tc.frame)
		d := b.next()
		ack := a.next()
		if d.str("type") != "message" || ack.str("type") != "message_response" {
			t.Errorf("%s: delivery %v, ack %v", tc.name, d, ack)
			continue
		}
		if ack.str("sender") != "arqonbus" || ack.str("id") != d.str("id") || ack.str("request_id") != d.str("id") {
			t.Errorf("%s: ack ids/sender: %v", tc.name, ack)
		}
		if off := d.num("metadata.offset"); off != lastOffset+1 {
			t.Errorf("%s: offset %v after %v", tc.name, off, lastOffset)
		} else {
			lastOffset = off
		}
		tc.check(d, ack)
	}

	// A binary frame is handled exactly like a text frame.
	a.writeMu.Lock()
	err := a.conn.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"ping","id":"arq_bin"}`))
	a.writeMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if p := a.next(); p.str("type") != "pong" || p.str("request_id") != "arq_bin" {
		t.Errorf("binary ping: got %v", p)
	}
	// Invalid UTF-8 is INVALID_JSON, not a close.
	a.writeMu.Lock()
	err = a.conn.WriteMessage(websocket.BinaryMessage, []byte("{\"type\":\"ping\",\"payload\":{\"x\":\"\xff\xfe\"}}"))
	a.writeMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if f := a.next(); f.str("error_code") != "INVALID_JSON" || !strings.HasPrefix(f.str("error"), "Invalid JSON: ") {
		t.Errorf("invalid UTF-8: got %v", f)
	}
	a.send(map[string]any{"type": "ping", "id": "arq_still_open"})
	if p := a.next(); p.str("request_id") != "arq_still_open" {
		t.Errorf("after invalid UTF-8: %v", p)
	}
}

// TestRegressionMessageTargetErrors pins an upstream defect (PROTOCOL.md
// §13.3): a message with no room/channel was silently dropped, yet acked. It
// is answered with MISSING_TARGET and no ack.
func TestRegressionMessageTargetErrors(t *testing.T) {
	t.Parallel()
	c := dial(t, defaultServer(t), dialOpts{})
	for i, f := range []string{
		`{"id":"arq_mt0","type":"message","room":"science","payload":{}}`,
		`{"id":"arq_mt1","type":"message","channel":"general","payload":{}}`,
	} {
		c.sendRaw(f)
		c.expectError("MISSING_TARGET", "Message has no target: provide room and channel", fmt.Sprintf("arq_mt%d", i))
	}
	// MISSING_TARGET without a client id carries the assigned id.
	c.sendRaw(`{"type":"message","payload":{}}`)
	f := c.next()
	if f.str("error_code") != "MISSING_TARGET" || !reServerID.MatchString(f.str("request_id")) {
		t.Errorf("got %v, want MISSING_TARGET with the effective id", f)
	}
}

func TestAckWithZeroRecipients(t *testing.T) {
	t.Parallel()
	c := dial(t, defaultServer(t), dialOpts{})
	room := uniq("lonely")
	ack := c.publish(room, "c", map[string]any{"x": 1})
	if ack.num("metadata.offset") != 1 || !reEpoch.MatchString(ack.str("metadata.epoch")) || ack.str("room") != room || ack.str("channel") != "c" {
		t.Errorf("ack = %v", ack)
	}
	// The implicitly created channel exists now.
	info := c.mustOK("channel_info", map[string]any{"room": room, "channel": "c"})
	md := frame(mustObj(t, info, "payload.data.metadata"))
	if md["implicit"] != true || md["hardcoded"] != false || md.str("created_by") != c.id() {
		t.Errorf("implicit channel metadata = %v", md)
	}
}

func TestPrivateMessages(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	a := dial(t, s, dialOpts{})
	b := dial(t, s, dialOpts{})
	room := uniq("priv")
	b.join(room, "c")
	a.send(map[string]any{"id": "arq_pv1", "type": "private", "to_client": b.id(), "payload": map[string]any{"text": "psst"}, "room": room, "channel": "c"})
	got := b.next()
	want := map[string]any{"type": "private", "id": "arq_pv1", "sender": a.id(), "to_client": b.id(), "payload": map[string]any{"text": "psst"},
		"metadata": map[string]any{}, "args": map[string]any{}, "room": room, "channel": "c"}
	for k, v := range want {
		if !jsonEq(got[k], v) {
			t.Errorf("private delivery %s = %v, want %v", k, got[k], v)
		}
	}
	ack := a.next()
	wantAck := map[string]any{"type": "message_response", "id": "arq_pv1", "request_id": "arq_pv1", "sender": "arqonbus",
		"to_client": b.id(), "payload": map[string]any{"text": "psst"}, "metadata": map[string]any{}}
	for k, v := range wantAck {
		if !jsonEq(ack[k], v) {
			t.Errorf("private ack %s = %v, want %v", k, ack[k], v)
		}
	}
	// payload.target form and self-addressing.
	a.send(map[string]any{"id": "arq_pv2", "type": "private", "payload": map[string]any{"target": a.id(), "n": 2}})
	self := a.next()
	if self.str("type") != "private" || self.str("to_client") != a.id() || self.str("sender") != a.id() {
		t.Errorf("self private = %v", self)
	}
	if ack := a.next(); ack.str("type") != "message_response" || ack.str("request_id") != "arq_pv2" {
		t.Errorf("self private ack = %v", ack)
	}
	// Private messages are never stored and route nothing.
	h := a.mustOK("history", map[string]any{"room": room, "channel": "c"})
	if n, _ := h.get("payload.data.count"); !jsonEq(n, 0) {
		t.Errorf("private message was stored: %v", h)
	}
	b.expectNone(quietWait)
}

func TestTelemetryFrames(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	a := dial(t, s, dialOpts{})
	b := dial(t, s, dialOpts{})
	b.join("integriguard", "telemetry-stream")
	a.sendRaw(`{"type":"telemetry","payload":{"eventType":"metric","payload":{"cpu":0.42}}}`)
	got := b.next()
	if got.str("type") != "telemetry" || got.str("room") != "integriguard" || got.str("channel") != "telemetry-stream" ||
		got.str("sender") != a.id() || got.num("metadata.offset") != 1 || !reEpoch.MatchString(got.str("metadata.epoch")) ||
		!jsonEq(got["payload"], map[string]any{"eventType": "metric", "payload": map[string]any{"cpu": 0.42}}) {
		t.Errorf("telemetry delivery = %v", got)
	}
	// No ack for telemetry, and no echo to the sender.
	a.expectNone(quietWait)
	// An explicit target.
	b.join("lab", "tele")
	a.sendRaw(`{"type":"telemetry","channel":"lab:tele","payload":{"event_type":"x"}}`)
	if got := b.next(); got.str("room") != "lab" || got.str("channel") != "tele" || got.str("type") != "telemetry" {
		t.Errorf("targeted telemetry = %v", got)
	}
	a.sendRaw(`{"id":"arq_tel_bad","type":"telemetry","room":"only","payload":{}}`)
	a.expectError("MISSING_TARGET", "Message has no target: provide room and channel", "arq_tel_bad")
	// Telemetry is stored.
	h := b.mustOK("history", map[string]any{"room": "integriguard", "channel": "telemetry-stream"})
	if n, _ := h.get("payload.data.count"); !jsonEq(n, 1) {
		t.Errorf("telemetry history = %v", h)
	}
}

func TestResponseAndPingFrames(t *testing.T) {
	t.Parallel()
	c := dial(t, defaultServer(t), dialOpts{})
	c.sendRaw(`{"type":"response","request_id":"x","status":"success","payload":{}}`)
	c.expectNone(quietWait)
	c.sendRaw(`{"type":"ping"}`)
	p := c.next()
	if p.str("type") != "pong" || !reServerID.MatchString(p.str("request_id")) || !jsonEq(p["payload"], map[string]any{}) {
		t.Errorf("pong = %v, want assigned request_id and payload {}", p)
	}
	// Commands via the legacy form, and top-level command wins.
	c.sendRaw(`{"id":"arq_leg","type":"command","payload":{"command":"ping","parameters":{}}}`)
	resp, _ := c.readPair("arq_leg", "ping")
	if resp.str("payload.message") != "Pong" {
		t.Errorf("legacy ping = %v", resp)
	}
	c.sendRaw(`{"id":"arq_both","type":"command","command":"ping","payload":{"command":"help"}}`)
	c.readPair("arq_both", "ping")
	// Upstream-only commands are unknown.
	for _, name := range []string{"truth.verify", "op.continuum.project", "op.omega.vm.start"} {
		c.expectCmdError(name, nil, "UNKNOWN_COMMAND", "Unknown command: "+name)
	}
}

func TestPerConnectionOrdering(t *testing.T) {
	t.Parallel()
	c := dial(t, defaultServer(t), dialOpts{})
	c.sendRaw(`{"type":"ping","id":"arq_o1"}`)
	c.sendRaw(`{"type":"bogus","id":"arq_o2"}`)
	c.sendRaw(`{"type":"command","id":"arq_o3","command":"ping"}`)
	c.sendRaw(`{"type":"ping","id":"arq_o4"}`)
	if f := c.next(); f.str("type") != "pong" || f.str("request_id") != "arq_o1" {
		t.Errorf("1: %v", f)
	}
	if f := c.next(); f.str("type") != "error" || f.str("request_id") != "arq_o2" {
		t.Errorf("2: %v", f)
	}
	c.readPair("arq_o3", "ping")
	if f := c.next(); f.str("type") != "pong" || f.str("request_id") != "arq_o4" {
		t.Errorf("4: %v", f)
	}
}

// TestStreamOrderAndJoinAtomicity: a join in the middle of a burst sees
// exactly the offsets after its reported offset, in order (§5.8 rules 3, 5),
// and command pairs stay contiguous while deliveries interleave (rule 2).
func TestStreamOrderAndJoinAtomicity(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	room := uniq("burst")
	sender := dial(t, s, dialOpts{})
	early := dial(t, s, dialOpts{})
	late := dial(t, s, dialOpts{})
	early.join(room, "c")
	const n = 120
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			if err := sender.trySendRaw(fmt.Sprintf(`{"type":"message","room":%q,"channel":"c","payload":{"i":%d}}`, room, i)); err != nil {
				return
			}
		}
	}()
	// The late joiner joins during the burst; deliveries may precede or
	// follow the pair but never split it.
	id := late.newID("join")
	late.send(map[string]any{"id": id, "type": "command", "command": "join_channel", "args": map[string]any{"room": room, "channel": "c"}})
	var top float64 = -1
	var lateOffsets []float64
	done := func() bool {
		if top < 0 {
			return false
		}
		return top == n || (len(lateOffsets) > 0 && lateOffsets[len(lateOffsets)-1] >= n)
	}
	for !done() {
		f := late.next()
		switch f.str("type") {
		case "response":
			ack := late.next()
			if ack.str("type") != "command_response" || ack.str("request_id") != id {
				t.Fatalf("frame after join response = %v", ack)
			}
			top = f.num("payload.data.offset")
		case "message":
			if top < 0 {
				t.Fatalf("delivery %v before the join result", f)
			}
			lateOffsets = append(lateOffsets, f.num("metadata.offset"))
		default:
			t.Fatalf("unexpected frame %v", f)
		}
	}
	wg.Wait()
	for i, off := range lateOffsets {
		if off != top+float64(i)+1 {
			t.Fatalf("late joiner offsets after T=%v: %v", top, lateOffsets)
		}
	}
	for i := 1; i <= n; i++ {
		f := early.next()
		if f.num("metadata.offset") != float64(i) || f.num("payload.i") != float64(i) {
			t.Fatalf("early subscriber frame %d = %v", i, f)
		}
	}
	for i := 1; i <= n; i++ {
		if ack := sender.next(); ack.str("type") != "message_response" || ack.num("metadata.offset") != float64(i) {
			t.Fatalf("sender ack %d = %v", i, ack)
		}
	}
}

func TestBatching(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	for _, o := range []dialOpts{
		{query: url.Values{"batch": {"1"}}},
		{query: url.Values{"batch": {"0"}}, subprotocols: []string{"arqonbus.v1.batch"}},
	} {
		c := dial(t, s, o)
		if !c.batch {
			t.Fatalf("%v: batching not negotiated", o)
		}
		c.sendRaw("{\"type\":\"ping\",\"id\":\"arq_l1\"}\n\n{\"type\":\"bogus\",\"id\":\"arq_l2\"}\n{\"type\":\"command\",\"id\":\"arq_l3\",\"command\":\"ping\"}\n")
		if f := c.next(); f.str("type") != "pong" || f.str("request_id") != "arq_l1" {
			t.Errorf("line 1: %v", f)
		}
		c.expectValidation("arq_l2", "Unsupported message type: bogus")
		c.readPair("arq_l3", "ping")
		// A frame that is one JSON value is not split.
		c.sendRaw("{\"type\":\"ping\",\n\"id\":\"arq_l4\"}")
		if f := c.next(); f.str("type") != "pong" || f.str("request_id") != "arq_l4" {
			t.Errorf("multi-line single value: %v", f)
		}
		// A bad line is INVALID_JSON; the next line still runs.
		c.sendRaw("{\"type\":\n{\"type\":\"ping\",\"id\":\"arq_l5\"}")
		if f := c.next(); f.str("error_code") != "INVALID_JSON" {
			t.Errorf("bad line: %v", f)
		}
		if f := c.next(); f.str("request_id") != "arq_l5" {
			t.Errorf("line after bad line: %v", f)
		}
	}
	// Without batching a JSON Lines frame is INVALID_JSON.
	c := dial(t, s, dialOpts{})
	c.sendRaw("{\"type\":\"ping\",\"id\":\"arq_nb1\"}\n{\"type\":\"ping\",\"id\":\"arq_nb2\"}")
	if f := c.next(); f.str("error_code") != "INVALID_JSON" {
		t.Errorf("JSON Lines without batching: %v", f)
	}
	c.expectNone(quietWait)

	// A batching subscriber receives every delivery, in order.
	room := uniq("batchsub")
	sub := dial(t, s, dialOpts{query: url.Values{"batch": {"1"}}})
	sub.join(room, "c")
	pub := dial(t, s, dialOpts{query: url.Values{"batch": {"true"}}})
	var lines []string
	for i := 1; i <= 50; i++ {
		lines = append(lines, fmt.Sprintf(`{"type":"message","room":%q,"channel":"c","payload":{"i":%d}}`, room, i))
	}
	pub.sendRaw(strings.Join(lines, "\n"))
	for i := 1; i <= 50; i++ {
		if f := sub.next(); f.num("payload.i") != float64(i) || f.num("metadata.offset") != float64(i) {
			t.Fatalf("batched delivery %d = %v", i, f)
		}
		if f := pub.next(); f.str("type") != "message_response" || f.num("metadata.offset") != float64(i) {
			t.Fatalf("batched ack %d = %v", i, f)
		}
	}
}
