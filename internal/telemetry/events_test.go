package telemetry

import (
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

var (
	eventIDPattern = regexp.MustCompile(`^evt_[0-9A-HJKMNP-TV-Z]{26}$`)
	timePattern    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
)

func TestWelcomePingAndServerConfig(t *testing.T) {
	st := newStack(t, stackConfig{tel: func(o *Options) { o.Host, o.Port = "127.0.0.1", 18081 }})
	c, _, err := websocket.DefaultDialer.Dial(st.telURL+"/any/path?x=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := readJSON(t, c)
	want := map[string]any{"event_type": "telemetry_connected", "message": "Connected to ArqonBus telemetry",
		"server_config": map[string]any{"host": "127.0.0.1", "port": float64(18081)}}
	ts, _ := w["timestamp"].(string)
	delete(w, "timestamp")
	if !reflect.DeepEqual(w, want) || !timePattern.MatchString(ts) {
		t.Fatalf("welcome = %v (timestamp %q), want %v", w, ts, want)
	}
	send(t, c, `{"type":"ping"}`)
	pong := readJSON(t, c)
	if pong["type"] != "pong" || !timePattern.MatchString(pong["timestamp"].(string)) || len(pong) != 2 {
		t.Fatalf("pong = %v", pong)
	}
	if n := st.tel.Connections(); n != 1 {
		t.Fatalf("Connections() = %d, want 1", n)
	}
}

// TestValidEventIsEnrichedAckedAndFannedOut: the sender gets the ack, every
// other telemetry client and a bus subscriber of
// integriguard:telemetry-stream get the enriched event, the sender does not.
func TestValidEventIsEnrichedAckedAndFannedOut(t *testing.T) {
	st := newStack(t, stackConfig{})
	sub := st.dialBusQuietly(t, "?room=integriguard&channel=telemetry-stream") // before the telemetry clients: no client_connected for them
	defer sub.Close()
	sender, b, c := st.dial(t), st.dial(t), st.dial(t)
	defer sender.Close()
	defer b.Close()
	defer c.Close()

	send(t, sender, `{"eventType":"agent.step:done","timestamp":"2026-03-01T13:00:00.5+01:00","client_id":"arq_agent",`+
		`"metadata":{"k":1},"payload":[1,{"a":"<b>"}],"event_id":"forged","source":"forged","received_at":"forged","extra":true}`)
	ack := readJSON(t, sender)
	id, _ := ack["event_id"].(string)
	if ack["type"] != "ack" || !eventIDPattern.MatchString(id) || len(ack) != 2 {
		t.Fatalf("ack = %v", ack)
	}
	var first map[string]any
	for i, conn := range []*websocket.Conn{b, c} {
		ev := readJSON(t, conn)
		if _, ok := ev["eventType"]; ok {
			t.Errorf("client %d: eventType was not renamed: %v", i, ev)
		}
		ra, _ := ev["received_at"].(string)
		if ev["event_type"] != "agent.step:done" || ev["event_id"] != id || ev["source"] != "telemetry" ||
			ev["timestamp"] != "2026-03-01T12:00:00.500Z" || !timePattern.MatchString(ra) ||
			ev["client_id"] != "arq_agent" || ev["extra"] != true ||
			!reflect.DeepEqual(ev["payload"], []any{float64(1), map[string]any{"a": "<b>"}}) ||
			!reflect.DeepEqual(ev["metadata"], map[string]any{"k": float64(1)}) {
			t.Fatalf("client %d got %v", i, ev)
		}
		first = ev
	}
	env := readJSON(t, sub)
	meta, _ := env["metadata"].(map[string]any)
	if env["type"] != "telemetry" || env["sender"] != "telemetry" || env["room"] != "integriguard" ||
		env["channel"] != "telemetry-stream" || !reflect.DeepEqual(env["payload"], first) || meta["offset"] == nil {
		t.Fatalf("bus subscriber got %v, want the enriched event %v", env, first)
	}
	// The sender receives nothing but its ack.
	syncPoint(t, sender)

	// A binary frame holding UTF-8 JSON is an ordinary event.
	if err := sender.WriteMessage(websocket.BinaryMessage, []byte(`{"event_type":"bin"}`)); err != nil {
		t.Fatal(err)
	}
	if f := readJSON(t, sender); f["type"] != "ack" {
		t.Fatalf("binary event: %v", f)
	}
	if f := readJSON(t, b); f["event_type"] != "bin" || !timePattern.MatchString(f["timestamp"].(string)) {
		t.Fatalf("binary event fan-out: %v", f)
	}
	if got := value(st.metrics.TelemetryEvents.WithLabelValues("accepted")); got != 2 {
		t.Errorf("accepted = %v, want 2", got)
	}
}

func TestInvalidFramesGetErrorReplies(t *testing.T) {
	st := newStack(t, stackConfig{})
	c, other := st.dial(t), st.dial(t)
	defer c.Close()
	defer other.Close()
	long := strings.Repeat("a", 129)
	cases := []struct {
		name, frame string
		binary      bool
		code        string
		errs        []string
	}{
		{"not JSON", `hello`, false, "INVALID_JSON", nil},
		{"array", `[1,2]`, false, "INVALID_JSON", []string{"Frame must be a JSON object"}},
		{"string", `"x"`, false, "INVALID_JSON", []string{"Frame must be a JSON object"}},
		{"null", `null`, false, "INVALID_JSON", []string{"Frame must be a JSON object"}},
		{"trailing data", `{"event_type":"a"} {}`, false, "INVALID_JSON", nil},
		{"binary not UTF-8", "{\"event_type\":\"\xff\"}", true, "INVALID_JSON", []string{"Frame is not valid UTF-8"}},
		{"empty object", `{}`, false, "VALIDATION_ERROR", []string{"Missing required field: event_type"}},
		{"unknown type is an event", `{"type":"pong"}`, false, "VALIDATION_ERROR", []string{"Missing required field: event_type"}},
		{"empty type", `{"event_type":""}`, false, "VALIDATION_ERROR", []string{"Event type must match ^[A-Za-z0-9_.:-]{1,128}$"}},
		{"space in type", `{"eventType":"a b"}`, false, "VALIDATION_ERROR", []string{"Event type must match ^[A-Za-z0-9_.:-]{1,128}$"}},
		{"type too long", `{"event_type":"` + long + `"}`, false, "VALIDATION_ERROR", []string{"Event type must match ^[A-Za-z0-9_.:-]{1,128}$"}},
		{"type not a string", `{"event_type":5}`, false, "VALIDATION_ERROR", []string{"Event type must match ^[A-Za-z0-9_.:-]{1,128}$"}},
		{"keys disagree", `{"event_type":"a","eventType":"b"}`, false, "VALIDATION_ERROR", []string{"event_type and eventType disagree"}},
		{"bad timestamp", `{"event_type":"a","timestamp":"yesterday"}`, false, "VALIDATION_ERROR", []string{"Timestamp must be an RFC 3339 string"}},
		{"timestamp without offset", `{"event_type":"a","timestamp":"2026-03-01T12:00:00"}`, false, "VALIDATION_ERROR", []string{"Timestamp must be an RFC 3339 string"}},
		{"timestamp number", `{"event_type":"a","timestamp":1700000000}`, false, "VALIDATION_ERROR", []string{"Timestamp must be an RFC 3339 string"}},
		{"client id", `{"event_type":"a","client_id":"client-1"}`, false, "VALIDATION_ERROR", []string{"Client ID must be a string starting with 'arq_'"}},
		{"metadata", `{"event_type":"a","metadata":[1]}`, false, "VALIDATION_ERROR", []string{"Metadata must be an object"}},
		{"every rule", `{"event_type":7,"eventType":"b","timestamp":null,"client_id":5,"metadata":"m"}`, false, "VALIDATION_ERROR", []string{
			"Event type must match ^[A-Za-z0-9_.:-]{1,128}$", "event_type and eventType disagree",
			"Timestamp must be an RFC 3339 string", "Client ID must be a string starting with 'arq_'", "Metadata must be an object"}},
		{"subscribe not a list", `{"type":"subscribe","events":"a"}`, false, "VALIDATION_ERROR", []string{"events must be a list of strings"}},
		{"subscribe non-strings", `{"type":"subscribe","events":["a",1]}`, false, "VALIDATION_ERROR", []string{"events must be a list of strings"}},
		{"subscribe missing", `{"type":"subscribe"}`, false, "VALIDATION_ERROR", []string{"events must be a list of strings"}},
	}
	rejected := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			typ := websocket.TextMessage
			if tc.binary {
				typ = websocket.BinaryMessage
			}
			if err := c.WriteMessage(typ, []byte(tc.frame)); err != nil {
				t.Fatal(err)
			}
			f := readJSON(t, c)
			p, _ := f["payload"].(map[string]any)
			errs, _ := p["errors"].([]any)
			wantMsg := map[string]string{"INVALID_JSON": "Invalid JSON", "VALIDATION_ERROR": "Invalid telemetry event"}[tc.code]
			if strings.HasPrefix(tc.name, "subscribe") {
				wantMsg = "Invalid subscribe request"
			} else {
				rejected++
			}
			if f["type"] != "error" || f["error_code"] != tc.code || f["error"] != wantMsg || len(f) != 4 || len(errs) == 0 {
				t.Fatalf("reply = %v, want %s %q", f, tc.code, wantMsg)
			}
			if tc.errs != nil {
				var got []string
				for _, e := range errs {
					got = append(got, e.(string))
				}
				if !reflect.DeepEqual(got, tc.errs) {
					t.Fatalf("errors = %q, want %q", got, tc.errs)
				}
			}
		})
	}
	// Nothing invalid reached the other client, and every event was counted.
	syncPoint(t, other)
	stats := st.tel.Stats().(Stats)
	if stats.EventsRejected != uint64(rejected) || stats.EventsReceived != uint64(rejected) {
		t.Errorf("stats = %+v, want %d received and rejected", stats, rejected)
	}
	if got := value(st.metrics.TelemetryEvents.WithLabelValues("rejected")); got != float64(rejected) {
		t.Errorf("rejected metric = %v, want %d", got, rejected)
	}
}

