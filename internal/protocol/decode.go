package protocol

import (
	"slices"
	"time"
	"unicode/utf8"
)

// FrameError is a frame-level failure of §4.5 steps 2–5.
type FrameError struct {
	Code      string   // CodeInvalidJSON or CodeValidation
	Message   string   // the `error` text: "Invalid JSON: <detail>", "Message validation failed"
	Errors    []string // payload.errors
	RequestID string   // §5.6 request_id rule for steps 2–5 ("" = omit)
}

func (e *FrameError) Error() string { return e.Message }

func invalidJSON(detail string) *FrameError {
	return &FrameError{Code: CodeInvalidJSON, Message: MsgInvalidJSON + detail, Errors: []string{detail}}
}

// Top-level envelope keys (§4.1), in the order their type errors are
// reported (§4.5 step 5.6) where that matters.
const (
	fID = iota
	fType
	fVersion
	fTimestamp
	fRoom
	fChannel
	fSender
	fFrom
	fFromClient
	fToClient
	fCommand
	fRequestID
	fStatus
	fError
	fErrorCode
	fArgs
	fMetadata
	fPayload
	numFields
)

var fieldNames = [numFields]string{
	fID: "id", fType: "type", fVersion: "version", fTimestamp: "timestamp",
	fRoom: "room", fChannel: "channel", fSender: "sender", fFrom: "from",
	fFromClient: "from_client", fToClient: "to_client", fCommand: "command",
	fRequestID: "request_id", fStatus: "status", fError: "error",
	fErrorCode: "error_code", fArgs: "args", fMetadata: "metadata", fPayload: "payload",
}

func fieldIndex(k []byte) int {
	switch string(k) {
	case "id":
		return fID
	case "type":
		return fType
	case "version":
		return fVersion
	case "timestamp":
		return fTimestamp
	case "room":
		return fRoom
	case "channel":
		return fChannel
	case "sender":
		return fSender
	case "from":
		return fFrom
	case "from_client":
		return fFromClient
	case "to_client":
		return fToClient
	case "command":
		return fCommand
	case "request_id":
		return fRequestID
	case "status":
		return fStatus
	case "error":
		return fError
	case "error_code":
		return fErrorCode
	case "args":
		return fArgs
	case "metadata":
		return fMetadata
	case "payload":
		return fPayload
	}
	return -1
}

func fieldIndexSpan(d []byte, k span) int {
	if !k.esc {
		return fieldIndex(d[k.start+1 : k.end-1])
	}
	var buf [64]byte
	return fieldIndex(AppendUnescaped(buf[:0], d[k.start+1:k.end-1]))
}

// inboundType maps an inbound type to its constant, "" when unsupported.
func inboundType(t []byte) string {
	switch string(t) {
	case TypeMessage:
		return TypeMessage
	case TypeEvent:
		return TypeEvent
	case TypePrivate:
		return TypePrivate
	case TypeCommand:
		return TypeCommand
	case TypeTelemetry:
		return TypeTelemetry
	case TypeResponse:
		return TypeResponse
	case TypePing:
		return TypePing
	}
	return ""
}

// Slots of the string arena built by Decode.
const (
	aID = iota
	aTimestamp
	aRoom
	aChannel
	aToClient
	aCommand
	aRequestID
	aStatus
	aError
	aErrorCode
	aTarget
	numArena
)

// arenaAdd appends v to the string arena ab and returns where it landed.
// Decode builds every string of an envelope in one arena so that a single
// string conversion (one allocation) backs all of them.
func arenaAdd(ab, v []byte) ([]byte, [2]int) {
	start := len(ab)
	ab = append(ab, v...)
	return ab, [2]int{start, len(ab)}
}

