package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// httpClient talks to the ops API; no keep-alives, so nothing lingers.
var httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// httpDo performs a request against the ops API and returns status,
// headers and body.
func httpDo(t testing.TB, s *server, method, path string, header http.Header, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.httpAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// httpJSON performs a request and decodes a JSON object response, checking
// the content type and the trailing newline (OPERATIONS.md §6.1).
func httpJSON(t testing.TB, s *server, method, path string, header http.Header, body string) (int, frame) {
	t.Helper()
	status, h, b := httpDo(t, s, method, path, header, body)
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type = %q", method, path, ct)
	}
	if !strings.HasSuffix(string(b), "\n") {
		t.Errorf("%s %s: body does not end with a newline: %q", method, path, b)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil || f == nil {
		t.Fatalf("%s %s: body is not a JSON object: %q", method, path, b)
	}
	return status, f
}

// metricValue returns the value of one Prometheus sample from /metrics
// (0 when absent). labels is the exact label text without braces.
func metricValue(t testing.TB, s *server, name, labels string) float64 {
	t.Helper()
	status, _, b := httpDo(t, s, "GET", "/metrics", nil, "")
	if status != 200 {
		t.Fatalf("/metrics status %d", status)
	}
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1024*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, want+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, want+" ")), 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return v
		}
	}
	return 0
}

func TestHTTPHealth(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	status, f := httpJSON(t, s, "GET", "/health", nil, "")
	if status != 200 || f.str("status") != "healthy" || f.str("service") != "arqonbus" || !reTimestamp.MatchString(f.str("timestamp")) || len(f) != 3 {
		t.Errorf("/health = %d %v", status, f)
	}
}

func TestHTTPReady(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	status, f := httpJSON(t, s, "GET", "/ready", nil, "")
	if status != 200 || f.str("status") != "ready" || !reTimestamp.MatchString(f.str("timestamp")) {
		t.Errorf("/ready = %d %v", status, f)
	}
	checks := frame(mustObj(t, f, "checks"))
	if checks.str("storage.status") != "ok" || checks.str("storage.backend") != "memory" || checks.str("storage.mode") != "degraded" ||
		checks.str("nats.status") != "disabled" || checks.str("ollama.status") != "disabled" || checks.str("shutdown.status") != "ok" {
		t.Errorf("/ready checks = %v", checks)
	}
}

func TestHTTPVersion(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	c := dial(t, s, dialOpts{})
	status, f := httpJSON(t, s, "GET", "/version", nil, "")
	want := map[string]any{"service": "arqonbus", "version": c.welcome.str("payload.server_version"), "protocol": "1.0",
		"git_commit": "unknown", "build_date": "unknown", "go_version": goVersion}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("/version %s = %v, want %v", k, f[k], v)
		}
	}
	if status != 200 || !reTimestamp.MatchString(f.str("timestamp")) || len(f) != 7 {
		t.Errorf("/version = %d %v", status, f)
	}
}

