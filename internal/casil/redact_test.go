package casil

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// redactWith runs an enforce, transport-redaction engine with the given
// paths and patterns, and returns the forwarded payload (the input when
// nothing changed) and the redacted keys.
func redactWith(t *testing.T, settings, payload string) (string, []string) {
	t.Helper()
	e := NewEngine(policyWith(t, `{"mode":"enforce","transport_redaction":true}`))
	if settings != "" {
		p, err := ParseReload(e.Policy(), json.RawMessage(settings))
		if err != nil {
			t.Fatal(err)
		}
		e.Swap(p)
	}
	res := e.Inspect(KindMessage, "r:c", json.RawMessage(payload))
	if res.Blocked() || res.ReasonCode == ReasonInternalError {
		t.Fatalf("unexpected %v", res)
	}
	if res.Redacted == nil {
		if res.Decision == AllowWithRedaction {
			t.Fatalf("ALLOW_WITH_REDACTION without a redacted payload")
		}
		return payload, nil
	}
	if res.Decision != AllowWithRedaction {
		t.Fatalf("redacted payload with decision %s", res.Decision)
	}
	if !json.Valid(res.Redacted) {
		t.Fatalf("redacted payload is not valid JSON: %s", res.Redacted)
	}
	return string(res.Redacted), res.RedactedKeys
}

func TestRedactionStructure(t *testing.T) {
	cases := []struct {
		name, settings, in, out string
		keys                    []string
	}{
		{"nested objects and arrays", "",
			`{"a":{"Password":{"x":[1,2]}},"list":[{"TOKEN":1},{"token":null},{"other":"v"}],"secret":true}`,
			`{"a":{"Password":"***REDACTED***"},"list":[{"TOKEN":"***REDACTED***"},{"token":"***REDACTED***"},{"other":"v"}],"secret":"***REDACTED***"}`,
			[]string{"Password", "TOKEN", "token", "secret"}},
		{"whitespace removed, order kept", "", "{ \"z\" : 1 ,\n \"password\" : \"p\" , \"a\" : [ ] }",
			`{"z":1,"password":"***REDACTED***","a":[]}`, []string{"password"}},
		{"only ASCII case folding", "", `{"to\u212Aen":"v","pass":"v"}`, `{"to\u212Aen":"v","pass":"v"}`, nil},
		{"escaped key matches", "", `{"pass\u0077ord":"v"}`, `{"password":"***REDACTED***"}`, []string{"password"}},
		{"already redacted is unchanged", "", `{"password":"***REDACTED***"}`, `{"password":"***REDACTED***"}`, nil},
		{"patterns in values, never keys", `{"redaction_paths":[],"redaction_patterns":["\\d{4}"]}`,
			`{"1234":"card 1234-5678 end","n":1234,"arr":["9999",{"k":"x1234"}]}`,
			`{"1234":"card ***REDACTED***-***REDACTED*** end","n":1234,"arr":["***REDACTED***",{"k":"x***REDACTED***"}]}`,
			[]string{"1234", "k"}},
		{"several patterns in order", `{"redaction_paths":[],"redaction_patterns":["ab","cd"]}`,
			`{"s":"abxcd"}`, `{"s":"***REDACTED***x***REDACTED***"}`, []string{"s"}},
		{"bare string payload", `{"redaction_patterns":["secret\\w+"]}`, `"my secretvalue here"`, `"my ***REDACTED*** here"`, nil},
		{"escapes decoded before matching and re-encoded", `{"redaction_patterns":["q\"t"]}`,
			`{"s":"a\"q\u0022t\n"}`, `{"s":"a\"***REDACTED***\n"}`, []string{"s"}},
		{"empty matches ignored", `{"redaction_patterns":["\\d*"]}`, `{"s":"ab12c"}`, `{"s":"ab***REDACTED***c"}`, []string{"s"}},
		{"scalars and top-level array untouched", "", `[1,-2.5e3,true,false,null,"x"]`, `[1,-2.5e3,true,false,null,"x"]`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, keys := redactWith(t, tc.settings, tc.in)
			if out != tc.out {
				t.Fatalf("got  %s\nwant %s", out, tc.out)
			}
			if !slices.Equal(keys, tc.keys) {
				t.Fatalf("keys %q, want %q", keys, tc.keys)
			}
		})
	}
}

