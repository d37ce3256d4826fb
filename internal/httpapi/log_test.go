package httpapi

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the handler's log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAccessLogRedaction(t *testing.T) {
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFixture(t, func(o *Options) { o.Logger = logger })

	f.do("GET", "/status?token="+jwt+"&access_token=AT-1&auth_token=AU-2&API_KEY=AK-3&jwt=JW-4&room=science", "",
		"Authorization", "Bearer "+jwt)
	f.do("POST", "/admin/disconnect", `{"client_id":"`+clientID+`"}`, "X-API-Key", testKey)
	f.do("GET", "/nope?token="+jwt, "")

	out := buf.String()
	for _, secret := range []string{jwt, "AT-1", "AU-2", "AK-3", "JW-4", testKey} {
		if strings.Contains(out, secret) {
			t.Fatalf("log contains secret %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{
		`"level":"DEBUG","msg":"http request","component":"http","method":"GET"`,
		`token=REDACTED&access_token=REDACTED&auth_token=REDACTED&API_KEY=REDACTED&jwt=REDACTED&room=science`,
		`"route":"/status","status":200`,
		`"route":"unmatched","status":404`,
		`"msg":"admin disconnected client","component":"http","client_id":"` + clientID + `"`,
		`"duration_ms":`, `"remote_addr":`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

func TestAccessLogNotAtInfo(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	f := newFixture(t, func(o *Options) { o.Logger = logger })
	f.do("GET", "/health", "")
	if buf.String() != "" {
		t.Fatalf("access log at INFO level: %s", buf.String())
	}
}