// Decode runs §4.5 steps 2–6 on one frame (one JSON value): decode (valid
// UTF-8 JSON, else INVALID_JSON), object check, legacy command mapping,
// validation collecting every error in the order of §4.5 step 5, then
// normalization: assign an id (monotonic ULID at now) when absent, version
// "1.0", timestamp FormatTime(now) when absent (a client timestamp is kept
// string for string and parsed into ClientTime), drop sender/from/from_client,
// rewrite type "event" to "message". Sender is left for the caller to set.
//
// The envelope does not alias data. Payload, Args and Metadata are compacted.
// A payload that is absent, or null on a type where null is allowed, becomes
// {}.
func Decode(data []byte, now time.Time) (*Envelope, *FrameError) {
	var f [numFields]span
	var unknown []string

	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		if _, detail := validJSON(data); !detail.ok() {
			return nil, invalidJSON(detail.String())
		}
		return nil, &FrameError{Code: CodeValidation, Message: MsgValidationFailed,
			Errors: []string{"Envelope must be a JSON object"}}
	}
	it := newObjIter(data, i, 1)
	for {
		k, v, ok, detail := it.next()
		if !detail.ok() {
			return nil, invalidJSON(detail.String())
		}
		if !ok {
			break
		}
		if idx := fieldIndexSpan(data, k); idx >= 0 {
			f[idx] = v // the last duplicate wins, as in encoding/json
		} else {
			unknown = append(unknown, string(strBytes(data, k)))
		}
	}
	if j := skipWS(data, it.i); j < len(data) {
		return nil, invalidJSON(badChar(data[j], "after top-level value").String())
	}

	// Step 4: legacy command mapping, and payload.target for private frames.
	typeStr := stringOrNil(data, f[fType])
	typ := inboundType(typeStr)
	cmd, args := f[fCommand], f[fArgs]
	var target span
	if f[fPayload].kind == kindObject && (typ == TypeCommand && (!cmd.present() || !args.present()) || typ == TypePrivate) {
		pc, pp, pt := payloadMembers(data, f[fPayload])
		if typ == TypeCommand {
			if !cmd.present() && pc.kind == kindString {
				cmd = pc
			}
			if !args.present() && pp.kind == kindObject {
				args = pp
			}
		} else if pt.kind == kindString && pt.end-pt.start > 2 {
			target = pt
		}
	}

	// Step 5: validation, collecting every error in order.
	var errs []string
	if len(unknown) > 0 {
		slices.Sort(unknown)
		for _, name := range slices.Compact(unknown) {
			errs = append(errs, "Unknown field: "+name)
		}
	}
	var idBytes []byte
	clientID := false
	if sp := f[fID]; sp.present() {
		if sp.kind == kindString {
			idBytes = strBytes(data, sp)
			clientID = validID(idBytes)
		}
		if !clientID {
			errs = append(errs, "Invalid message ID format: "+render(data, sp))
		}
	}
	switch {
	case !f[fType].present() || f[fType].kind == kindString && len(typeStr) == 0:
		errs = append(errs, "Message type is required")
	case typ == "":
		errs = append(errs, "Unsupported message type: "+render(data, f[fType]))
	}
	if sp := f[fVersion]; sp.present() && !(sp.kind == kindString && string(stringOrNil(data, sp)) == Version) {
		errs = append(errs, "Unsupported protocol version: "+render(data, sp))
	}
	var clientTime time.Time
	if sp := f[fTimestamp]; sp.present() {
		ok := false
		if sp.kind == kindString {
			clientTime, ok = parseTimestamp(stringOrNil(data, sp))
		}
		if !ok {
			errs = append(errs, "Invalid timestamp: "+render(data, sp))
		}
	}
	for k := fRoom; k <= fErrorCode; k++ {
		if f[k].present() && f[k].kind != kindString {
			errs = append(errs, "Field '"+fieldNames[k]+"' must be a string")
		}
	}
	for _, k := range [...]int{fArgs, fMetadata} {
		if f[k].present() && f[k].kind != kindObject {
			errs = append(errs, "Field '"+fieldNames[k]+"' must be an object")
		}
	}
	switch typ {
	case TypeMessage, TypeEvent:
		if f[fPayload].kind == kindNull {
			errs = append(errs, "Field 'payload' is required for message messages")
		}
	case TypePrivate:
		if f[fPayload].kind == kindNull {
			errs = append(errs, "Field 'payload' is required for private messages")
		}
		if blank(f[fToClient]) && target.kind == kindAbsent {
			errs = append(errs, "Field 'to_client' is required for private messages")
		}
	case TypeCommand:
		if blank(cmd) {
			errs = append(errs, "Field 'command' is required for command messages")
		}
	case TypeResponse:
		if blank(f[fRequestID]) {
			errs = append(errs, "Field 'request_id' is required for response messages")
		}
		if sp := f[fStatus]; blank(sp) {
			errs = append(errs, "Response messages must include status")
		} else if st := string(stringOrNil(data, sp)); sp.kind != kindString ||
			st != StatusSuccess && st != StatusError && st != StatusPending {
			errs = append(errs, "Invalid status: "+render(data, sp))
		}
	case TypeTelemetry:
		if k := f[fPayload].kind; k != kindAbsent && k != kindObject {
			errs = append(errs, "Field 'payload' must be an object for telemetry messages")
		}
	}
	if len(errs) > 0 {
		fe := &FrameError{Code: CodeValidation, Message: MsgValidationFailed, Errors: errs}
		if f[fID].kind == kindString && utf8.RuneCount(idBytes) <= 128 {
			fe.RequestID = string(idBytes)
		}
		return nil, fe
	}

	// Step 6: normalize into one string arena and one raw-JSON buffer.
	var abuf [256]byte
	ab := abuf[:0]
	var offs [numArena][2]int
	if clientID {
		ab, offs[aID] = arenaAdd(ab, idBytes)
	} else {
		start := len(ab)
		ab = AppendID(ab, now)
		offs[aID] = [2]int{start, len(ab)}
	}
	if f[fTimestamp].present() {
		ab, offs[aTimestamp] = arenaAdd(ab, stringOrNil(data, f[fTimestamp]))
	} else {
		start := len(ab)
		ab = AppendTime(ab, now)
		offs[aTimestamp] = [2]int{start, len(ab)}
	}
	ab, offs[aRoom] = arenaAdd(ab, stringOrNil(data, f[fRoom]))
	ab, offs[aChannel] = arenaAdd(ab, stringOrNil(data, f[fChannel]))
	ab, offs[aToClient] = arenaAdd(ab, stringOrNil(data, f[fToClient]))
	ab, offs[aCommand] = arenaAdd(ab, stringOrNil(data, cmd))
	ab, offs[aRequestID] = arenaAdd(ab, stringOrNil(data, f[fRequestID]))
	ab, offs[aStatus] = arenaAdd(ab, stringOrNil(data, f[fStatus]))
	ab, offs[aError] = arenaAdd(ab, stringOrNil(data, f[fError]))
	ab, offs[aErrorCode] = arenaAdd(ab, stringOrNil(data, f[fErrorCode]))
	ab, offs[aTarget] = arenaAdd(ab, stringOrNil(data, target))
	s := string(ab)
	get := func(slot int) string { return s[offs[slot][0]:offs[slot][1]] }

	payload := f[fPayload]
	if payload.kind == kindNull {
		payload.kind = kindAbsent
	}
	raw := make([]byte, 0, rawLen(payload)+rawLen(args)+rawLen(f[fMetadata]))
	var p, a, m [2]int
	raw, p = appendRawSpan(raw, data, payload)
	raw, a = appendRawSpan(raw, data, args)
	raw, m = appendRawSpan(raw, data, f[fMetadata])

	if typ == TypeEvent {
		typ = TypeMessage
	}
	return &Envelope{
		ID:            get(aID),
		Type:          typ,
		Version:       Version,
		Timestamp:     get(aTimestamp),
		Room:          get(aRoom),
		Channel:       get(aChannel),
		ToClient:      get(aToClient),
		Payload:       raw[p[0]:p[1]:p[1]],
		Command:       get(aCommand),
		Args:          raw[a[0]:a[1]:a[1]],
		RequestID:     get(aRequestID),
		Status:        get(aStatus),
		Error:         get(aError),
		ErrorCode:     get(aErrorCode),
		Metadata:      raw[m[0]:m[1]:m[1]],
		ClientTime:    clientTime,
		PayloadTarget: get(aTarget),
	}, nil
}

