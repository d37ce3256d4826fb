package config

import (
	"strings"
	"testing"
)

func TestParseMirrorRule(t *testing.T) {
	bad := map[string]string{
		"in.t.=10":     "empty subject token",
		".in=10":       "empty subject token",
		"=10":          "empty subject token",
		"in.>.x=10":    "'>' must be the last token",
		"in.t*=10":     "wildcard must be a whole token",
		"in.>x=10":     "wildcard must be a whole token",
		"in.t.a b=10":  "wildcard must be a whole token",
		"in.t.a\tb=10": "wildcard must be a whole token",
		"in.t.>=100.5": "percent must be between 0 and 100",
		"in.t.>=0x10":  "percent must be between 0 and 100",
		"in.t.>=NaN":   "percent must be between 0 and 100",
		"in.t.>=":      "percent must be between 0 and 100",
		"in.t.>":       "missing '='",
	}
	for entry, reason := range bad {
		_, err := ParseMirrorRule(entry)
		want := `ARQON_SHIELD_MIRROR_RULES: invalid rule "` + strings.ReplaceAll(entry, "\t", `\t`) + `": ` + reason
		if err == nil || err.Error() != want {
			t.Errorf("%q: got %v, want %s", entry, err, want)
		}
	}
	// The entry is split at its last '=', so a pattern never contains one
	// that the percent could steal.
	r, err := ParseMirrorRule(" in.t.*.raw = 12.5 ")
	if err != nil || r != (MirrorRule{Pattern: "in.t.*.raw", Percent: 12.5}) || r.String() != "in.t.*.raw=12.5" {
		t.Errorf("got %+v %v", r, err)
	}
}

func TestParseMirrorRulesList(t *testing.T) {
	rules, errs := ParseMirrorRules(`in.t.a.raw=5, in..x=1 ,in.t.>=100`)
	if len(rules) != 2 || rules[0].Percent != 5 || rules[1].Pattern != "in.t.>" {
		t.Errorf("valid rules %v", rules)
	}
	if len(errs) != 1 || errs[0].Error() != `ARQON_SHIELD_MIRROR_RULES: invalid rule "in..x=1": empty subject token` {
		t.Errorf("errors %v", errs)
	}
	rules, errs = ParseMirrorRules(`["in.t.*.raw=10", " "]`)
	if len(errs) != 0 || len(rules) != 1 || rules[0].Percent != 10 {
		t.Errorf("JSON list: %v %v", rules, errs)
	}
	if rules, errs := ParseMirrorRules("-"); len(rules) != 0 || len(errs) != 0 {
		t.Errorf("'-' is the empty list: %v %v", rules, errs)
	}
	if d := DefaultMirrorRules(); len(d) != 1 || d[0].String() != "in.t.>=0" || d[0].Matches("in.t.a.raw") != true {
		t.Errorf("default %v", d)
	}
}

func TestMirrorRuleMatches(t *testing.T) {
	cases := []struct {
		pattern, subject string
		want             bool
	}{
		{"in.t.>", "in.t.a.raw", true},
		{"in.t.*.raw", "in.t.a.raw", true},
		{"in.t.*", "in.t.a.raw", false},
		{"in.t.>", "in.t", false},
		{"in.t.>", "in.t.a", true},
		{"in.t.a.raw", "in.t.a.raw", true},
		{"in.t.a.raw", "in.t.a.raw.x", false},
		{"in.t.a.raw", "in.t.a", false},
		{"in.t.b.raw", "in.t.a.raw", false},
		{">", "x", true},
		{"*", "x", true},
		{"*", "x.y", false},
		{"*.>", "x", false},
		{"in", "inx", false},
	}
	for _, c := range cases {
		r := MirrorRule{Pattern: c.pattern}
		if got := r.Matches(c.subject); got != c.want {
			t.Errorf("%s ~ %s = %v", c.pattern, c.subject, got)
		}
		if got := r.Matches(c.subject); got != matchSplit(c.pattern, c.subject) {
			t.Errorf("%s ~ %s disagrees with the token-list definition", c.pattern, c.subject)
		}
	}
	r := MirrorRule{Pattern: "in.t.*.raw", Percent: 10}
	if n := testing.AllocsPerRun(100, func() { r.Matches("in.t.tenant-a.raw") }); n != 0 {
		t.Errorf("Matches allocates %v times", n)
	}
}

// matchSplit is the §12.1 definition written over token lists.
func matchSplit(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, t := range p {
		if t == ">" {
			return len(s) > i
		}
		if i >= len(s) || (t != "*" && t != s[i]) {
			return false
		}
	}
	return len(s) == len(p)
}

// FuzzMirrorRule checks that parsing never panics, that every accepted rule
// round-trips through String, and that Matches agrees with the token-list
// definition of SHIELD.md §12.1.
func FuzzMirrorRule(f *testing.F) {
	for _, s := range []string{"in.t.>=0", "in.t.*.raw=10", "in.t.=10", "a.>.b=1", "x=1e2", ">=100", "*=.5", "a b=1"} {
		f.Add(s, "in.t.a.raw")
	}
	f.Fuzz(func(t *testing.T, entry, subject string) {
		r, err := ParseMirrorRule(entry)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ARQON_SHIELD_MIRROR_RULES: invalid rule ") {
				t.Fatalf("error form: %v", err)
			}
			return
		}
		if r.Percent < 0 || r.Percent > 100 {
			t.Fatalf("percent %v accepted", r.Percent)
		}
		back, err := ParseMirrorRule(r.String())
		if err != nil || back != r {
			t.Fatalf("%q round-trips to %+v %v", r.String(), back, err)
		}
		if got, want := r.Matches(subject), matchSplit(r.Pattern, subject); got != want {
			t.Fatalf("%s ~ %q = %v, want %v", r.Pattern, subject, got, want)
		}
	})
}