func TestHTTPStatus(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	dial(t, s, dialOpts{})
	status, f := httpJSON(t, s, "GET", "/status", nil, "")
	_, v := httpJSON(t, s, "GET", "/version", nil, "")
	if status != 200 || f.str("status") != "healthy" || f.str("ready") != "ready" || f.str("service") != "arqonbus" ||
		f.str("version") != v.str("version") || f.str("environment") != "development" || !reTimestamp.MatchString(f.str("timestamp")) || f.num("uptime_seconds") < 0 {
		t.Errorf("/status = %d %v", status, f)
	}
	for _, k := range []string{"endpoints", "addresses", "clients", "rooms", "channels", "messages", "storage", "telemetry", "casil", "nats"} {
		if _, ok := f[k]; !ok {
			t.Errorf("/status lacks %q", k)
		}
	}
	if !jsonEq(f["endpoints"], map[string]any{"http": true, "websocket": true, "storage": true, "telemetry": false}) {
		t.Errorf("/status endpoints = %v", f["endpoints"])
	}
	if f.str("addresses.websocket") != "ws://"+s.busAddr+"/ws" || f.str("addresses.http") != "http://"+s.httpAddr {
		t.Errorf("/status addresses = %v (bus %s, http %s)", f["addresses"], s.busAddr, s.httpAddr)
	}
	if f.num("clients.active") < 1 {
		t.Errorf("/status clients = %v", f["clients"])
	}
	byType := mustObj(t, f, "clients.by_type")
	for _, ct := range []string{"human", "ai-agent", "dashboard", "service"} {
		if _, ok := byType[ct].(float64); !ok {
			t.Errorf("/status clients.by_type.%s = %v", ct, byType[ct])
		}
	}
	if !jsonEq(f["storage"], map[string]any{"backend": "memory", "mode": "degraded", "healthy": true, "degraded": false, "url": nil}) {
		t.Errorf("/status storage = %v", f["storage"])
	}
	if f.str("casil.mode") != "monitor" || f["casil"].(map[string]any)["enabled"] != false {
		t.Errorf("/status casil = %v", f["casil"])
	}
	if !jsonEq(f["nats"], map[string]any{"enabled": false, "connected": false}) {
		t.Errorf("/status nats = %v", f["nats"])
	}
	for _, k := range []string{"received_total", "delivered_total", "errors_total"} {
		if f.num("messages."+k) < 0 {
			t.Errorf("/status messages.%s = %v", k, f["messages"])
		}
	}
}

func TestHTTPMetricsMoveWithTraffic(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	status, h, body := httpDo(t, s, "GET", "/metrics", nil, "")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Errorf("/metrics = %d %q", status, h.Get("Content-Type"))
	}
	for _, name := range []string{"arqonbus_build_info", "arqonbus_uptime_seconds", "arqonbus_active_clients", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(string(body), "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if status, _, _ := httpDo(t, s, "GET", "/metrics/prometheus", nil, ""); status != 200 {
		t.Errorf("/metrics/prometheus status %d", status)
	}

	type sample struct{ name, labels string }
	watched := []sample{
		{"arqonbus_messages_received_total", `type="message"`},
		{"arqonbus_messages_received_total", `type="command"`},
		{"arqonbus_messages_received_total", `type="ping"`},
		{"arqonbus_messages_received_total", `type="invalid"`},
		{"arqonbus_messages_delivered_total", ""},
		{"arqonbus_websocket_connections_total", ""},
		{"arqonbus_errors_total", `code="VALIDATION_ERROR"`},
		{"arqonbus_errors_total", `code="UNKNOWN_COMMAND"`},
		{"arqonbus_connection_rejections_total", `reason="forbidden",server="bus"`},
		{"arqonbus_connection_rejections_total", `reason="bad_request",server="bus"`},
		{"arqonbus_connection_rejections_total", `reason="upgrade_required",server="bus"`},
	}
	before := map[sample]float64{}
	for _, w := range watched {
		before[w] = metricValue(t, s, w.name, w.labels)
	}
	_, jsonBefore := httpJSON(t, s, "GET", "/metrics.json", nil, "")

	room := uniq("met")
	a := dial(t, s, dialOpts{})
	b := dial(t, s, dialOpts{})
	b.join(room, "c")
	a.publish(room, "c", map[string]any{})
	b.next()
	a.sendRaw(`{"type":"ping"}`)
	a.next()
	a.sendRaw(`{"type":"bogus"}`)
	a.next()
	a.sendRaw(`{"type":`)
	a.next()
	a.command("no.such.command", nil)
	rawHandshake(t, s, "/ws", http.Header{"Origin": {"https://evil.example"}}, true)
	rawHandshake(t, s, "/ws?client_type=robot", nil, true)
	rawHandshake(t, s, "/ws", nil, false)

	for _, w := range watched {
		if after := metricValue(t, s, w.name, w.labels); after <= before[w] {
			t.Errorf("%s{%s} did not move: %v -> %v", w.name, w.labels, before[w], after)
		}
	}
	if v := metricValue(t, s, "arqonbus_active_clients", ""); v < 2 {
		t.Errorf("arqonbus_active_clients = %v", v)
	}

	_, j := httpJSON(t, s, "GET", "/metrics.json", nil, "")
	for _, k := range []string{"timestamp", "uptime_seconds", "active_clients", "websocket_connections_total", "messages_received_total",
		"messages_delivered_total", "errors_total", "rooms", "channels", "telemetry_connections", "storage_degraded", "casil_decisions", "commands"} {
		if _, ok := j[k]; !ok {
			t.Errorf("/metrics.json lacks %q", k)
		}
	}
	if j.num("messages_received_total") <= jsonBefore.num("messages_received_total") || j.num("messages_delivered_total") <= jsonBefore.num("messages_delivered_total") {
		t.Errorf("/metrics.json counters did not move: %v -> %v", jsonBefore, j)
	}
	if j.num("errors_total.UNKNOWN_COMMAND") < 1 || j.num("commands.join_channel.count") < 1 {
		t.Errorf("/metrics.json errors_total %v, commands %v", j["errors_total"], j["commands"])
	}
}

