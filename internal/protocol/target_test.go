package protocol

import (
	"strings"
	"testing"
)

func TestResolveTarget(t *testing.T) {
	tests := []struct {
		room, channel string
		r, c          string
		st            TargetStatus
		detail        string
	}{
		{"science", "general", "science", "general", TargetOK, ""},
		{"", "science:general", "science", "general", TargetOK, ""},
		{"science", "science:general", "science", "general", TargetOK, ""},
		{"lab", "science:general", "", "", TargetInvalid, "Conflicting room: 'lab' vs 'science'"},
		{"science:general", "", "science", "general", TargetOK, ""},
		{"", "", "", "", TargetNone, ""},
		{"science", "", "", "", TargetMissing, ""},
		{"", "general", "", "", TargetMissing, ""},
		{"sci ence", "general", "", "", TargetInvalid, "Invalid room name: sci ence"},
		{"science", "gen/eral", "", "", TargetInvalid, "Invalid channel name: gen/eral"},
		{"", "a:b:c", "", "", TargetInvalid, "Invalid channel name: b:c"},
		{"", ":general", "", "", TargetInvalid, "Invalid room name: "},
		{"science:", "", "", "", TargetInvalid, "Invalid channel name: "},
		{"a:b", "c", "", "", TargetInvalid, "Invalid room name: a:b"},
		{"bad room", "x:y", "", "", TargetInvalid, "Conflicting room: 'bad room' vs 'x'"},
		{"Sci.Ence_1-2", "a", "Sci.Ence_1-2", "a", TargetOK, ""},
		{"-x", "a", "", "", TargetInvalid, "Invalid room name: -x"},
	}
	for _, tc := range tests {
		r, c, st, detail := ResolveTarget(tc.room, tc.channel)
		if r != tc.r || c != tc.c || st != tc.st || detail != tc.detail {
			t.Errorf("ResolveTarget(%q, %q) = %q, %q, %v, %q", tc.room, tc.channel, r, c, st, detail)
		}
	}
}

func TestNameGrammars(t *testing.T) {
	max := "a" + strings.Repeat("b", 63)
	for _, s := range []string{"science", "general", "telemetry-stream", "a", "A9", "x.y_z-1", "0", max} {
		if !ValidName(s) {
			t.Errorf("ValidName(%q) = false", s)
		}
	}
	for _, s := range []string{"", ".x", "_x", "-x", "a b", "a:b", "a/b", max + "c", "é", "a\x00"} {
		if ValidName(s) {
			t.Errorf("ValidName(%q) = true", s)
		}
	}
	for _, s := range []string{"tenant-a", "default", "T_1", "0", max} {
		if !ValidTenant(s) {
			t.Errorf("ValidTenant(%q) = false", s)
		}
	}
	for _, s := range []string{"", "a.b", "a b", "_x", "-x", max + "c", "_"} {
		if ValidTenant(s) {
			t.Errorf("ValidTenant(%q) = true", s)
		}
	}
}