// stringOrNil returns the decoded contents of a string span, nil for any
// other kind.
func stringOrNil(d []byte, s span) []byte {
	if s.kind != kindString {
		return nil
	}
	return strBytes(d, s)
}

// blank reports a key that is absent, null or the empty string.
func blank(s span) bool {
	return !s.present() || s.kind == kindString && s.end-s.start == 2
}

// render gives a value for an error text: strings as their contents, other
// values as their (compact) JSON text.
func render(d []byte, s span) string {
	if s.kind == kindString {
		return string(strBytes(d, s))
	}
	return string(appendValue(nil, d, s))
}

func rawLen(s span) int {
	if s.present() {
		return s.end - s.start
	}
	return 2
}

func appendRawSpan(dst, d []byte, s span) ([]byte, [2]int) {
	start := len(dst)
	if s.present() {
		dst = appendValue(dst, d, s)
	} else {
		dst = append(dst, "{}"...)
	}
	return dst, [2]int{start, len(dst)}
}

// payloadMembers returns the last values of payload.command,
// payload.parameters and payload.target.
func payloadMembers(d []byte, payload span) (command, parameters, target span) {
	it := newObjIter(d, payload.start, 2)
	for {
		k, v, ok, _ := it.next()
		if !ok {
			return
		}
		switch {
		case keyEquals(d, k, "command"):
			command = v
		case keyEquals(d, k, "parameters"):
			parameters = v
		case keyEquals(d, k, "target"):
			target = v
		}
	}
}
