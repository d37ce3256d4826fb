package casil

import (
	"encoding/json"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		glob, s string
		want    bool
	}{
		{"science:general", "science:general", true},
		{"science:general", "science:General", false}, // case-sensitive
		{"science:*", "science:general", true},
		{"science:*", "science:", true},
		{"science:*", "sciences:x", false},
		{"*", "", true},
		{"*", "a:b", true},
		{"*:*", "a:b", true},
		{"*", "@private", true},
		{"*general", "science:general", true}, // * crosses ':'
		{"sci*gen*", "science:general", true},
		{"*a*b*c", "xaxbxc", true},
		{"*a*b*c", "xaxbxcx", false},
		{"a*a*a", "aaaa", true},
		{"r?:c", "r1:c", true},
		{"r?:c", "r:c", false},
		{"?", "é", true}, // ? is one character, not one byte
		{"[abc]:c", "b:c", true},
		{"[abc]:c", "d:c", false},
		{"[!abc]:c", "d:c", true},
		{"[^abc]:c", "a:c", false},
		{"[a-c]x", "bx", true},
		{"[a-c]x", "Bx", false},
		{"[]a]", "]", true},
		{"[!]]", "]", false},
		{"[a-]", "-", true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{`a\[b`, "a[b", true},
		{"@private", "@private", true},
		{"@store", "@private", false},
		{"", "", true},
		{"", "a", false},
	}
	for _, tc := range cases {
		g, err := compileGlob(tc.glob)
		if err != nil {
			t.Errorf("compile %q: %v", tc.glob, err)
			continue
		}
		if got := g.match(tc.s); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.glob, tc.s, got, tc.want)
		}
	}
}

func TestAdversarialGlobInvalid(t *testing.T) {
	for _, g := range []string{"[", "a[bc", "[!", "[]", `x\`, "[z-a]", `[a\`} {
		if ValidateGlob(g) == nil {
			t.Errorf("%q should not compile", g)
		}
	}
	for _, g := range []string{"a", "*", "[a]", "[a-z]*", `\[`, "[[]"} {
		if err := ValidateGlob(g); err != nil {
			t.Errorf("%q should compile: %v", g, err)
		}
	}
}

func TestScopeExcludeWins(t *testing.T) {
	e := NewEngine(policyWith(t, `{"scope_include":["*"],"scope_exclude":["*:audit"]}`))
	if r := e.Inspect(KindMessage, "ops:audit", json.RawMessage(`{}`)); r.ReasonCode != ReasonOutOfScope {
		t.Fatalf("excluded target: %v", r)
	}
	if r := e.Inspect(KindMessage, "ops:main", json.RawMessage(`{}`)); !r.InScope {
		t.Fatalf("included target: %v", r)
	}
}
