package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const (
	bodyForbidden    = `{"error":"Forbidden","details":"Admin API disabled: set ARQONBUS_ADMIN_API_KEY"}`
	bodyUnauthorized = `{"error":"Unauthorized","details":"Valid X-API-Key required"}`
	bodyBadRequest   = `{"error":"Bad Request","details":"client_id is required"}`
	clientID         = "arq_client_00112233445566778899aabbccddeeff"
)

var adminRoutes = []struct{ method, path string }{
	{"GET", "/admin/config"},
	{"POST", "/admin/shutdown"},
	{"POST", "/admin/restart"},
	{"POST", "/admin/disconnect"},
}

// TestRegressionAdminAuth pins an upstream defect (OPERATIONS.md §12): the
// admin API was open by default. It needs the X-API-Key and is disabled (403)
// without a configured key.
func TestRegressionAdminAuth(t *testing.T) {
	tests := []struct {
		name   string
		key    string // configured key; "" = unset
		header []string
		code   int
		body   string // exact body for 401/403
	}{
		{"no key configured, no header", "", nil, 403, bodyForbidden},
		{"no key configured, header sent", "", []string{"X-API-Key", testKey}, 403, bodyForbidden},
		{"no key configured, empty header", "", []string{"X-API-Key", ""}, 403, bodyForbidden},
		{"missing header", testKey, nil, 401, bodyUnauthorized},
		{"empty header", testKey, []string{"X-API-Key", ""}, 401, bodyUnauthorized},
		{"wrong key", testKey, []string{"X-API-Key", "nope"}, 401, bodyUnauthorized},
		{"prefix of key", testKey, []string{"X-API-Key", testKey[:len(testKey)-1]}, 401, bodyUnauthorized},
		{"key plus suffix", testKey, []string{"X-API-Key", testKey + "x"}, 401, bodyUnauthorized},
		{"different case value", testKey, []string{"X-API-Key", strings.ToUpper(testKey)}, 401, bodyUnauthorized},
		{"key in Authorization", testKey, []string{"Authorization", "Bearer " + testKey}, 401, bodyUnauthorized},
		{"exact header", testKey, []string{"X-API-Key", testKey}, 0, ""},
		{"lower-case header name", testKey, []string{"x-api-key", testKey}, 0, ""},
		{"upper-case header name", testKey, []string{"X-API-KEY", testKey}, 0, ""},
	}
	for _, tc := range tests {
		for _, rt := range adminRoutes {
			t.Run(tc.name+" "+rt.path, func(t *testing.T) {
				f := newFixture(t, func(o *Options) { o.AdminAPIKey = tc.key })
				req := f.do(rt.method, rt.path, `{"client_id":"`+clientID+`"}`, tc.header...)
				if tc.code != 0 {
					expectError(t, req, tc.code, tc.body)
					if f.src.shutdowns != 0 || len(f.src.disconnected) != 0 {
						t.Fatal("admin action ran without authorisation")
					}
					return
				}
				if req.Code == 401 || req.Code == 403 {
					t.Fatalf("authorised request refused: %d %s", req.Code, req.Body)
				}
				if rt.path == "/admin/shutdown" {
					waitShutdown(t, f.src)
				}
			})
		}
	}
}

func waitShutdown(t *testing.T, src *fakeSource) {
	t.Helper()
	select {
	case <-src.shutdownCh:
	case <-time.After(time.Second): // §6.2: shutdown starts within 1 s
		t.Fatal("Shutdown was not called within 1 s of POST /admin/shutdown")
	}
}

func TestAdminConfig(t *testing.T) {
	f := newFixture(t, nil)
	rec := f.do("GET", "/admin/config", "", "X-API-Key", testKey)
	if rec.Code != 200 {
		t.Fatalf("code = %d", rec.Code)
	}
	b := jsonBody(t, rec)
	cfg := b["config"].(map[string]any)
	if b["environment"] != "staging" || cfg["ARQONBUS_HTTP_PORT"] != float64(8080) ||
		cfg["ARQONBUS_ADMIN_API_KEY"] != "***" || cfg["ARQONBUS_AUTH_JWT_SECRET"] != nil {
		t.Fatalf("body = %v", b)
	}
	if _, ok := cfg["ARQONBUS_AUTH_JWT_SECRET"]; !ok {
		t.Fatal("unset secret must be present as null")
	}
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("admin response carries CORS headers")
	}

	f.src.cfg = nil
	if got := f.do("GET", "/admin/config", "", "X-API-Key", testKey).Body.String(); got != `{"environment":"staging","config":{}}`+"\n" {
		t.Fatalf("nil config body = %q", got)
	}
}

