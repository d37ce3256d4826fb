package storage

import (
	"strings"
	"testing"
)

func TestEncodeSegment(t *testing.T) {
	for in, want := range map[string]string{
		"general":    "general",
		"lab.v2":     "lab.v2",
		"a_b-c":      "a_b-c",
		"a b":        "a%20b",
		"tenant:x":   "tenant%3Ax",
		"{x}":        "%7Bx%7D",
		"é":          "%C3%A9",
		"100%":       "100%25",
		"":           "",
		"*?[]":       "%2A%3F%5B%5D",
		"a\x00b\xff": "a%00b%FF",
	} {
		if got := EncodeSegment(in); got != want {
			t.Errorf("EncodeSegment(%q) = %q, want %q", in, got, want)
		}
		if back, err := DecodeSegment(want); err != nil || back != in {
			t.Errorf("DecodeSegment(%q) = %q, %v", want, back, err)
		}
	}
	for _, bad := range []string{"%", "%2", "%2g", "%20%", "a b", "%41", "%c3%a9", "x:y"} {
		if _, err := DecodeSegment(bad); err == nil {
			t.Errorf("DecodeSegment(%q) accepted a form EncodeSegment never produces", bad)
		}
	}
}

func TestKeyNames(t *testing.T) {
	k := StreamKey{Tenant: "acme", Room: "science", Channel: "general"}
	if got := streamKeyName(k); got != "arqonbus:{acme}:room:science:channel:general" {
		t.Fatal(got)
	}
	k.Tenant = ""
	if got := streamKeyName(k); got != "arqonbus:{_}:room:science:channel:general" {
		t.Fatal(got)
	}
	if got := storeKeyName("acme", "a b"); got != "arqonbus:{acme}:store:a%20b" {
		t.Fatal(got)
	}
	if got := channelsKeyName(""); got != "arqonbus:{_}:channels" {
		t.Fatal(got)
	}
	for key, want := range map[string]string{"arqonbus:{_}:channels": "", "arqonbus:{acme}:channels": "acme", "arqonbus:{a%20b}:channels": "a b"} {
		if got, ok := tenantFromChannelsKey(key); !ok || got != want {
			t.Errorf("tenantFromChannelsKey(%q) = %q %v", key, got, ok)
		}
	}
	for _, key := range []string{"arqonbus:{}:channels", "arqonbus:{a b}:channels", "arqonbus:{x}:store:y", "x"} {
		if _, ok := tenantFromChannelsKey(key); ok {
			t.Errorf("tenantFromChannelsKey(%q) accepted", key)
		}
	}
}

func TestParseEntryID(t *testing.T) {
	if n, err := ParseEntryID("42-0"); err != nil || n != 42 {
		t.Fatalf("42-0: %d %v", n, err)
	}
	for _, bad := range []string{"42", "42-1", "-0", "x-0", "1-0-0", "18446744073709551616-0"} {
		if _, err := ParseEntryID(bad); err == nil {
			t.Errorf("ParseEntryID(%q) accepted", bad)
		}
	}
}

func FuzzSegmentRoundTrip(f *testing.F) {
	for _, s := range []string{"general", "a b", "%", "%2", "%C3%A9", "é", "tenant:x", "%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := EncodeSegment(s)
		for i := 0; i < len(enc); i++ {
			if !plainByte(enc[i]) && enc[i] != '%' {
				t.Fatalf("EncodeSegment(%q) = %q keeps byte %q", s, enc, enc[i])
			}
		}
		if back, err := DecodeSegment(enc); err != nil || back != s {
			t.Fatalf("round trip of %q: %q %v", s, back, err)
		}
		// Decoding arbitrary input never panics, and what it accepts is
		// the encoding of its result.
		if dec, err := DecodeSegment(s); err == nil && EncodeSegment(dec) != s {
			t.Fatalf("DecodeSegment(%q) = %q does not re-encode", s, dec)
		}
	})
}

func FuzzParseEntryID(f *testing.F) {
	for _, s := range []string{"1-0", "42-0", "0-0", "1-1", "-", "99999999999999999999-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseEntryID(s)
		if err == nil && !strings.HasSuffix(s, "-0") {
			t.Fatalf("ParseEntryID(%q) = %d without -0", s, n)
		}
	})
}

func FuzzParseChannelRecord(f *testing.F) {
	f.Add("science:general", `{"created_by":"system","created_at":"2026-03-01T12:00:00.000Z","hardcoded":true,"implicit":false,"description":null}`)
	f.Add("a:b", `{}`)
	f.Add("nocolon", `{"created_at":"x"}`)
	f.Fuzz(func(t *testing.T, field, value string) {
		meta, ok := parseChannelRecord(field, value)
		if ok && (meta.Room == "" || meta.Channel == "" || strings.Contains(meta.Room, ":")) {
			t.Fatalf("accepted %q as %+v", field, meta)
		}
	})
}
