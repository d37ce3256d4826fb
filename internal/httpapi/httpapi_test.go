package httpapi

import (
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/arqonbus/arqonbus/internal/buildinfo"
)

var timestampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestHealth(t *testing.T) {
	f := newFixture(t, nil)
	f.src.ready.Checks.Storage.Status = CheckFail // /health checks no dependency
	rec := f.do("GET", "/health", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	b := jsonBody(t, rec)
	if b["status"] != "healthy" || b["service"] != "arqonbus" || !timestampRE.MatchString(b["timestamp"].(string)) || len(b) != 3 {
		t.Fatalf("body = %v", b)
	}
}

func TestReadyStatusCodes(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Checks)
		code   int
		status string
	}{
		{"all ok", func(*Checks) {}, 200, "ready"},
		{"degraded storage", func(c *Checks) { *c = withStorage(*c, "redis", "degraded", false) }, 200, "degraded"},
		{"strict storage down", func(c *Checks) { *c = withStorage(*c, "redis", "strict", false) }, 503, "not_ready"},
		{"ollama outage", func(c *Checks) { c.Ollama = OllamaCheckFor(true, false) }, 200, "degraded"},
		{"nats disconnected", func(c *Checks) { c.NATS = NATSCheckFor(true, false) }, 503, "not_ready"},
		{"shutting down", func(c *Checks) { c.Shutdown = ShutdownCheckFor(true) }, 503, "not_ready"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			tc.mutate(&f.src.ready.Checks)
			rec := f.do("GET", "/ready", "")
			if rec.Code != tc.code {
				t.Fatalf("code = %d, want %d", rec.Code, tc.code)
			}
			b := jsonBody(t, rec)
			if b["status"] != tc.status || !timestampRE.MatchString(b["timestamp"].(string)) {
				t.Fatalf("body = %v", b)
			}
			checks := b["checks"].(map[string]any)
			for _, k := range []string{"storage", "nats", "ollama", "shutdown"} {
				if _, ok := checks[k].(map[string]any)["status"].(string); !ok {
					t.Fatalf("checks.%s.status missing: %v", k, checks)
				}
			}
			st := checks["storage"].(map[string]any)
			for _, k := range []string{"backend", "mode", "detail"} {
				if _, ok := st[k].(string); !ok {
					t.Fatalf("checks.storage.%s missing: %v", k, st)
				}
			}
		})
	}
}

func withStorage(c Checks, backend, mode string, healthy bool) Checks {
	c.Storage = StorageCheckFor(backend, mode, healthy, "connection refused")
	return c
}

func TestRollUp(t *testing.T) {
	ok := Checks{Storage: StorageCheck{Status: "ok"}, NATS: Check{"disabled"}, Ollama: Check{"disabled"}, Shutdown: Check{"ok"}}
	tests := []struct {
		name   string
		mutate func(*Checks)
		want   string
	}{
		{"all ok or disabled", func(*Checks) {}, "ready"},
		{"all ok", func(c *Checks) { c.NATS.Status, c.Ollama.Status = "ok", "ok" }, "ready"},
		{"storage degraded", func(c *Checks) { c.Storage.Status = "degraded" }, "degraded"},
		{"ollama degraded", func(c *Checks) { c.Ollama.Status = "degraded" }, "degraded"},
		{"two degraded", func(c *Checks) { c.Storage.Status, c.Ollama.Status = "degraded", "degraded" }, "degraded"},
		{"storage fail", func(c *Checks) { c.Storage.Status = "fail" }, "not_ready"},
		{"nats fail", func(c *Checks) { c.NATS.Status = "fail" }, "not_ready"},
		{"shutdown fail", func(c *Checks) { c.Shutdown.Status = "fail" }, "not_ready"},
		{"fail beats degraded", func(c *Checks) { c.Ollama.Status, c.Shutdown.Status = "degraded", "fail" }, "not_ready"},
		{"degraded then fail order", func(c *Checks) { c.Storage.Status, c.Shutdown.Status = "degraded", "fail" }, "not_ready"},
		{"unset check", func(c *Checks) { c.Shutdown.Status = "" }, "not_ready"},
		{"unknown value", func(c *Checks) { c.NATS.Status = "OK" }, "not_ready"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mutate(&c)
			if got := RollUp(c); got != tc.want {
				t.Fatalf("RollUp = %q, want %q", got, tc.want)
			}
		})
	}
	if got := RollUp(Checks{}); got != StateNotReady {
		t.Fatalf("zero Checks roll up to %q, want not_ready", got)
	}
}

