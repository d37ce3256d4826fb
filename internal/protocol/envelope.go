package protocol

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// Envelope is one frame in either direction (§4.1). String fields are empty
// when absent. Payload, Args and Metadata hold compact JSON and must be
// treated as immutable once set (encoded bytes are shared between
// subscribers).
type Envelope struct {
	ID, Type, Version, Timestamp        string
	Room, Channel, Sender, ToClient     string
	Payload                             json.RawMessage // compact JSON; after Decode never nil ("{}" when absent)
	Command                             string
	Args                                json.RawMessage // compact JSON object; "{}" when absent
	RequestID, Status, Error, ErrorCode string
	Metadata                            json.RawMessage // compact JSON object; "{}" when absent
	ClientTime                          time.Time       // parsed client timestamp, zero when the client sent none
	PayloadTarget                       string          // string payload.target of a private frame, "" otherwise
}

// AppendJSON appends the envelope as one compact JSON object (§4.6), keys in
// the order id, timestamp, type, version, payload, args, metadata, room,
// channel, sender, to_client, command, request_id, status, error, error_code.
// id, timestamp, type, version, payload, args and metadata are always
// written (version is always "1.0"; empty payload/args/metadata as {}); the
// other keys only when non-empty. Payload, Args and Metadata are copied
// verbatim and must be valid compact JSON.
func (e *Envelope) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = AppendString(dst, e.ID)
	dst = append(dst, `,"timestamp":`...)
	dst = AppendString(dst, e.Timestamp)
	dst = append(dst, `,"type":`...)
	dst = AppendString(dst, e.Type)
	dst = append(dst, `,"version":"1.0","payload":`...)
	dst = appendRawOrEmpty(dst, e.Payload)
	dst = append(dst, `,"args":`...)
	dst = appendRawOrEmpty(dst, e.Args)
	dst = append(dst, `,"metadata":`...)
	dst = appendRawOrEmpty(dst, e.Metadata)
	dst = appendOptional(dst, `,"room":`, e.Room)
	dst = appendOptional(dst, `,"channel":`, e.Channel)
	dst = appendOptional(dst, `,"sender":`, e.Sender)
	dst = appendOptional(dst, `,"to_client":`, e.ToClient)
	dst = appendOptional(dst, `,"command":`, e.Command)
	dst = appendOptional(dst, `,"request_id":`, e.RequestID)
	dst = appendOptional(dst, `,"status":`, e.Status)
	dst = appendOptional(dst, `,"error":`, e.Error)
	dst = appendOptional(dst, `,"error_code":`, e.ErrorCode)
	return append(dst, '}')
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (e *Envelope) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

func appendRawOrEmpty(dst []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(dst, "{}"...)
	}
	return append(dst, raw...)
}

func appendOptional(dst []byte, key, val string) []byte {
	if val == "" {
		return dst
	}
	dst = append(dst, key...)
	return AppendString(dst, val)
}

// noEscape marks ASCII bytes that can be copied into a JSON string as they
// are.
var noEscape = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = false, false
	return t
}()

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Control characters, '"' and '\\'
// are escaped; other characters are written as UTF-8, and invalid UTF-8 is
// replaced by U+FFFD so the output is always valid JSON.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if noEscape[c] {
			i++
			continue
		}
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\ufffd"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ErrorsPayload returns the payload of an INVALID_JSON or VALIDATION_ERROR
// frame: {"errors":[...]} (§5.6).
func ErrorsPayload(errs []string) json.RawMessage {
	b := append(make([]byte, 0, 16+32*len(errs)), `{"errors":[`...)
	for i, e := range errs {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, e)
	}
	return append(b, "]}"...)
}