func TestHTTPStorageStats(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	c := dial(t, s, dialOpts{})
	c.publish(uniq("ss"), "c", map[string]any{})
	status, f := httpJSON(t, s, "GET", "/storage/stats", nil, "")
	if status != 200 || f.str("backend") != "memory" || f.str("mode") != "degraded" || f["healthy"] != true || f["degraded"] != false ||
		f["url"] != nil || f.num("history_size") != 500 || f.num("streams") < 1 || f.num("operations.append_ok") < 1 {
		t.Errorf("/storage/stats = %d %v", status, f)
	}
	for _, k := range []string{"history_ttl_seconds", "last_error", "last_error_at", "degraded_since"} {
		if _, ok := f[k]; !ok {
			t.Errorf("/storage/stats lacks %q", k)
		}
	}
	for _, k := range []string{"append_ok", "append_error", "read_ok", "read_error", "fallback_appends"} {
		if f.num("operations."+k) < 0 {
			t.Errorf("/storage/stats operations.%s missing", k)
		}
	}
}

func TestHTTPErrorsAndTelemetryDisabled(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	status, f := httpJSON(t, s, "GET", "/no/such/path", nil, "")
	if status != 404 || !jsonEq(f, map[string]any{"error": "Not Found"}) {
		t.Errorf("unknown path = %d %v", status, f)
	}
	st, h, b := httpDo(t, s, "POST", "/health", nil, "")
	if st != 405 || h.Get("Allow") == "" || strings.TrimSpace(string(b)) != `{"error":"Method Not Allowed"}` {
		t.Errorf("POST /health = %d Allow %q %s", st, h.Get("Allow"), b)
	}
	if status, _, _ := httpDo(t, s, "GET", "/telemetry/stats", nil, ""); status != 404 {
		t.Errorf("/telemetry/stats with telemetry disabled = %d, want 404", status)
	}
}

func TestAdversarialHTTPAdminAuth(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	for _, h := range []http.Header{nil, {"X-Api-Key": {"wrong"}}} {
		status, f := httpJSON(t, s, "GET", "/admin/config", h, "")
		if status != 401 || !jsonEq(f, map[string]any{"error": "Unauthorized", "details": "Valid X-API-Key required"}) {
			t.Errorf("admin with %v = %d %v", h, status, f)
		}
	}
	status, f := httpJSON(t, s, "GET", "/admin/config", http.Header{"x-api-key": {adminAPIKey}}, "")
	cfg := mustObj(t, f, "config")
	if status != 200 || f.str("environment") != "development" || cfg["ARQONBUS_ADMIN_API_KEY"] != "***" || cfg["ARQONBUS_AUTH_JWT_SECRET"] != nil {
		t.Errorf("/admin/config = %d environment %v, key %v, secret %v", status, f["environment"], cfg["ARQONBUS_ADMIN_API_KEY"], cfg["ARQONBUS_AUTH_JWT_SECRET"])
	}
	if _, _, raw := httpDo(t, s, "GET", "/admin/config", http.Header{"X-Api-Key": {adminAPIKey}}, ""); strings.Contains(string(raw), adminAPIKey) {
		t.Errorf("/admin/config shows the admin key")
	}
	status, f = httpJSON(t, s, "POST", "/admin/restart", http.Header{"X-Api-Key": {adminAPIKey}}, "")
	if status != 501 || !jsonEq(f, map[string]any{"error": "Not Implemented", "details": "Restart is delegated to the process supervisor"}) {
		t.Errorf("/admin/restart = %d %v", status, f)
	}
	status, f = httpJSON(t, s, "POST", "/admin/restart", nil, "")
	if status != 401 {
		t.Errorf("/admin/restart without key = %d %v", status, f)
	}
}

