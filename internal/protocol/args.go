package protocol

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
)

// Args is a decoded command-argument object (§6.3): each value is the raw
// JSON text of one argument. Values alias the raw object passed to
// ParseArgs. Duplicate keys keep the last value.
type Args map[string]json.RawMessage

// ErrArgsNotObject is returned by ParseArgs for input that is not a JSON
// object.
var ErrArgsNotObject = errors.New("protocol: args is not a JSON object")

// ParseArgs decodes an args object. Empty input means {}.
func ParseArgs(raw json.RawMessage) (Args, error) {
	a := Args{}
	if len(raw) == 0 || string(raw) == "{}" {
		return a, nil
	}
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, ErrArgsNotObject
	}
	it := newObjIter(raw, i, 1)
	for {
		k, v, ok, detail := it.next()
		if !detail.ok() {
			return nil, errors.Join(ErrArgsNotObject, errors.New(detail.String()))
		}
		if !ok {
			break
		}
		a[string(strBytes(raw, k))] = json.RawMessage(raw[v.start:v.end:v.end])
	}
	if skipWS(raw, it.i) != len(raw) {
		return nil, ErrArgsNotObject
	}
	return a, nil
}

// lookup returns the value of name; ok is false when it is absent or null.
func (a Args) lookup(name string) (json.RawMessage, bool) {
	v, ok := a[name]
	if !ok || len(v) == 0 || string(v) == "null" {
		return nil, false
	}
	return v, true
}

// Has reports whether name is present with a non-null value.
func (a Args) Has(name string) bool {
	_, ok := a.lookup(name)
	return ok
}

// String returns the trimmed string argument name. present is false when the
// argument is absent or null. detail (without the "Validation error: "
// prefix) is "'<name>' must be a string" for a non-string and
// "'<name>' is required" when required and absent, null or blank.
func (a Args) String(name string, required bool) (val string, present bool, detail string) {
	v, ok := a.lookup(name)
	if !ok {
		if required {
			return "", false, "'" + name + "' is required"
		}
		return "", false, ""
	}
	if v[0] != '"' {
		return "", true, "'" + name + "' must be a string"
	}
	_, esc, _ := scanString(v, 0)
	val = strings.TrimSpace(string(strBytes(v, span{start: 0, end: len(v), kind: kindString, esc: esc})))
	if val == "" && required {
		return "", true, "'" + name + "' is required"
	}
	return val, true, ""
}

// Int returns the integer argument name: "'<name>' must be a number" for a
// non-number, "'<name>' must be an integer" for a number with a fraction.
// Integral values beyond the int64 range saturate, so range checks by the
// caller still apply.
func (a Args) Int(name string) (val int64, present bool, detail string) {
	f, present, detail := a.Number(name)
	if !present || detail != "" {
		return 0, present, detail
	}
	v := a[name]
	if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
		return n, true, ""
	}
	if f != math.Trunc(f) {
		return 0, true, "'" + name + "' must be an integer"
	}
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64, true, ""
	case f <= math.MinInt64:
		return math.MinInt64, true, ""
	}
	return int64(f), true, ""
}

// Number returns the numeric argument name: "'<name>' must be a number" for
// a non-number. A magnitude beyond float64 yields ±Inf.
func (a Args) Number(name string) (val float64, present bool, detail string) {
	v, ok := a.lookup(name)
	if !ok {
		return 0, false, ""
	}
	if c := v[0]; c != '-' && !isDigit(c) {
		return 0, true, "'" + name + "' must be a number"
	}
	f, _ := strconv.ParseFloat(string(v), 64) // syntax already validated; range errors give ±Inf
	return f, true, ""
}

// Bool returns the boolean argument name: "'<name>' must be a boolean" for
// anything but true or false.
func (a Args) Bool(name string) (val bool, present bool, detail string) {
	v, ok := a.lookup(name)
	if !ok {
		return false, false, ""
	}
	switch string(v) {
	case "true":
		return true, true, ""
	case "false":
		return false, true, ""
	}
	return false, true, "'" + name + "' must be a boolean"
}

// Object returns the object argument name: "'<name>' must be an object" for
// anything else.
func (a Args) Object(name string) (raw json.RawMessage, present bool, detail string) {
	v, ok := a.lookup(name)
	if !ok {
		return nil, false, ""
	}
	if v[0] != '{' {
		return nil, true, "'" + name + "' must be an object"
	}
	return v, true, ""
}
