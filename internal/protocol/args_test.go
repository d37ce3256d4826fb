package protocol

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

func TestParseArgs(t *testing.T) {
	a, err := ParseArgs(json.RawMessage(`{"room":" science ","n":5,"n":6,"s":"a\u0062"}`))
	if err != nil || len(a) != 3 || string(a["n"]) != "6" {
		t.Fatalf("ParseArgs = %v, %v", a, err)
	}
	for _, raw := range []string{"", "{}"} {
		if a, err := ParseArgs(json.RawMessage(raw)); err != nil || a == nil || len(a) != 0 {
			t.Errorf("ParseArgs(%q) = %v, %v", raw, a, err)
		}
	}
	for _, raw := range []string{`[]`, `null`, `{"a":`, `{"a":1} x`} {
		if _, err := ParseArgs(json.RawMessage(raw)); !errors.Is(err, ErrArgsNotObject) {
			t.Errorf("ParseArgs(%q) error = %v", raw, err)
		}
	}
}

func TestArgsHelpers(t *testing.T) {
	a, err := ParseArgs(json.RawMessage(`{"room":" science ","blank":"  ","esc":"a\u0062","num":5,"big":1e30,"neg":-1e30,` +
		`"frac":2.5,"intf":7.0,"exp":1e3,"huge":1e400,"s":"5","t":true,"f":false,"obj":{"k":1},"arr":[1],"nul":null}`))
	if err != nil {
		t.Fatal(err)
	}
	str := []struct {
		name     string
		required bool
		val      string
		present  bool
		detail   string
	}{
		{"room", true, "science", true, ""},
		{"esc", false, "ab", true, ""},
		{"missing", true, "", false, "'missing' is required"},
		{"missing", false, "", false, ""},
		{"nul", true, "", false, "'nul' is required"},
		{"blank", true, "", true, "'blank' is required"},
		{"blank", false, "", true, ""},
		{"num", false, "", true, "'num' must be a string"},
		{"obj", true, "", true, "'obj' must be a string"},
	}
	for _, tc := range str {
		v, p, d := a.String(tc.name, tc.required)
		if v != tc.val || p != tc.present || d != tc.detail {
			t.Errorf("String(%q, %v) = %q, %v, %q", tc.name, tc.required, v, p, d)
		}
	}
	ints := []struct {
		name    string
		val     int64
		present bool
		detail  string
	}{
		{"num", 5, true, ""},
		{"intf", 7, true, ""},
		{"exp", 1000, true, ""},
		{"big", math.MaxInt64, true, ""},
		{"neg", math.MinInt64, true, ""},
		{"frac", 0, true, "'frac' must be an integer"},
		{"s", 0, true, "'s' must be a number"},
		{"t", 0, true, "'t' must be a number"},
		{"missing", 0, false, ""},
		{"nul", 0, false, ""},
	}
	for _, tc := range ints {
		v, p, d := a.Int(tc.name)
		if v != tc.val || p != tc.present || d != tc.detail {
			t.Errorf("Int(%q) = %v, %v, %q", tc.name, v, p, d)
		}
	}
	if v, p, d := a.Number("frac"); v != 2.5 || !p || d != "" {
		t.Errorf("Number(frac) = %v, %v, %q", v, p, d)
	}
	if v, _, d := a.Number("huge"); !math.IsInf(v, 1) || d != "" {
		t.Errorf("Number(huge) = %v, %q", v, d)
	}
	if _, p, d := a.Number("arr"); !p || d != "'arr' must be a number" {
		t.Errorf("Number(arr) = %v, %q", p, d)
	}
	if v, p, d := a.Bool("t"); !v || !p || d != "" {
		t.Errorf("Bool(t) = %v, %v, %q", v, p, d)
	}
	if v, p, d := a.Bool("f"); v || !p || d != "" {
		t.Errorf("Bool(f) = %v, %v, %q", v, p, d)
	}
	if _, p, d := a.Bool("s"); !p || d != "'s' must be a boolean" {
		t.Errorf("Bool(s) = %v, %q", p, d)
	}
	if raw, p, d := a.Object("obj"); string(raw) != `{"k":1}` || !p || d != "" {
		t.Errorf("Object(obj) = %s, %v, %q", raw, p, d)
	}
	if _, p, d := a.Object("arr"); !p || d != "'arr' must be an object" {
		t.Errorf("Object(arr) = %v, %q", p, d)
	}
	if _, p, _ := a.Object("nul"); p || a.Has("nul") || !a.Has("t") {
		t.Error("null treated as present")
	}
}
