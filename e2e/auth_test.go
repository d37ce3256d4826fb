package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/auth"
)

// mintHS signs claims with HS256 and the shared secret.
func mintHS(t testing.TB, claims map[string]any) string {
	t.Helper()
	return mintWith(t, "HS256", []byte(jwtSecret), claims)
}

func mintWith(t testing.TB, alg string, key any, claims map[string]any) string {
	t.Helper()
	tok, err := auth.Sign(alg, key, claims)
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return tok
}

// unsignedToken builds an alg:none token by hand.
func unsignedToken(claims map[string]any) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "."
}

func hourExp() int64 { return time.Now().Add(time.Hour).Unix() }

// expectExact401 checks the byte-exact 401 of PROTOCOL.md §3.3.
func expectExact401(t testing.TB, resp *http.Response, body []byte, details string) {
	t.Helper()
	if resp.StatusCode != 401 || resp.Status != "401 Unauthorized" || resp.Proto != "HTTP/1.1" {
		t.Errorf("status line = %s %q, want HTTP/1.1 401 Unauthorized", resp.Proto, resp.Status)
	}
	if got := resp.Header.Values("Content-Type"); len(got) != 1 || got[0] != "application/json" {
		t.Errorf("Content-Type = %q, want [application/json]", got)
	}
	if got := resp.Header.Values("Www-Authenticate"); len(got) != 1 || got[0] != `Bearer realm="arqonbus"` {
		t.Errorf("WWW-Authenticate = %q, want [Bearer realm=\"arqonbus\"]", got)
	}
	want := `{"error":"Unauthorized","details":"` + details + `"}`
	if string(body) != want {
		t.Errorf("body = %q, want %q", body, want)
	}
	if resp.Header.Get("Sec-Websocket-Accept") != "" {
		t.Errorf("401 response carries Sec-WebSocket-Accept")
	}
}

// productionServer is the shared production-profile server (auth on).
func productionServer(t testing.TB) *server {
	return shared(t, "production", env{
		"ARQONBUS_ENVIRONMENT":     "production",
		"ARQONBUS_ENABLE_AUTH":     "true",
		"ARQONBUS_AUTH_JWT_SECRET": jwtSecret,
		"ARQONBUS_ADMIN_API_KEY":   adminAPIKey,
		"ARQONBUS_SERVER_HOST":     "127.0.0.1",
		"ARQONBUS_SERVER_PORT":     "0",
		"ARQONBUS_STORAGE_MODE":    "degraded",
		"ARQONBUS_HTTP_PORT":       "0",
	})
}

