package operators

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// The argument parsers take client-controlled JSON. Each target checks that
// a parser never panics and that anything it accepts satisfies the limits of
// PROTOCOL.md §7.

func FuzzParseWebhookArgs(f *testing.F) {
	for _, s := range []string{
		`{"url":"http://example.com/x"}`,
		`{"url":"https://h:8443/p?q=1","room":"science","channel":"general","timeout_seconds":30,"headers":{"X-A":"b","N":1,"B":false}}`,
		`{"url":"http://x","channel":"a:b"}`, `{"url":"HTTP://X"}`, `{"url":"http://[::1]:0/"}`,
		`{"url":"http://x","headers":{"Host":"y"}}`, `{"url":"http://x","headers":{"X":"a\r\nb"}}`,
		`{"url":"http://x","timeout_seconds":1e999}`, `{"url":" http://x "}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := protocol.ParseArgs(raw)
		if err != nil {
			return
		}
		s, detail := parseWebhookArgs(a)
		if detail != "" {
			return
		}
		l := strings.ToLower(s.url)
		if !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
			t.Fatalf("accepted url %q", s.url)
		}
		if !(s.timeoutSeconds > 0 && s.timeoutSeconds <= maxWebhookTimeout) {
			t.Fatalf("accepted timeout %v", s.timeoutSeconds)
		}
		if (s.room != "" && !protocol.ValidName(s.room)) || (s.channel != "" && !protocol.ValidName(s.channel)) {
			t.Fatalf("accepted filters %q %q", s.room, s.channel)
		}
		for _, h := range s.headers {
			if !validHeaderName(h[0]) || !validHeaderValue(h[1]) {
				t.Fatalf("accepted header %q: %q", h[0], h[1])
			}
			for _, f := range forbiddenHeaders {
				if strings.EqualFold(f, h[0]) {
					t.Fatalf("accepted forbidden header %q", h[0])
				}
			}
		}
	})
}

func FuzzParseCronArgs(f *testing.F) {
	for _, s := range []string{
		`{"room":"science","channel":"general","payload":{}}`,
		`{"channel":"science:general","payload":{"a":1},"delay_seconds":0.1,"interval_seconds":0.1,"repeat_count":10000}`,
		`{"room":"r","channel":"c","payload":{},"repeat_count":2}`, `{"room":"r","channel":"c","payload":[]}`,
		`{"room":"r","channel":"c","payload":{},"repeat_count":1.0}`, `{"room":"r","channel":"c","payload":{},"delay_seconds":-0}`,
		`{"room":"r","channel":"c","payload":{},"repeat_count":1e30}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := protocol.ParseArgs(raw)
		if err != nil {
			return
		}
		s, detail := parseCronArgs(a)
		if detail != "" {
			return
		}
		if !protocol.ValidName(s.room) || !protocol.ValidName(s.channel) || len(s.payload) == 0 || s.payload[0] != '{' {
			t.Fatalf("accepted target/payload %q %q %s", s.room, s.channel, s.payload)
		}
		if !(s.delay > 0 && s.delay <= maxCronSeconds) || s.repeat < 1 || s.repeat > maxCronRepeats {
			t.Fatalf("accepted delay %v repeat %d", s.delay, s.repeat)
		}
		if s.hasInterval && !(s.interval >= minCronInterval && s.interval <= maxCronSeconds) {
			t.Fatalf("accepted interval %v", s.interval)
		}
		if s.repeat > 1 && !s.hasInterval {
			t.Fatal("accepted repeat without interval")
		}
	})
}

func FuzzParseStoreArgs(f *testing.F) {
	for _, s := range []string{
		`{"key":"k","value":1}`, `{"key":"k","value":null}`, `{"key":" k ","value":{"a":[1,2]},"namespace":"tenant:other"}`,
		`{"key":"k","value":"\u00e9","namespace":""}`, `{"key":1}`, `{}`,
	} {
		f.Add([]byte(s), "tenant-a")
	}
	f.Fuzz(func(t *testing.T, raw []byte, tenant string) {
		a, err := protocol.ParseArgs(raw)
		if err != nil {
			return
		}
		for _, op := range []string{"set", "get", "delete", "list"} {
			s, detail := parseStoreArgs(op, a, tenant)
			if detail != "" {
				continue
			}
			if s.namespace == "" || utf8.RuneCountInString(s.namespace) > maxNamespaceLen && s.namespace != "tenant:"+tenant {
				t.Fatalf("%s: accepted namespace %q", op, s.namespace)
			}
			if op != "list" && (s.key == "" || utf8.RuneCountInString(s.key) > maxStoreKeyLen) {
				t.Fatalf("%s: accepted key %q", op, s.key)
			}
			if op == "set" && (len(s.value) > maxStoreValue || !json.Valid(s.value) || string(s.value) == "null") {
				t.Fatalf("accepted value %q", s.value)
			}
		}
	})
}
