package httpapi

import "testing"

func TestCORSOff(t *testing.T) {
	f := newFixture(t, nil)
	rec := f.do("GET", "/status", "", "Origin", "https://dash.example.com")
	if rec.Code != 200 || rec.Header().Get("Access-Control-Allow-Origin") != "" || rec.Header().Get("Vary") != "" {
		t.Fatalf("CORS headers with CORS off: %d %v", rec.Code, rec.Header())
	}
	if rec := f.do("OPTIONS", "/status", "", "Origin", "https://dash.example.com"); rec.Code != 405 {
		t.Fatalf("OPTIONS with CORS off = %d, want 405", rec.Code)
	}
}

func TestCORS(t *testing.T) {
	const allowed = "https://dash.example.com"
	tests := []struct {
		name        string
		origins     []string
		method      string
		path        string
		origin      string
		code        int
		allowOrigin string
		vary        bool
	}{
		{"matching GET", []string{allowed}, "GET", "/status", allowed, 200, allowed, true},
		{"matching GET, configured with slash and case", []string{" HTTPS://Dash.Example.com/ "}, "GET", "/metrics", allowed, 200, allowed, true},
		{"matching GET on an error", []string{allowed}, "GET", "/ready", allowed, 503, allowed, true},
		{"other origin", []string{allowed}, "GET", "/status", "https://evil.example", 200, "", true},
		{"no origin", []string{allowed}, "GET", "/status", "", 200, "", true},
		{"null origin", []string{allowed}, "GET", "/status", "null", 200, "", true},
		{"wildcard", []string{"*"}, "GET", "/ready", "https://any.example", 200, "https://any.example", true},
		{"preflight matching", []string{allowed}, "OPTIONS", "/status", allowed, 204, allowed, true},
		{"preflight other origin", []string{allowed}, "OPTIONS", "/status", "https://evil.example", 204, "", true},
		{"POST is not CORS", []string{allowed}, "POST", "/status", allowed, 405, "", true},
		{"admin GET", []string{allowed}, "GET", "/admin/config", allowed, 200, "", false},
		{"admin preflight", []string{allowed}, "OPTIONS", "/admin/shutdown", allowed, 405, "", false},
		{"admin POST", []string{allowed}, "POST", "/admin/restart", allowed, 501, "", false},
		{"unknown path", []string{allowed}, "OPTIONS", "/nope", allowed, 404, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.CORSOrigins = tc.origins })
			if tc.code == 503 {
				f.src.ready.Checks.Shutdown = ShutdownCheckFor(true)
			}
			hdr := []string{"X-API-Key", testKey}
			if tc.origin != "" {
				hdr = append(hdr, "Origin", tc.origin, "Access-Control-Request-Method", "GET")
			}
			rec := f.do(tc.method, tc.path, "", hdr...)
			if rec.Code != tc.code {
				t.Fatalf("code = %d, want %d", rec.Code, tc.code)
			}
			h := rec.Header()
			if got := h.Get("Access-Control-Allow-Origin"); got != tc.allowOrigin {
				t.Fatalf("Access-Control-Allow-Origin = %q, want %q", got, tc.allowOrigin)
			}
			if got := h.Get("Vary") == "Origin"; got != tc.vary {
				t.Fatalf("Vary = %q, want Origin: %v", h.Get("Vary"), tc.vary)
			}
			if tc.code == 204 && rec.Body.Len() != 0 {
				t.Fatalf("204 with body %q", rec.Body)
			}
			if tc.code == 204 && tc.allowOrigin != "" && h.Get("Access-Control-Allow-Methods") != "GET, HEAD" {
				t.Fatalf("Access-Control-Allow-Methods = %q", h.Get("Access-Control-Allow-Methods"))
			}
			if tc.code == 405 && !tc.vary && h.Get("Access-Control-Allow-Methods") != "" {
				t.Fatal("admin 405 carries CORS headers")
			}
		})
	}
}