func TestAdversarialAuthRejections(t *testing.T) {
	t.Parallel()
	s := authServer(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]any{"sub": "alice", "exp": hourExp()}
	cases := []struct {
		name    string
		header  http.Header
		target  string
		details string
	}{
		{"no token", nil, "/ws", "Missing bearer token"},
		{"non-bearer scheme only", http.Header{"Authorization": {"Basic YWxhZGRpbjpvcGVu"}}, "/", "Missing bearer token"},
		{"empty query token", nil, "/ws?token=", "Missing bearer token"},
		{"garbage", http.Header{"Authorization": {"Bearer not-a-jwt"}}, "/ws", "Invalid token"},
		{"two segments", http.Header{"Authorization": {"Bearer eyJhbGciOiJIUzI1NiJ9.e30"}}, "/ws", "Invalid token"},
		{"wrong secret", http.Header{"Authorization": {"Bearer " + mintWith(t, "HS256", []byte("another-secret-another-secret-xx"), good)}}, "/ws", "Invalid token"},
		{"expired", http.Header{"Authorization": {"Bearer " + mintHS(t, map[string]any{"exp": time.Now().Add(-5 * time.Second).Unix()})}}, "/ws", "Invalid token"},
		{"nbf in future", http.Header{"Authorization": {"Bearer " + mintHS(t, map[string]any{"nbf": time.Now().Add(time.Hour).Unix(), "exp": hourExp() + 60})}}, "/ws", "Invalid token"},
		{"iat in future", http.Header{"Authorization": {"Bearer " + mintHS(t, map[string]any{"iat": time.Now().Add(time.Hour).Unix(), "exp": hourExp() + 60})}}, "/ws", "Invalid token"},
		{"exp as string", http.Header{"Authorization": {"Bearer " + mintHS(t, map[string]any{"exp": "9999999999"})}}, "/ws", "Invalid token"},
		{"exp as boolean", http.Header{"Authorization": {"Bearer " + mintHS(t, map[string]any{"exp": true})}}, "/ws", "Invalid token"},
		{"role not a string", http.Header{"Authorization": {"Bearer " + mintHS(t, map[string]any{"role": 1, "exp": hourExp()})}}, "/ws", "Invalid token"},
		{"sub not a string", http.Header{"Authorization": {"Bearer " + mintHS(t, map[string]any{"sub": 7, "exp": hourExp()})}}, "/ws", "Invalid token"},
		{"tenant with space", http.Header{"Authorization": {"Bearer " + mintHS(t, map[string]any{"tenant_id": "a b", "exp": hourExp()})}}, "/ws", "Invalid token"},
		{"wrong alg HS384", http.Header{"Authorization": {"Bearer " + mintWith(t, "HS384", []byte(jwtSecret), good)}}, "/ws", "Invalid token"},
		{"wrong alg HS512", http.Header{"Authorization": {"Bearer " + mintWith(t, "HS512", []byte(jwtSecret), good)}}, "/ws", "Invalid token"},
		{"wrong alg ES256", http.Header{"Authorization": {"Bearer " + mintWith(t, "ES256", ecKey, good)}}, "/ws", "Invalid token"},
		{"alg none", http.Header{"Authorization": {"Bearer " + unsignedToken(good)}}, "/ws", "Invalid token"},
		{"bad header beats good query", http.Header{"Authorization": {"Bearer not-a-jwt"}}, "/ws?token=" + mintHS(t, good), "Invalid token"},
		{"bad query token", nil, "/ws?access_token=abc.def.ghi", "Invalid token"},
		{"bad subprotocol token", http.Header{"Sec-Websocket-Protocol": {"arqonbus.v1, bearer.abc.def.ghi"}}, "/ws", "Invalid token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawHandshake(t, s, tc.target, tc.header, true)
			expectExact401(t, resp, body, tc.details)
		})
	}
}

func TestAuthTokenSources(t *testing.T) {
	t.Parallel()
	s := authServer(t)
	tok := mintHS(t, map[string]any{"sub": "alice", "exp": hourExp()})
	cases := []struct {
		name string
		opts dialOpts
	}{
		{"header", dialOpts{header: http.Header{"Authorization": {"Bearer " + tok}}}},
		{"header scheme case-insensitive", dialOpts{header: http.Header{"Authorization": {"bEaReR " + tok}}}},
		{"basic header ignored, query used", dialOpts{header: http.Header{"Authorization": {"Basic YWxhZGRpbjpvcGVu"}}, query: url.Values{"token": {tok}}}},
		{"token", dialOpts{query: url.Values{"token": {tok}}}},
		{"access_token", dialOpts{query: url.Values{"access_token": {tok}}}},
		{"auth_token", dialOpts{query: url.Values{"auth_token": {tok}}}},
		{"first non-empty query", dialOpts{query: url.Values{"token": {""}, "auth_token": {tok}}}},
		{"token before access_token", dialOpts{query: url.Values{"token": {tok}, "access_token": {"abc.def.ghi"}}}},
		{"subprotocol", dialOpts{subprotocols: []string{"bearer." + tok, "arqonbus.v1"}}},
		{"any path", dialOpts{path: "/some/other/path", query: url.Values{"token": {tok}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, s, tc.opts)
			if !reClientID.MatchString(c.id()) {
				t.Errorf("welcome = %v", c.welcome)
			}
			for _, p := range c.resp.Header.Values("Sec-Websocket-Protocol") {
				if len(p) >= 7 && p[:7] == "bearer." {
					t.Errorf("server echoed a bearer subprotocol: %q", p)
				}
			}
		})
	}
}