func TestSubscribeFiltersEvents(t *testing.T) {
	st := newStack(t, stackConfig{})
	sender, only, all := st.dial(t), st.dial(t), st.dial(t)
	defer sender.Close()
	defer only.Close()
	defer all.Close()
	send(t, only, `{"type":"subscribe","events":["wanted","also"]}`)
	if f := readRaw(t, only); f != `{"type":"subscribed","events":["wanted","also"]}` {
		t.Fatalf("subscribe reply = %s", f)
	}
	send(t, all, `{"type":"subscribe","events":[]}`)
	if f := readRaw(t, all); f != `{"type":"subscribed","events":[]}` {
		t.Fatalf("subscribe reply = %s", f)
	}
	for _, typ := range []string{"other", "wanted"} {
		send(t, sender, `{"event_type":"`+typ+`"}`)
		if f := readJSON(t, sender); f["type"] != "ack" {
			t.Fatalf("ack: %v", f)
		}
	}
	if f := readJSON(t, only); f["event_type"] != "wanted" {
		t.Fatalf("filtered client got %v, want only the wanted event", f)
	}
	for _, want := range []string{"other", "wanted"} {
		if f := readJSON(t, all); f["event_type"] != want {
			t.Fatalf("unfiltered client got %v, want %s", f, want)
		}
	}
	syncPoint(t, only)
}

