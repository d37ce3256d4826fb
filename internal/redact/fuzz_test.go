package redact

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzRedactURL: URL never panics, is idempotent, and what it returns never
// carries a password or a secret query parameter value when parsed again.
func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{
		"redis://:pw@db:6379/0", "redis://u:p@h/0?token=t&x=1", "nats://tok@h:4222", "ws://h/ws?access_token=a#jwt=b",
		"http://[::1]:80/?%74oken=x", "mailto:a@b", "//u:p@h", "", "::", "redis://:p@ss@db", "http://h/?a=1;token=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := URL(raw)
		if again := URL(out); out != InvalidURL && again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", raw, out, again)
		}
		in, err := url.Parse(raw)
		if err != nil {
			if out != InvalidURL {
				t.Fatalf("unparsable %q gave %q", raw, out)
			}
			return
		}
		if out == InvalidURL {
			t.Fatalf("parsable %q gave %q", raw, out)
		}
		u, err := url.Parse(out)
		if err != nil {
			t.Fatalf("output %q of %q does not parse: %v", out, raw, err)
		}
		if p, ok := u.User.Password(); ok && p != Mask {
			t.Fatalf("password %q survives in %q", p, out)
		}
		if in.User != nil && in.User.Username() != "" {
			if _, hadPassword := in.User.Password(); !hadPassword && u.User.Username() != Mask {
				t.Fatalf("bare user info survives in %q", out)
			}
		}
		for _, part := range []string{u.RawQuery, u.EscapedFragment()} {
			for _, kv := range strings.Split(part, "&") {
				k, v, _ := strings.Cut(kv, "=")
				if name, err := url.QueryUnescape(k); err == nil && isSecretParam(name) && v != "" && v != Redacted {
					t.Fatalf("%s=%q survives in %q", name, v, out)
				}
			}
		}
	})
}

// FuzzText: Text never panics, is idempotent, and never lets a password of a
// well-formed URL embedded in text through.
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "token=abc", "x redis://:pw@h y", "eyJa.b.c", "nats://a:b@h1,nats://c:d@h2", "=", "://@"} {
		f.Add(s, "s3cretpw")
	}
	f.Fuzz(func(t *testing.T, text, pw string) {
		out := Text(text)
		if Text(out) != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", text, out, Text(out))
		}
		if len(pw) < 6 || strings.ContainsAny(pw, "/?#@\\\"'`<> \t\r\n") || strings.Contains(text, pw) || strings.Contains(pw, Mask) {
			return
		}
		embedded := text + " redis://user:" + pw + "@db:6379 " + text
		if got := Text(embedded); strings.Contains(got, pw) {
			t.Fatalf("password %q survives: %q", pw, got)
		}
	})
}
