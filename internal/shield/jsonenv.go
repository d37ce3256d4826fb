package shield

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The text-frame hot path decodes a frame once into the generic value the
// schema validator needs, and remembers where each top-level member (and
// each member of a top-level metadata object) sits in the original bytes.
// Normalisation (SHIELD.md §9.4) then splices the original member bytes
// instead of re-encoding the whole map with reflection.
//
// jsonDecoder accepts exactly what encoding/json's Decoder (with
// UseNumber) accepts for one JSON object followed by optional whitespace,
// and produces the same value; FuzzDecodeJSONObject checks this.

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// jsonMember is one member of an object as received.
type jsonMember struct {
	key    string
	rawKey []byte // the quoted key as received, escapes included
	val    []byte // the value as received
}

// jsonDecoder is reusable; a connection keeps one for its reader goroutine.
type jsonDecoder struct {
	b     []byte
	i     int
	depth int
	// dup is set when any object repeats a key.
	dup bool
	// ws is set when a nested value contains whitespace between tokens.
	ws bool
	// meta is set when the last top-level "metadata" member is an object.
	meta    bool
	top     []jsonMember
	metaMem []jsonMember
}

func (d *jsonDecoder) reset(b []byte) {
	d.b, d.i, d.depth, d.dup, d.ws, d.meta = b, 0, 0, false, false, false
	d.top, d.metaMem = d.top[:0], d.metaMem[:0]
}

// release drops every reference to the last frame, so an idle connection
// does not pin it.
func (d *jsonDecoder) release() {
	clear(d.top)
	clear(d.metaMem)
	d.reset(nil)
}

// decode decodes b as one JSON object with numbers kept as json.Number.
func (d *jsonDecoder) decode(b []byte) (map[string]any, bool) {
	d.reset(b)
	d.skipWS()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, false
	}
	m, ok := d.object(&d.top)
	if !ok {
		return nil, false
	}
	d.skipWS()
	if d.i != len(d.b) {
		return nil, false // trailing data after the object
	}
	return m, true
}

func (d *jsonDecoder) skipWS() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
			if d.depth >= 2 {
				d.ws = true
			}
		default:
			return
		}
	}
}

func (d *jsonDecoder) value() (any, bool) {
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object(nil)
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	return nil, false
}

// object decodes an object at d.i; rec, if non-nil, receives its members.
// Only the top-level object passes rec.
func (d *jsonDecoder) object(rec *[]jsonMember) (map[string]any, bool) {
	d.i++
	d.depth++
	if d.depth > maxJSONDepth {
		return nil, false
	}
	m := make(map[string]any)
	d.skipWS()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		d.depth--
		return m, true
	}
	n := 0
	for {
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, false
		}
		ks := d.i
		k, ok := d.stringValue()
		if !ok {
			return nil, false
		}
		ke := d.i
		d.skipWS()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, false
		}
		d.i++
		d.skipWS()
		vs := d.i
		var v any
		if rec == &d.top && k == "metadata" && d.i < len(d.b) && d.b[d.i] == '{' {
			d.metaMem = d.metaMem[:0]
			v, ok = d.object(&d.metaMem)
			d.meta = true
		} else {
			v, ok = d.value()
			if rec == &d.top && k == "metadata" {
				d.meta = false
			}
		}
		if !ok {
			return nil, false
		}
		if rec != nil {
			*rec = append(*rec, jsonMember{key: k, rawKey: d.b[ks:ke], val: d.b[vs:d.i]})
		}
		m[k] = v
		n++
		d.skipWS()
		if d.i >= len(d.b) {
			return nil, false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.skipWS()
		case '}':
			d.i++
			d.depth--
			if len(m) != n {
				d.dup = true
			}
			return m, true
		default:
			return nil, false
		}
	}
}

func (d *jsonDecoder) array() (any, bool) {
	d.i++
	d.depth++
	if d.depth > maxJSONDepth {
		return nil, false
	}
	a := make([]any, 0)
	d.skipWS()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		d.depth--
		return a, true
	}
	for {
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		a = append(a, v)
		d.skipWS()
		if d.i >= len(d.b) {
			return nil, false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.skipWS()
		case ']':
			d.i++
			d.depth--
			return a, true
		default:
			return nil, false
		}
	}
}

func (d *jsonDecoder) literal(word string) bool {
	if !bytes.HasPrefix(d.b[d.i:], []byte(word)) {
		return false
	}
	d.i += len(word)
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (d *jsonDecoder) number() (any, bool) {
	b, i := d.b, d.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return nil, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return nil, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	n := json.Number(b[d.i:i])
	d.i = i
	return n, true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// str decodes the string at d.i. Strings without escapes and with valid
// UTF-8 are copied; the rest are unquoted by encoding/json itself, so
// escapes, surrogates and invalid bytes come out exactly as it does them.
func (d *jsonDecoder) str() (any, bool) {
	s, ok := d.stringValue()
	return s, ok
}

func (d *jsonDecoder) stringValue() (string, bool) {
	b := d.b
	start := d.i
	simple, ascii := true, true
	for i := start + 1; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			d.i = i + 1
			raw := b[start+1 : i]
			if simple && (ascii || utf8.Valid(raw)) {
				return string(raw), true
			}
			var s string
			if err := json.Unmarshal(b[start:i+1], &s); err != nil {
				return "", false
			}
			return s, true
		case c == '\\':
			simple = false
			if i+1 >= len(b) {
				return "", false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return "", false
				}
				i += 6
			default:
				return "", false
			}
		case c < 0x20:
			return "", false
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
			i++
		}
	}
	return "", false
}