func TestAuthIdentityInWelcomeAndStatus(t *testing.T) {
	t.Parallel()
	s := authServer(t)
	tenant := uniq("tn")
	c := dial(t, s, dialOpts{token: mintHS(t, map[string]any{"sub": "bob", "role": "ADMIN", "tenant_id": tenant, "exp": hourExp()}),
		query: url.Values{"client_type": {"ai-agent"}, "screen_name": {"Bob Bot"}}})
	// The spec fixes only that "ADMIN" makes the connection admin, not
	// whether the reported role is lower-cased.
	role := c.welcome.str("payload.role")
	if (role != "admin" && role != "ADMIN") || c.welcome.str("payload.tenant_id") != tenant ||
		c.welcome.str("payload.client_type") != "ai-agent" || c.welcome.str("payload.screen_name") != "Bob Bot" {
		t.Errorf("welcome = %v", c.welcome)
	}
	resp := c.mustOK("status", nil)
	cl := frame(mustObj(t, resp, "payload.data.client"))
	want := map[string]any{"client_id": c.id(), "client_type": "ai-agent", "screen_name": "Bob Bot", "subject": "bob",
		"role": role, "admin": true, "tenant_id": tenant, "subscriptions": []any{}}
	for k, v := range want {
		if !jsonEq(cl[k], v) {
			t.Errorf("status client.%s = %v, want %v", k, cl[k], v)
		}
	}
	// Admin rights apply inside the tenant: create_channel works.
	c.mustOK("create_channel", map[string]any{"room": "adm", "channel": "c1"})

	plain := dial(t, s, dialOpts{token: mintHS(t, map[string]any{"exp": hourExp()})})
	if plain.welcome.str("payload.role") != "user" {
		t.Errorf("token without role: welcome role = %q", plain.welcome.str("payload.role"))
	}
}

func TestAuthTokenExpiresDuringSession(t *testing.T) {
	t.Parallel()
	s := authServer(t)
	c := dial(t, s, dialOpts{token: mintHS(t, map[string]any{"sub": "short", "exp": time.Now().Add(2 * time.Second).Unix()})})
	ci, frames := c.expectClosed(6 * time.Second)
	if ci.code != 4401 || ci.text != "token expired" {
		t.Errorf("close = %d %q (%v), want 4401 \"token expired\"; frames %v", ci.code, ci.text, ci.err, frames)
	}
}

func TestAuthCheckOrder(t *testing.T) {
	t.Parallel()
	s := authServer(t)
	// Authentication (check 3) comes before query validation (check 4).
	resp, body := rawHandshake(t, s, "/ws?client_type=robot", nil, true)
	expectExact401(t, resp, body, "Missing bearer token")
	// With a valid token the bad query gives 400.
	tok := mintHS(t, map[string]any{"exp": hourExp()})
	resp, body = rawHandshake(t, s, "/ws?client_type=robot", http.Header{"Authorization": {"Bearer " + tok}}, true)
	expectRejection(t, resp, body, 400, "Bad Request", "Invalid client_type")
	// With auth on, Origin is not checked.
	c := dial(t, s, dialOpts{token: tok, header: http.Header{"Origin": {"https://evil.example"}}})
	if c.id() == "" {
		t.Errorf("no welcome")
	}
}

