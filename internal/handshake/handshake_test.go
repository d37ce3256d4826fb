package handshake

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestLoopbackOrigin(t *testing.T) {
	for origin, want := range map[string]bool{
		"http://localhost:3000":       true,
		"http://LOCALHOST":            true,
		"http://127.0.0.1":            true,
		"https://127.9.9.9:8443/path": true,
		"http://[::1]:8080":           true,
		"https://evil.example":        false,
		"http://localhost.evil.com":   false,
		"http://127.0.0.1@evil.com":   false,
		"null":                        false,
		"":                            false,
		"http://10.0.0.1":             false,
	} {
		if got := LoopbackOrigin(origin); got != want {
			t.Errorf("LoopbackOrigin(%q) = %v, want %v", origin, got, want)
		}
	}
}

func TestRejectBodyIsByteExact(t *testing.T) {
	rec := httptest.NewRecorder()
	Reject(rec, http.StatusUnauthorized, "Unauthorized", "Missing bearer token")
	if got := rec.Body.String(); got != `{"error":"Unauthorized","details":"Missing bearer token"}` {
		t.Fatalf("body = %s", got)
	}
	if rec.Header().Get("WWW-Authenticate") != `Bearer realm="arqonbus"` || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("headers = %v", rec.Header())
	}
	rec = httptest.NewRecorder()
	Reject(rec, http.StatusForbidden, "Forbidden", "Cross-origin request refused")
	if rec.Header().Get("WWW-Authenticate") != "" || rec.Code != 403 {
		t.Fatalf("403 carries a challenge or wrong code: %d %v", rec.Code, rec.Header())
	}
}
