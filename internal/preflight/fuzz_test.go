package preflight

import (
	"strings"
	"testing"
)

func FuzzParseInfo(f *testing.F) {
	f.Add("# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n")
	f.Add("aof_enabled:1\n")
	f.Add(":::\n#\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		m := parseInfo(s)
		for k := range m {
			if strings.ContainsAny(k, "\n") {
				t.Fatalf("key with newline %q", k)
			}
		}
		name, _, _ := serverVersion(m)
		if name != "redis" && name != "valkey" {
			t.Fatalf("server name %q", name)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"6.2.0", "7.2", "1.26.8", "x", "", "99999999999.1.1", "7.0.15-rc1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		maj, min, patch, ok := parseVersion(s)
		if ok && (maj < 0 || min < 0 || patch < 0) {
			t.Fatalf("negative component for %q", s)
		}
	})
}

// FuzzParseArgs checks that no command line makes preflight's flag parser
// panic, and that a parse error is always a usage error.
func FuzzParseArgs(f *testing.F) {
	f.Add("--format\x00json\x00--timeout\x001.5")
	f.Add("--timeout\x00-1s")
	f.Add("--bus-http-url\x00http://[::1]:8080")
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		c, err := ParseArgs(args)
		if err == nil && c.Timeout <= 0 {
			t.Fatalf("accepted timeout %v", c.Timeout)
		}
	})
}

func TestVersionBounds(t *testing.T) {
	for _, tc := range []struct {
		info   map[string]string
		tooOld bool
	}{
		{map[string]string{"redis_version": "6.0.9"}, true},
		{map[string]string{"redis_version": "6.2.0"}, false},
		{map[string]string{"redis_version": "7.2.4", "server_name": "valkey", "valkey_version": "7.2.5"}, false},
		{map[string]string{"redis_version": "7.2.4", "valkey_version": "7.0.1"}, true},
	} {
		if _, _, got := serverVersion(tc.info); got != tc.tooOld {
			t.Errorf("%v: tooOld %v", tc.info, got)
		}
	}
}