// shape replaces every leaf by a marker, so two values have the same shape
// exactly when only leaf values differ.
func shape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			m[k] = shape(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = shape(e)
		}
		return s
	}
	return "leaf"
}

// TestRegressionRedactionKeepsShape pins an upstream defect (OPERATIONS.md
// §12): transport redaction corrupted JSON. Redaction keeps the document's
// structure while removing every secret.
func TestRegressionRedactionKeepsShape(t *testing.T) {
	in := `{"user":{"name":"ann","password":"p","tokens":[{"token":"t1"},{"token":"t2"}]},"n":[1,[2,[3]]],"note":"sk_live_0123456789abcdef"}`
	out, _ := redactWith(t, `{"redaction_patterns":["sk_live_\\w+"]}`, in)
	var a, b any
	if err := json.Unmarshal([]byte(in), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shape(a), shape(b)) {
		t.Fatalf("shape changed:\n%s\n%s", in, out)
	}
	if strings.Contains(out, "sk_live") || strings.Contains(out, `"p"`) || strings.Contains(out, "t1") {
		t.Fatalf("secret left in %s", out)
	}
}

func nest(n int, leaf string) string {
	return strings.Repeat(`{"a":`, n) + leaf + strings.Repeat("}", n)
}

func TestAdversarialRedactionDepthLimit(t *testing.T) {
	// 32 levels are kept.
	in := nest(32, "1")
	if out, _ := redactWith(t, "", in); out != in {
		t.Fatalf("depth 32 changed: %s", out)
	}
	// Level 33 is replaced as a whole, whatever its depth below.
	for _, inner := range []string{"1", nest(5000, "[]"), `"***REDACTED***"`} {
		out, keys := redactWith(t, "", nest(33, inner))
		want := nest(32, `{"a":"***REDACTED***"}`)
		if inner == `"***REDACTED***"` {
			want = nest(33, inner) // nothing changed
		}
		if out != want {
			t.Fatalf("depth 33 (inner %.10s): got %.80s", inner, out)
		}
		if inner != `"***REDACTED***"` && !slices.Equal(keys, []string{"a"}) {
			t.Fatalf("keys %v", keys)
		}
	}
	// Deep arrays too; invalid JSON below the limit is still an error.
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	if out, _ := redactWith(t, "", deep); out != strings.Repeat("[", 33)+`"***REDACTED***"`+strings.Repeat("]", 33) {
		t.Fatalf("deep array: %.60s", out)
	}
	e := NewEngine(policyWith(t, ""))
	if r := e.Inspect(KindMessage, "r:c", json.RawMessage(strings.Repeat("[", 40)+"1,}"+strings.Repeat("]", 40))); r.ReasonCode != ReasonInternalError {
		t.Fatalf("invalid deep JSON: %v", r)
	}
}

func TestAdversarialRedactedKeysCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, `"k%d":"zz",`, i)
	}
	b.WriteString(`"k0":"zz"}`)
	_, keys := redactWith(t, `{"redaction_patterns":["zz"]}`, b.String())
	if len(keys) != 16 || keys[0] != "k0" || keys[15] != "k15" {
		t.Fatalf("keys %v", keys)
	}
}

func TestCanonicalize(t *testing.T) {
	for in, want := range map[string]string{
		" { \"a\" : [ 1 , 2 ] } ":     `{"a":[1,2]}`,
		`"\u00e9\/\u003c\u0001\t"`:    "\"é/<\\u0001\\t\"",
		`"\ud83d\ude00"`:              `"😀"`,
		`"\ud83d"`:                    "\"\uFFFD\"",
		"\"\xff\"":                    "\"\uFFFD\"",
		`"<html> & stuff"`:            `"<html> & stuff"`,
		`1.50e+3`:                     `1.50e+3`,
		`"\u2028"`:                    "\"\u2028\"",
		"\"a\\\"b\\\\c\\b\\f\\n\\r\"": "\"a\\\"b\\\\c\\b\\f\\n\\r\"",
	} {
		got, err := canonicalize(nil, []byte(in))
		if err != nil || string(got) != want {
			t.Errorf("canonicalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`"abc`, "\"a\x01\"", `"\x"`, `"\u12"`, `[1 2]`, `"\`} {
		if _, err := canonicalize(nil, []byte(bad)); err == nil {
			t.Errorf("canonicalize(%q): expected an error", bad)
		}
	}
}