// TestRegressionHTTPAdminDisabledWithoutKey pins an upstream defect
// (OPERATIONS.md §12): the admin API was open by default. Without
// ARQONBUS_ADMIN_API_KEY it is disabled.
func TestRegressionHTTPAdminDisabledWithoutKey(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, path := range []string{"/admin/config", "/admin/shutdown", "/admin/disconnect"} {
		method := "POST"
		if path == "/admin/config" {
			method = "GET"
		}
		status, f := httpJSON(t, s, method, path, http.Header{"X-Api-Key": {"anything"}}, `{"client_id":"x"}`)
		if status != 403 || !jsonEq(f, map[string]any{"error": "Forbidden", "details": "Admin API disabled: set ARQONBUS_ADMIN_API_KEY"}) {
			t.Errorf("%s %s = %d %v", method, path, status, f)
		}
	}
	// The server is still running.
	if status, _ := httpJSON(t, s, "GET", "/health", nil, ""); status != 200 {
		t.Errorf("/health after refused admin calls = %d", status)
	}
}

func TestHTTPAdminDisconnect(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	victim := dial(t, s, dialOpts{})
	key := http.Header{"X-Api-Key": {adminAPIKey}}
	for _, body := range []string{"", "[]", `{"client_id":5}`, `{}`, "not json"} {
		status, f := httpJSON(t, s, "POST", "/admin/disconnect", key, body)
		if status != 400 || !jsonEq(f, map[string]any{"error": "Bad Request", "details": "client_id is required"}) {
			t.Errorf("disconnect body %q = %d %v", body, status, f)
		}
	}
	ghost := "arq_client_00000000000000000000000000000000"
	status, f := httpJSON(t, s, "POST", "/admin/disconnect", key, `{"client_id":"`+ghost+`"}`)
	if status != 404 || !jsonEq(f, map[string]any{"error": "Not Found", "details": "Client '" + ghost + "' is not connected"}) {
		t.Errorf("disconnect unknown = %d %v", status, f)
	}
	status, f = httpJSON(t, s, "POST", "/admin/disconnect", nil, `{"client_id":"`+victim.id()+`"}`)
	if status != 401 {
		t.Errorf("disconnect without key = %d %v", status, f)
	}
	status, f = httpJSON(t, s, "POST", "/admin/disconnect", key, `{"client_id":"`+victim.id()+`"}`)
	if status != 200 || !jsonEq(f, map[string]any{"disconnected": true}) {
		t.Errorf("disconnect = %d %v", status, f)
	}
	victim.expectCloseCode(1008, "policy violation")
}

func TestAdversarialHTTPAdminDisconnectAcrossTenants(t *testing.T) {
	t.Parallel()
	s := productionServer(t)
	c := dial(t, s, dialOpts{token: mintHS(t, map[string]any{"tenant_id": uniq("pt"), "exp": hourExp()})})
	status, f := httpJSON(t, s, "POST", "/admin/disconnect", http.Header{"X-Api-Key": {adminAPIKey}}, `{"client_id":"`+c.id()+`"}`)
	if status != 200 || !jsonEq(f, map[string]any{"disconnected": true}) {
		t.Errorf("disconnect = %d %v", status, f)
	}
	c.expectCloseCode(1008, "policy violation")
	// The production profile logs JSON and reports its environment.
	_, st := httpJSON(t, s, "GET", "/status", nil, "")
	if st.str("environment") != "production" {
		t.Errorf("/status environment = %v", st["environment"])
	}
}

// metricLines returns the /metrics lines of the named metrics (for failure
// messages).
func metricLines(t testing.TB, s *server, names ...string) string {
	t.Helper()
	_, _, b := httpDo(t, s, "GET", "/metrics", nil, "")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, n := range names {
			if strings.HasPrefix(line, n) {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "\n")
}