func TestAdminShutdown(t *testing.T) {
	f := newFixture(t, nil)
	for i := 0; i < 2; i++ {
		rec := f.do("POST", "/admin/shutdown", "", "X-API-Key", testKey)
		if rec.Code != 200 {
			t.Fatalf("code = %d", rec.Code)
		}
		if got := rec.Body.String(); got != `{"status":"shutdown_initiated","message":"Server shutdown initiated"}`+"\n" {
			t.Fatalf("body = %q", got)
		}
		if i == 0 {
			waitShutdown(t, f.src)
		}
	}
	f.src.mu.Lock()
	defer f.src.mu.Unlock()
	if f.src.shutdowns != 1 {
		t.Fatalf("Shutdown called %d times, want 1", f.src.shutdowns)
	}
}

func TestAdminRestart(t *testing.T) {
	f := newFixture(t, nil)
	expectError(t, f.do("POST", "/admin/restart", ""), 401, bodyUnauthorized) // admin check first
	expectError(t, f.do("POST", "/admin/restart", "", "X-API-Key", testKey), 501,
		`{"error":"Not Implemented","details":"Restart is delegated to the process supervisor"}`)
}

func TestAdminDisconnect(t *testing.T) {
	pad := strings.Repeat(" ", maxDisconnectBody-len(`{"client_id":"`+clientID+`"}`))
	tests := []struct {
		name string
		body string
		code int
		want string
	}{
		{"connected client", `{"client_id":"` + clientID + `"}`, 200, `{"disconnected":true}`},
		{"extra keys ignored", `{"reason":"x","client_id":"` + clientID + `"}`, 200, `{"disconnected":true}`},
		{"exactly 4 KiB", `{"client_id":"` + clientID + `"}` + pad, 200, `{"disconnected":true}`},
		{"not connected", `{"client_id":"arq_client_ffff"}`, 404, `{"error":"Not Found","details":"Client 'arq_client_ffff' is not connected"}`},
		{"quote in id is escaped", `{"client_id":"a\"b"}`, 404, `{"error":"Not Found","details":"Client 'a\"b' is not connected"}`},
		{"empty body", ``, 400, bodyBadRequest},
		{"null", `null`, 400, bodyBadRequest},
		{"array", `[{"client_id":"x"}]`, 400, bodyBadRequest},
		{"string", `"` + clientID + `"`, 400, bodyBadRequest},
		{"no client_id", `{}`, 400, bodyBadRequest},
		{"numeric client_id", `{"client_id":5}`, 400, bodyBadRequest},
		{"null client_id", `{"client_id":null}`, 400, bodyBadRequest},
		{"empty client_id", `{"client_id":""}`, 400, bodyBadRequest},
		{"trailing data", `{"client_id":"` + clientID + `"} {}`, 400, bodyBadRequest},
		{"not json", `client_id=` + clientID, 400, bodyBadRequest},
		{"over 4 KiB", `{"client_id":"` + clientID + `"}` + pad + " ", 413, `{"error":"Request Entity Too Large","details":"Request body exceeds 4096 bytes"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			rec := f.do("POST", "/admin/disconnect", tc.body, "X-API-Key", testKey, "Content-Type", "application/json")
			expectError(t, rec, tc.code, tc.want)
			if tc.code == 200 && (len(f.src.disconnected) != 1 || f.src.disconnected[0] != clientID) {
				t.Fatalf("disconnected = %v", f.src.disconnected)
			}
			if tc.code != 200 && len(f.src.disconnected) != 0 {
				t.Fatalf("disconnected = %v", f.src.disconnected)
			}
		})
	}
}

func TestAdversarialParseDisconnectBody(t *testing.T) {
	for _, tc := range []struct {
		body string
		id   string
		ok   bool
	}{
		{`{"client_id":"a"}`, "a", true},
		{` {"client_id" : "a\u00e9"} ` + "\n", "aé", true},
		{`{"client_id":"a","client_id":"b"}`, "b", true},
		{`{"client_id":"a"`, "", false},
		{`{"client_id":["a"]}`, "", false},
		{`{"client_id":"a"}]`, "", false},
	} {
		id, ok := parseDisconnectBody([]byte(tc.body))
		if id != tc.id || ok != tc.ok {
			t.Errorf("parseDisconnectBody(%q) = %q,%v, want %q,%v", tc.body, id, ok, tc.id, tc.ok)
		}
	}
}

func FuzzParseDisconnectBody(f *testing.F) {
	for _, s := range []string{`{"client_id":"arq_client_1"}`, `{}`, `null`, `[]`, `{"client_id":1}`, `{"client_id":"a"} x`, `{"a":{"b":[1,2]},"client_id":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		id, ok := parseDisconnectBody(body)
		// Reference: the body is one JSON object with a non-empty string client_id.
		var ref map[string]any
		refID, refOK := "", false
		if json.Unmarshal(body, &ref) == nil && ref != nil {
			refID, refOK = ref["client_id"].(string)
			refOK = refOK && refID != ""
		}
		if ok != refOK || id != map[bool]string{true: refID}[refOK] {
			t.Fatalf("parseDisconnectBody(%q) = %q,%v; reference %q,%v", body, id, ok, refID, refOK)
		}
	})
}
