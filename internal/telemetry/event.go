package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Validation messages of OPERATIONS.md §7.2, in rule order.
const (
	errMissingType   = "Missing required field: event_type"
	errTypePattern   = "Event type must match ^[A-Za-z0-9_.:-]{1,128}$"
	errTypeDisagree  = "event_type and eventType disagree"
	errTimestamp     = "Timestamp must be an RFC 3339 string"
	errClientID      = "Client ID must be a string starting with 'arq_'"
	errMetadata      = "Metadata must be an object"
	errNotUTF8       = "Frame is not valid UTF-8"
	errNotObject     = "Frame must be a JSON object"
	errSubscribeList = "events must be a list of strings"
	maxEventTypeLen  = 128
)

// frameKind is the classification of an inbound object (OPERATIONS.md §7.2).
type frameKind int

const (
	kindInvalid   frameKind = iota // not a JSON object: INVALID_JSON
	kindPing                       // {"type":"ping"}
	kindSubscribe                  // {"type":"subscribe","events":[…]}
	kindEvent                      // anything else
)

// inbound is one parsed telemetry frame. For kindInvalid, errs holds the
// INVALID_JSON details; for kindSubscribe and kindEvent it holds the
// validation failures (empty when the frame is valid).
type inbound struct {
	kind   frameKind
	errs   []string
	events []string                   // kindSubscribe
	fields map[string]json.RawMessage // kindEvent
	typ    string                     // kindEvent: the event type, when valid
	ts     time.Time                  // kindEvent: the parsed timestamp, zero when absent
}

// parseFrame classifies and validates one inbound frame. It never fails: every
// problem is reported in the result so that the client gets an error reply.
func parseFrame(data []byte) inbound {
	if !utf8.Valid(data) {
		return inbound{kind: kindInvalid, errs: []string{errNotUTF8}}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return inbound{kind: kindInvalid, errs: []string{jsonErrorText(err)}}
	}
	if fields == nil { // "null"
		return inbound{kind: kindInvalid, errs: []string{errNotObject}}
	}
	if typ, ok := jsonString(fields["type"]); ok {
		switch typ {
		case "ping":
			return inbound{kind: kindPing}
		case "subscribe":
			events, ok := stringList(fields["events"])
			if !ok {
				return inbound{kind: kindSubscribe, errs: []string{errSubscribeList}}
			}
			return inbound{kind: kindSubscribe, events: events}
		}
	}
	return validateEvent(fields)
}

// jsonErrorText is the payload.errors entry for undecodable JSON.
func jsonErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error() + " at offset " + strconv.FormatInt(se.Offset, 10)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return errNotObject
	}
	return err.Error()
}

// validateEvent applies the rules of OPERATIONS.md §7.2 and reports every
// failing one.
func validateEvent(fields map[string]json.RawMessage) inbound {
	in := inbound{kind: kindEvent, fields: fields}
	snake, hasSnake := fields["event_type"]
	camel, hasCamel := fields["eventType"]
	switch {
	case !hasSnake && !hasCamel:
		in.errs = append(in.errs, errMissingType)
	default:
		sv, sok := validEventType(snake, hasSnake)
		cv, cok := validEventType(camel, hasCamel)
		if !sok || !cok {
			in.errs = append(in.errs, errTypePattern)
		}
		if hasSnake && hasCamel && !sameJSON(snake, camel) {
			in.errs = append(in.errs, errTypeDisagree)
		}
		if sok && cok {
			in.typ = sv
			if !hasSnake {
				in.typ = cv
			}
		}
	}
	if raw, ok := fields["timestamp"]; ok {
		s, isStr := jsonString(raw)
		t, valid := parseRFC3339(s)
		if !isStr || !valid {
			in.errs = append(in.errs, errTimestamp)
		} else {
			in.ts = t
		}
	}
	if raw, ok := fields["client_id"]; ok {
		if s, isStr := jsonString(raw); !isStr || len(s) < 4 || s[:4] != "arq_" {
			in.errs = append(in.errs, errClientID)
		}
	}
	if raw, ok := fields["metadata"]; ok && !isObject(raw) {
		in.errs = append(in.errs, errMetadata)
	}
	return in
}