func TestAdversarialTenantIsolation(t *testing.T) {
	t.Parallel()
	s := authServer(t)
	tenantA, tenantB := uniq("ta"), uniq("tb")
	tokA := mintHS(t, map[string]any{"tenant_id": tenantA, "exp": hourExp()})
	tokB := mintHS(t, map[string]any{"tenant_id": tenantB, "exp": hourExp()})
	a1 := dial(t, s, dialOpts{token: tokA})
	a2 := dial(t, s, dialOpts{token: tokA})
	b := dial(t, s, dialOpts{token: tokB})
	bAdmin := dial(t, s, dialOpts{token: mintHS(t, map[string]any{"tenant_id": tenantB, "role": "admin", "exp": hourExp()})})

	// Messages: same room names, different streams.
	a2.join("science", "general")
	b.join("science", "general")
	bAdmin.join("science", "general")
	ack := a1.publish("science", "general", map[string]any{"secret": "a"})
	if got := a2.next(); got.str("id") != ack.str("id") {
		t.Errorf("same-tenant subscriber got %v", got)
	}
	b.expectNone(quietWait)
	bAdmin.expectNone(10 * time.Millisecond)
	b.publish("science", "general", map[string]any{"secret": "b"})
	if got := bAdmin.next(); got.str("payload.secret") != "b" {
		t.Errorf("tenant B subscriber got %v", got)
	}
	a2.expectNone(quietWait)
	if ack.num("metadata.offset") != 1 {
		t.Errorf("first message of tenant A's stream has offset %v, want 1", ack["metadata"])
	}

	// Private: a client of another tenant is not found, for admins too.
	for _, sender := range []*wsClient{b, bAdmin} {
		sender.send(map[string]any{"id": "arq_iso_p", "type": "private", "to_client": a1.id(), "payload": map[string]any{}})
		sender.expectError("TARGET_NOT_FOUND", "Target client '"+a1.id()+"' is not connected", "arq_iso_p")
	}
	a1.expectNone(quietWait)

	// Rooms, channels and channel_info.
	room := uniq("isoroom")
	a1.join(room, "c")
	a1.publish(room, "c", map[string]any{"n": 1})
	rooms := b.mustOK("list_rooms", nil)
	if names := roomNames(t, rooms); !jsonEq(names, []string{"integriguard", "science"}) {
		t.Errorf("tenant B list_rooms = %v", names)
	}
	b.expectCmdError("channel_info", map[string]any{"room": room, "channel": "c"}, "NOT_FOUND", "Channel '"+room+":c' not found")
	bAdmin.expectCmdError("list_channels", map[string]any{"room": room}, "NOT_FOUND", "Room '"+room+"' not found")
	info := b.mustOK("channel_info", map[string]any{"room": "science", "channel": "general"})
	if n, _ := info.get("payload.data.member_count"); !jsonEq(n, 2) {
		t.Errorf("tenant B science:general member_count = %v, want 2", n)
	}

	// The other way round: tenant B's channels are invisible to tenant A.
	roomB := uniq("isoroomb")
	bAdmin.mustOK("create_channel", map[string]any{"room": roomB, "channel": "c"})
	if names := roomNames(t, a1.mustOK("list_rooms", nil)); len(names) != 3 || names[0] != "integriguard" || names[2] != "science" {
		t.Errorf("tenant A list_rooms = %v, want integriguard, %s, science", names, room)
	}
	a1.expectCmdError("channel_info", map[string]any{"room": roomB, "channel": "c"}, "NOT_FOUND", "Channel '"+roomB+":c' not found")

	// History.
	h := bAdmin.mustOK("history", map[string]any{"room": room, "channel": "c"})
	if d := frame(mustObj(t, h, "payload.data")); d.num("count") != 0 || d["epoch"] != nil || d.num("offset") != 0 || !jsonEq(d["messages"], []any{}) {
		t.Errorf("tenant B history of tenant A's channel = %v", d)
	}
	g := bAdmin.mustOK("history", map[string]any{})
	if d := frame(mustObj(t, g, "payload.data")); !noMessageFrom(d, a1.id(), room) {
		t.Errorf("tenant B admin global history shows other tenants' messages: %v", d)
	}

	// status counts only the caller's tenant.
	st := b.mustOK("status", nil)
	if v, _ := st.get("payload.data.tenant.clients"); !jsonEq(v, 2) {
		t.Errorf("tenant B status tenant.clients = %v, want 2", v)
	}
}

func roomNames(t testing.TB, resp frame) []string {
	t.Helper()
	rooms, _ := resp.get("payload.data.rooms")
	list, _ := rooms.([]any)
	names := []string{}
	for _, r := range list {
		m, _ := r.(map[string]any)
		names = append(names, asString(m["room"]))
	}
	return names
}

// noMessageFrom reports whether a history result holds nothing sent by
// sender, nothing routed to room and no payload mentioning sender.
func noMessageFrom(d frame, sender, room string) bool {
	msgs, _ := d["messages"].([]any)
	for _, m := range msgs {
		mm, _ := m.(map[string]any)
		if mm["sender"] == sender || mm["room"] == room || strings.Contains(frame(mm).String(), sender) {
			return false
		}
	}
	return true
}

func mustObj(t testing.TB, f frame, path string) map[string]any {
	t.Helper()
	v, ok := f.get(path)
	m, isObj := v.(map[string]any)
	if !ok || !isObj {
		t.Fatalf("%s is %v, want an object (frame %v)", path, v, f)
	}
	return m
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
