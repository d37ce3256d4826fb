package bench

import (
	"bytes"
	"math"
	"strconv"
)

// The generator's payload is {"bt":"<19 digits>","pad":"xxx…"}: bt is the
// intended send time in nanoseconds since the run's base instant, as a
// fixed-width string so every payload of a run has exactly the requested
// size (a JSON number may not carry leading zeros).
const (
	stampDigits = 19
	payloadHead = `{"bt":"`
	payloadMid  = `","pad":"`
	payloadTail = `"}`
	// MinPayload is the smallest --payload the generator can build.
	MinPayload = len(payloadHead) + stampDigits + len(payloadMid) + len(payloadTail)
)

var stampKey = []byte(`"bt":"`)

// appendPayload appends a payload of exactly size bytes (size >= MinPayload)
// carrying stamp.
func appendPayload(dst []byte, size int, stamp int64) []byte {
	dst = append(dst, payloadHead...)
	dst = appendStamp(dst, stamp)
	dst = append(dst, payloadMid...)
	for i := size - MinPayload; i > 0; i-- {
		dst = append(dst, 'x')
	}
	return append(dst, payloadTail...)
}

// appendStamp appends stamp as exactly stampDigits decimal digits.
func appendStamp(dst []byte, stamp int64) []byte {
	if stamp < 0 {
		stamp = 0
	}
	var tmp [stampDigits]byte
	for i := stampDigits - 1; i >= 0; i-- {
		tmp[i] = byte('0' + stamp%10)
		stamp /= 10
	}
	return append(dst, tmp[:]...)
}

// appendMessage appends one bus `message` envelope to the connection's
// default target (its connect-time subscription, PROTOCOL.md §5.1).
func appendMessage(dst []byte, size int, stamp int64) []byte {
	dst = append(dst, `{"type":"message","payload":`...)
	dst = appendPayload(dst, size, stamp)
	return append(dst, '}')
}

// appendShieldMessage appends one Shield text envelope (SHIELD.md §9.4) whose
// id is arq_b<conn>_<seq>.
func appendShieldMessage(dst []byte, size int, stamp int64, conn int, seq uint64) []byte {
	dst = append(dst, `{"type":"message","id":"arq_b`...)
	dst = strconv.AppendInt(dst, int64(conn), 10)
	dst = append(dst, '_')
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `","room":"bench","channel":"load","payload":`...)
	dst = appendPayload(dst, size, stamp)
	return append(dst, '}')
}

// kind is what the generator needs to know of a received envelope.
type kind uint8

const (
	kindOther   kind = iota
	kindMessage      // a delivered `message`
	kindAck          // bus `message_response` or Shield `ack`
	kindError        // an `error` frame
	kindPong         // Shield `pong`
	kindInvalid      // not an envelope the generator understands
)

var typeKey = []byte(`"type":"`)

// parseEnvelope finds the top-level type of one compact envelope and the
// stamp of a generator payload, without decoding the JSON. It relies on the
// server's key order (id and timestamp, whose values cannot contain the
// type key, come before type; PROTOCOL.md §4.6) and on bt being unique to
// the generator's payload. ok is false when the envelope carries no stamp.
func parseEnvelope(b []byte) (k kind, stamp int64, ok bool) {
	i := bytes.Index(b, typeKey)
	if i < 0 {
		return kindInvalid, 0, false
	}
	rest := b[i+len(typeKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return kindInvalid, 0, false
	}
	switch string(rest[:j]) {
	case "message":
		k = kindMessage
	case "message_response", "ack":
		k = kindAck
	case "error":
		return kindError, 0, false
	case "pong":
		return kindPong, 0, false
	default:
		return kindOther, 0, false
	}
	stamp, ok = findStamp(rest[j:])
	return k, stamp, ok
}

// findStamp returns the value of the first "bt":"<digits>" in b.
func findStamp(b []byte) (int64, bool) {
	i := bytes.Index(b, stampKey)
	if i < 0 {
		return 0, false
	}
	d := b[i+len(stampKey):]
	if len(d) < stampDigits+1 || d[stampDigits] != '"' {
		return 0, false
	}
	var v int64
	for _, c := range d[:stampDigits] {
		if c < '0' || c > '9' || v > (math.MaxInt64-9)/10 {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// forEachLine calls f for each non-empty line of a frame: a batched frame is
// JSON Lines (PROTOCOL.md §2.2.1), an unbatched frame is one line.
func forEachLine(frame []byte, f func([]byte)) {
	for len(frame) > 0 {
		i := bytes.IndexByte(frame, '\n')
		if i < 0 {
			f(frame)
			return
		}
		if i > 0 {
			f(frame[:i])
		}
		frame = frame[i+1:]
	}
}