// validEventType reports whether an absent key or a string matching
// ^[A-Za-z0-9_.:-]{1,128}$ is given, and returns the string.
func validEventType(raw json.RawMessage, present bool) (string, bool) {
	if !present {
		return "", true
	}
	s, ok := jsonString(raw)
	if !ok || len(s) == 0 || len(s) > maxEventTypeLen {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if !eventTypeByte[s[i]] {
			return "", false
		}
	}
	return s, true
}

var eventTypeByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	t['_'], t['.'], t[':'], t['-'] = true, true, true, true
	return t
}()

// sameJSON compares two JSON values: strings by their decoded value, other
// values by their compact form.
func sameJSON(a, b json.RawMessage) bool {
	as, aok := jsonString(a)
	bs, bok := jsonString(b)
	if aok || bok {
		return aok && bok && as == bs
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// jsonString decodes raw when it is a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// stringList decodes raw when it is a JSON array of strings.
func stringList(raw json.RawMessage) ([]string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := jsonString(it)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// parseRFC3339 accepts an RFC 3339 date-time (section 5.6): the offset is
// required, "T"/"Z" may be lower case, the fraction has 1–9 digits.
func parseRFC3339(s string) (time.Time, bool) {
	if len(s) < 20 {
		return time.Time{}, false
	}
	b := []byte(s)
	if b[10] == 't' {
		b[10] = 'T'
	}
	switch last := b[len(b)-1]; {
	case last == 'z':
		b[len(b)-1] = 'Z'
	case last == 'Z':
	case len(b) >= 25 && (b[len(b)-6] == '+' || b[len(b)-6] == '-') && b[len(b)-3] == ':':
	default:
		return time.Time{}, false
	}
	return protocol.ParseTimestamp(string(b))
}

// enrich rewrites a valid event (OPERATIONS.md §7.3): eventType becomes
// event_type, timestamp is normalised (or set to the receive time), and
// event_id, received_at and source are set. It returns the event id and the
// encoded object.
func enrich(in inbound, received time.Time) (id string, out []byte, err error) {
	ts := in.ts
	if ts.IsZero() {
		ts = received
	}
	id = newEventID()
	m := make(map[string]json.RawMessage, len(in.fields)+4)
	for k, v := range in.fields {
		if k == "eventType" {
			continue
		}
		m[k] = v
	}
	m["event_type"] = quote(in.typ)
	m["timestamp"] = quote(protocol.FormatTime(ts))
	m["event_id"] = quote(id)
	m["received_at"] = quote(protocol.FormatTime(received))
	m["source"] = json.RawMessage(`"telemetry"`)
	out, err = encodeJSON(m)
	return id, out, err
}

// newEventID returns "evt_" followed by a ULID.
func newEventID() string {
	return "evt_" + protocol.NewID()[len("arq_"):]
}

func quote(s string) json.RawMessage { return protocol.AppendString(nil, s) }

// encodeJSON encodes v compactly without HTML escaping (client values are
// passed through as sent).
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Reply frames (OPERATIONS.md §7.2, §7.3).

func errorFrame(msg, code string, errs []string) []byte {
	b := append(make([]byte, 0, 96), `{"type":"error","error":`...)
	b = protocol.AppendString(b, msg)
	b = append(b, `,"error_code":`...)
	b = protocol.AppendString(b, code)
	b = append(b, `,"payload":`...)
	b = append(b, protocol.ErrorsPayload(errs)...)
	return append(b, '}')
}

func pongFrame(now time.Time) []byte {
	b := append(make([]byte, 0, 64), `{"type":"pong","timestamp":`...)
	b = protocol.AppendString(b, protocol.FormatTime(now))
	return append(b, '}')
}

func ackFrame(id string) []byte {
	b := append(make([]byte, 0, 64), `{"type":"ack","event_id":`...)
	b = protocol.AppendString(b, id)
	return append(b, '}')
}

func subscribedFrame(events []string) []byte {
	b := append(make([]byte, 0, 64), `{"type":"subscribed","events":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendString(b, e)
	}
	return append(b, "]}"...)
}