func TestCheckRules(t *testing.T) {
	storage := []struct {
		backend, mode string
		healthy       bool
		want          string
	}{
		{"memory", "degraded", true, "ok"},
		{"memory", "degraded", false, "ok"},
		{"redis", "degraded", true, "ok"},
		{"redis", "degraded", false, "degraded"},
		{"redis", "strict", true, "ok"},
		{"redis", "strict", false, "fail"},
		{"valkey", "strict", false, "fail"},
	}
	for _, tc := range storage {
		got := StorageCheckFor(tc.backend, tc.mode, tc.healthy, "d")
		if got.Status != tc.want || got.Backend != tc.backend || got.Mode != tc.mode || got.Detail != "d" {
			t.Errorf("StorageCheckFor(%s,%s,%v) = %+v, want status %s", tc.backend, tc.mode, tc.healthy, got, tc.want)
		}
	}
	checks := []struct {
		name string
		got  Check
		want string
	}{
		{"nats off", NATSCheckFor(false, false), "disabled"},
		{"nats down", NATSCheckFor(true, false), "fail"},
		{"nats up", NATSCheckFor(true, true), "ok"},
		{"ollama off", OllamaCheckFor(false, true), "disabled"},
		{"ollama down", OllamaCheckFor(true, false), "degraded"},
		{"ollama up", OllamaCheckFor(true, true), "ok"},
		{"running", ShutdownCheckFor(false), "ok"},
		{"draining", ShutdownCheckFor(true), "fail"},
	}
	for _, tc := range checks {
		if tc.got.Status != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got.Status, tc.want)
		}
	}
}

func TestVersion(t *testing.T) {
	f := newFixture(t, nil)
	rec := f.do("GET", "/version", "")
	if rec.Code != 200 {
		t.Fatalf("status = %d", rec.Code)
	}
	b := jsonBody(t, rec)
	keys := keysOf(b)
	sort.Strings(keys)
	want := []string{"build_date", "git_commit", "go_version", "protocol", "service", "timestamp", "version"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys = %v, want %v", keys, want)
	}
	if b["service"] != "arqonbus" || b["protocol"] != "1.0" || b["version"] != buildinfo.Version ||
		b["go_version"] != runtime.Version() || b["git_commit"] != buildinfo.GitCommit ||
		b["build_date"] != buildinfo.BuildDate || !timestampRE.MatchString(b["timestamp"].(string)) {
		t.Fatalf("body = %v", b)
	}
}

func TestVersionUnstampedIsUnknown(t *testing.T) {
	saved := buildinfo.GitCommit
	buildinfo.GitCommit = ""
	t.Cleanup(func() { buildinfo.GitCommit = saved })
	b := jsonBody(t, newFixture(t, nil).do("GET", "/version", ""))
	if b["git_commit"] != "unknown" {
		t.Fatalf("git_commit = %v, want unknown", b["git_commit"])
	}
}

// statusKeys is every key of OPERATIONS.md §6.3 /status, nested with dots.
var statusKeys = []string{
	"status", "ready", "service", "version", "environment", "timestamp", "uptime_seconds",
	"endpoints.http", "endpoints.websocket", "endpoints.storage", "endpoints.telemetry",
	"addresses.websocket", "addresses.telemetry", "addresses.http",
	"clients.active", "clients.by_type.human", "clients.by_type.ai-agent", "clients.by_type.dashboard", "clients.by_type.service",
	"rooms", "channels",
	"messages.received_total", "messages.delivered_total", "messages.errors_total",
	"storage.backend", "storage.mode", "storage.healthy", "storage.degraded", "storage.url",
	"telemetry.enabled", "telemetry.connections",
	"casil.enabled", "casil.mode",
	"nats.enabled", "nats.connected",
}