// TestBusEventsReachTelemetryClients connects real bus clients: the
// telemetry clients see client_connected / client_disconnected with the
// shape of OPERATIONS.md §7.4, subject to their filters, with the tenant.
func TestBusEventsReachTelemetryClients(t *testing.T) {
	v := testVerifier(t)
	st := newStack(t, stackConfig{verifier: v, busAuthOn: true})
	hdr := http.Header{"Authorization": {"Bearer " + operatorToken(t, map[string]any{"sub": "ops", "role": "admin"})}}
	dialTel := func() *websocket.Conn {
		c, resp, err := websocket.DefaultDialer.Dial(st.telURL, hdr)
		if err != nil {
			t.Fatalf("dial: %v %v", err, resp)
		}
		readJSON(t, c)
		return c
	}
	all, disc := dialTel(), dialTel()
	defer all.Close()
	defer disc.Close()
	send(t, disc, `{"type":"subscribe","events":["client_disconnected"]}`)
	readJSON(t, disc)

	bc := st.dialBus(t, "?client_type=ai-agent&screen_name=bot", http.Header{"Authorization": {"Bearer " +
		operatorToken(t, map[string]any{"sub": "alice", "tenant_id": "tenant-a"})}})
	ev := readJSON(t, all)
	data, _ := ev["data"].(map[string]any)
	clientID, _ := data["client_id"].(string)
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if ev["event_type"] != "client_connected" || ev["source"] != "arqonbus" || ev["tenant"] != "tenant-a" ||
		!eventIDPattern.MatchString(ev["event_id"].(string)) || !timePattern.MatchString(ev["timestamp"].(string)) ||
		len(ev) != 6 || !reflect.DeepEqual(keys, []string{"client_id", "client_type", "screen_name", "subject"}) ||
		data["client_type"] != "ai-agent" || data["screen_name"] != "bot" || data["subject"] != "alice" {
		t.Fatalf("client_connected = %v", ev)
	}
	bc.Close()
	ev = readJSON(t, disc)
	if ev["event_type"] != "client_disconnected" || ev["tenant"] != "tenant-a" {
		t.Fatalf("filtered client got %v, want client_disconnected", ev)
	}
	if d, _ := ev["data"].(map[string]any); d["client_id"] != clientID {
		t.Fatalf("client_disconnected names %v, want %s", d["client_id"], clientID)
	}
	if f := readJSON(t, all); f["event_type"] != "client_disconnected" {
		t.Fatalf("unfiltered client got %v", f)
	}

	// The default tenant is null.
	bc2 := st.dialBus(t, "", http.Header{"Authorization": {"Bearer " + operatorToken(t, map[string]any{"sub": "bob"})}})
	defer bc2.Close()
	raw := readRaw(t, all)
	if !strings.Contains(raw, `"tenant":null`) || !strings.Contains(raw, `"event_type":"client_connected"`) {
		t.Fatalf("default-tenant event = %s", raw)
	}
	if s := st.tel.Stats().(Stats); s.EventsEmitted < 3 || s.EventsBroadcast < 4 {
		t.Fatalf("stats = %+v", s)
	}
}