// appendCompact appends the valid JSON value v without whitespace between
// tokens.
func appendCompact(dst, v []byte) []byte {
	inStr := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if inStr {
			dst = append(dst, c)
			switch c {
			case '\\':
				i++
				dst = append(dst, v[i])
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inStr = true
		}
		dst = append(dst, c)
	}
	return dst
}

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes it (with or without HTML escaping).
func appendJSONString(dst []byte, s string, escapeHTML bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || escapeHTML && (c == '<' || c == '>' || c == '&') {
			return appendJSONStringSlow(dst, s, escapeHTML)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func appendJSONStringSlow(dst []byte, s string, escapeHTML bool) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s) // a string always encodes
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// Kinds of normalised top-level members.
const (
	memberRaw = iota
	memberID
	memberTimestamp
	memberVersion
	memberSender
	memberMetadata
	memberTenant
)

type outMember struct {
	key  string
	m    *jsonMember // memberRaw: the received member
	kind int
}

// sortMembers orders members by key as encoding/json orders map keys.
// Envelopes have few members, so insertion sort wins.
func sortMembers(s []outMember) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].key < s[j-1].key; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// envNormaliser holds what normalisation adds to a decoded envelope.
type envNormaliser struct {
	id        string // generated id, or "" to keep the received one
	timestamp string // added timestamp, or "" if present
	version   bool   // add "version":"1.0"
	sender    string
	tenant    string
}

// appendNormalised appends the normalised envelope of SHIELD.md §9.4 built
// from the members d recorded. Top-level keys, and the keys of metadata,
// come out sorted and the output is compact, as encoding/json writes the
// map; nested values keep their received bytes minus whitespace. d must
// hold a decode without duplicate keys whose metadata, if any, is an
// object.
func (d *jsonDecoder) appendNormalised(dst []byte, n *envNormaliser, scratch []outMember) ([]byte, []outMember) {
	out := scratch[:0]
	hasMeta := false
	for i := range d.top {
		m := &d.top[i]
		switch m.key {
		case "from", "from_client", "sender":
			continue
		case "id":
			if n.id != "" {
				continue
			}
		case "metadata":
			hasMeta = true
			out = append(out, outMember{key: m.key, kind: memberMetadata})
			continue
		}
		out = append(out, outMember{key: m.key, m: m})
	}
	if n.id != "" {
		out = append(out, outMember{key: "id", kind: memberID})
	}
	if n.timestamp != "" {
		out = append(out, outMember{key: "timestamp", kind: memberTimestamp})
	}
	if n.version {
		out = append(out, outMember{key: "version", kind: memberVersion})
	}
	out = append(out, outMember{key: "sender", kind: memberSender})
	if !hasMeta {
		out = append(out, outMember{key: "metadata", kind: memberMetadata})
	}
	sortMembers(out)
	top := len(out)

	dst = append(dst, '{')
	for i := 0; i < top; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		switch om := out[i]; om.kind {
		case memberRaw:
			dst = d.appendMember(dst, om.m)
		case memberID:
			dst = append(dst, `"id":`...)
			dst = appendJSONString(dst, n.id, false)
		case memberTimestamp:
			dst = append(dst, `"timestamp":`...)
			dst = appendJSONString(dst, n.timestamp, false)
		case memberVersion:
			dst = append(dst, `"version":"1.0"`...)
		case memberSender:
			dst = append(dst, `"sender":`...)
			dst = appendJSONString(dst, n.sender, false)
		case memberMetadata:
			dst = append(dst, `"metadata":{`...)
			// The metadata members go after the top-level ones in out.
			meta := out[top:]
			hasTenant := false
			if hasMeta && d.meta {
				for j := range d.metaMem {
					m := &d.metaMem[j]
					if m.key == "tenant_id" {
						hasTenant = true
						meta = append(meta, outMember{key: m.key, kind: memberTenant})
						continue
					}
					meta = append(meta, outMember{key: m.key, m: m})
				}
			}
			if !hasTenant {
				meta = append(meta, outMember{key: "tenant_id", kind: memberTenant})
			}
			sortMembers(meta)
			for j, mm := range meta {
				if j > 0 {
					dst = append(dst, ',')
				}
				if mm.kind == memberTenant {
					dst = append(dst, `"tenant_id":`...)
					dst = appendJSONString(dst, n.tenant, false)
				} else {
					dst = d.appendMember(dst, mm.m)
				}
			}
			dst = append(dst, '}')
			out = append(out[:top], meta...)[:top]
		}
	}
	return append(dst, '}'), out
}

func (d *jsonDecoder) appendMember(dst []byte, m *jsonMember) []byte {
	dst = append(dst, m.rawKey...)
	dst = append(dst, ':')
	if d.ws && (m.val[0] == '{' || m.val[0] == '[') {
		return appendCompact(dst, m.val)
	}
	return append(dst, m.val...)
}