func lookup(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name       string
		checks     func(*Checks)
		status     string
		ready      string
		memoryNull bool
	}{
		{"ready", func(*Checks) {}, "healthy", "ready", false},
		{"degraded", func(c *Checks) { c.Ollama = OllamaCheckFor(true, false) }, "degraded", "degraded", false},
		{"not ready still 200", func(c *Checks) { c.Shutdown = ShutdownCheckFor(true) }, "degraded", "not_ready", false},
		{"memory backend", func(c *Checks) { c.Storage = StorageCheckFor("memory", "degraded", true, "") }, "healthy", "ready", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			tc.checks(&f.src.ready.Checks)
			if tc.memoryNull {
				f.src.status.Storage = StorageStatus{Backend: "memory", Mode: "degraded", Healthy: true}
			}
			f.src.status.Endpoints = Endpoints{Storage: true}
			f.m.MessagesReceived.WithLabelValues("message").Add(7)
			f.m.MessagesReceived.WithLabelValues("invalid").Add(3)
			f.m.MessagesDelivered.Add(20)
			f.m.Errors.WithLabelValues("VALIDATION_ERROR").Inc()

			rec := f.do("GET", "/status", "")
			if rec.Code != 200 {
				t.Fatalf("status code = %d", rec.Code)
			}
			b := jsonBody(t, rec)
			for _, k := range statusKeys {
				if _, ok := lookup(b, k); !ok {
					t.Errorf("key %s missing", k)
				}
			}
			if b["status"] != tc.status || b["ready"] != tc.ready {
				t.Fatalf("status/ready = %v/%v, want %s/%s", b["status"], b["ready"], tc.status, tc.ready)
			}
			// Keys the upstream `arqon status` and `arqonbus status` rely on.
			if b["service"] != "arqonbus" || b["version"] != buildinfo.Version || !timestampRE.MatchString(b["timestamp"].(string)) {
				t.Fatalf("body = %v", b)
			}
			if _, ok := b["uptime_seconds"].(float64); !ok {
				t.Fatalf("uptime_seconds is not a number: %v", b["uptime_seconds"])
			}
			url, _ := lookup(b, "storage.url")
			if tc.memoryNull && url != nil {
				t.Fatalf("storage.url = %v, want null for memory", url)
			}
			if !tc.memoryNull && url != "redis://:***@db:6379/0" {
				t.Fatalf("storage.url = %v", url)
			}
			for path, want := range map[string]any{
				"endpoints.http": true, "endpoints.websocket": true, "endpoints.storage": true, "endpoints.telemetry": false,
				"environment": "development", "addresses.websocket": "ws://127.0.0.1:9100/ws", "casil.mode": "monitor",
			} {
				if v, _ := lookup(b, path); v != want {
					t.Errorf("%s = %v, want %v", path, v, want)
				}
			}
			for path, want := range map[string]float64{
				"messages.received_total": 10, "messages.delivered_total": 20, "messages.errors_total": 1,
				"clients.active": 3, "clients.by_type.ai-agent": 1, "clients.by_type.dashboard": 0, "rooms": 2, "channels": 9,
			} {
				if v, _ := lookup(b, path); v != want {
					t.Errorf("%s = %v, want %v", path, v, want)
				}
			}
		})
	}
}

// TestRegressionStorageAndTelemetryStats pins an upstream defect
// (OPERATIONS.md §12): /storage/stats returned 500.
func TestRegressionStorageAndTelemetryStats(t *testing.T) {
	f := newFixture(t, nil)
	b := jsonBody(t, f.do("GET", "/storage/stats", ""))
	if b["backend"] != "redis" || b["streams"] != float64(4) {
		t.Fatalf("/storage/stats = %v", b)
	}
	rec := f.do("GET", "/telemetry/stats", "")
	if rec.Code != 200 || jsonBody(t, rec)["connections"] != float64(1) {
		t.Fatalf("/telemetry/stats = %d %s", rec.Code, rec.Body)
	}
	f.src.telemetryOn = false
	expectError(t, f.do("GET", "/telemetry/stats", ""), 404, `{"error":"Not Found","details":"Telemetry is disabled"}`)
}

func TestUnencodableStatsIs500(t *testing.T) {
	f := newFixture(t, nil)
	f.src.storage = map[string]any{"bad": make(chan int)}
	expectError(t, f.do("GET", "/storage/stats", ""), 500, `{"error":"Internal Server Error"}`)
}

func TestNotFound(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{"/", "/nope", "/health/", "/HEALTH", "/admin", "/admin/", "/admin/unknown", "/metrics/", "/status.json"} {
		for _, m := range []string{"GET", "POST", "OPTIONS"} {
			expectError(t, f.do(m, p, ""), 404, `{"error":"Not Found"}`)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct{ method, path, allow string }{
		{"POST", "/health", "GET, HEAD"},
		{"DELETE", "/ready", "GET, HEAD"},
		{"PUT", "/metrics", "GET, HEAD"},
		{"OPTIONS", "/status", "GET, HEAD"}, // CORS off
		{"POST", "/admin/config", "GET, HEAD"},
		{"GET", "/admin/shutdown", "POST"},
		{"GET", "/admin/restart", "POST"},
		{"PUT", "/admin/disconnect", "POST"},
	}
	for _, tc := range tests {
		rec := f.do(tc.method, tc.path, "")
		expectError(t, rec, 405, `{"error":"Method Not Allowed"}`)
		if got := rec.Header().Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
}

func TestHeadIsServed(t *testing.T) {
	f := newFixture(t, nil)
	rec := f.do("HEAD", "/ready", "")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("HEAD /ready = %d %v", rec.Code, rec.Header())
	}
}