// TestThousandEventsInARow: the predecessor deadlocked on its 10th event.
// One sender, two telemetry listeners and a bus subscriber; every event is
// acknowledged and delivered, in order, to everyone.
func TestThousandEventsInARow(t *testing.T) {
	st := newStack(t, stackConfig{})
	sub := st.dialBusQuietly(t, "?room=integriguard&channel=telemetry-stream")
	defer sub.Close()
	sender, l1, l2 := st.dial(t), st.dial(t), st.dial(t)
	defer sender.Close()
	defer l1.Close()
	defer l2.Close()
	const n = 1000
	for i := 0; i < n; i++ {
		send(t, sender, `{"event_type":"step","payload":{"seq":`+strconv.Itoa(i)+`}}`)
		if f := readJSON(t, sender); f["type"] != "ack" {
			t.Fatalf("event %d: %v, want ack", i, f)
		}
	}
	seqOf := func(m map[string]any) float64 {
		p, _ := m["payload"].(map[string]any)
		s, _ := p["seq"].(float64)
		return s
	}
	for i := 0; i < n; i++ {
		for j, l := range []*websocket.Conn{l1, l2} {
			if f := readJSON(t, l); f["event_type"] != "step" || seqOf(f) != float64(i) {
				t.Fatalf("listener %d frame %d = %v", j, i, f)
			}
		}
		env := readJSON(t, sub)
		p, _ := env["payload"].(map[string]any)
		if env["type"] != "telemetry" || seqOf(p) != float64(i) {
			t.Fatalf("bus subscriber frame %d = %v", i, env)
		}
	}
	if s := st.tel.Stats().(Stats); s.EventsReceived != n || s.EventsBroadcast != 2*n || s.EventsRejected != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

// TestEventsArePipelinedInOrder: a client that sends events without waiting
// gets one ack per event, each with its own id.
func TestEventsArePipelinedInOrder(t *testing.T) {
	st := newStack(t, stackConfig{})
	sender := st.dial(t)
	defer sender.Close()
	ids := map[string]bool{}
	for i := 0; i < 200; i++ {
		send(t, sender, `{"event_type":"p"}`)
	}
	for i := 0; i < 200; i++ {
		f := readJSON(t, sender)
		id, _ := f["event_id"].(string)
		if f["type"] != "ack" || ids[id] {
			t.Fatalf("reply %d = %v", i, f)
		}
		ids[id] = true
	}
}

func TestEventTimestampDefaultsToReceiveTime(t *testing.T) {
	st := newStack(t, stackConfig{})
	sender, l := st.dial(t), st.dial(t)
	defer sender.Close()
	defer l.Close()
	before := time.Now().UTC().Truncate(time.Millisecond)
	send(t, sender, `{"event_type":"t"}`)
	readJSON(t, sender)
	f := readJSON(t, l)
	ts, err := time.Parse(time.RFC3339Nano, f["timestamp"].(string))
	if err != nil || ts.Before(before) || ts.After(time.Now()) || f["timestamp"] != f["received_at"] {
		t.Fatalf("timestamp %v received_at %v (sent after %v)", f["timestamp"], f["received_at"], before)
	}
}

// jsonSeq extracts "seq":N from a frame without a full decode.
func jsonSeq(b []byte) int {
	i := strings.Index(string(b), `"seq":`)
	if i < 0 {
		return -1
	}
	j := i + len(`"seq":`)
	k := j
	for k < len(b) && b[k] >= '0' && b[k] <= '9' {
		k++
	}
	n, err := strconv.Atoi(string(b[j:k]))
	if err != nil {
		return -1
	}
	return n
}
