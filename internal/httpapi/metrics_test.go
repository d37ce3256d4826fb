package httpapi

import (
	"mime"
	"strings"
	"testing"
)

// TestRegressionPrometheusExposition pins an upstream defect (OPERATIONS.md
// §12): /metrics/prometheus returned 500. Prometheus text is served at
// /metrics and /metrics/prometheus.
func TestRegressionPrometheusExposition(t *testing.T) {
	f := newFixture(t, nil)
	f.do("GET", "/health", "") // so that the http series exist
	for _, path := range []string{"/metrics", "/metrics/prometheus"} {
		rec := f.do("GET", path, "")
		if rec.Code != 200 {
			t.Fatalf("%s: code %d", path, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
			t.Fatalf("%s: Content-Type = %q", path, ct)
		}
		body := rec.Body.String()
		for _, name := range []string{
			"arqonbus_build_info{", "arqonbus_uptime_seconds ", "arqonbus_active_clients ",
			"arqonbus_websocket_connections_total ", "arqonbus_messages_delivered_total ",
			`arqonbus_http_requests_total{code="200",route="/health"} 1`, "arqonbus_http_request_seconds_bucket{",
			"go_goroutines ", "go_memstats_alloc_bytes ", "process_cpu_seconds_total ", "process_resident_memory_bytes ",
		} {
			if !strings.Contains(body, name) {
				t.Errorf("%s: %q missing", path, name)
			}
		}
	}
}

func TestOpenMetricsNegotiation(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct{ accept, contentType string }{
		{"application/openmetrics-text; version=1.0.0; charset=utf-8", "application/openmetrics-text; version=1.0.0; charset=utf-8"},
		{"application/openmetrics-text; version=1.0.0; escaping=underscores", "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"},
		{"text/plain;version=0.0.4;q=0.9,*/*;q=0.1", "text/plain; version=0.0.4; charset=utf-8"},
	}
	for _, tc := range tests {
		rec := f.do("GET", "/metrics/prometheus", "", "Accept", tc.accept)
		ct := rec.Header().Get("Content-Type")
		if rec.Code != 200 || ct != tc.contentType {
			t.Fatalf("Accept %q: %d %q, want %q", tc.accept, rec.Code, ct, tc.contentType)
		}
		mt, _, _ := mime.ParseMediaType(ct)
		if openMetrics := strings.HasSuffix(rec.Body.String(), "# EOF\n"); openMetrics != (mt == "application/openmetrics-text") {
			t.Fatalf("Accept %q: body format does not match %q", tc.accept, ct)
		}
	}
}

// httpSeries returns the request counter and the latency sample count for
// one route/code pair.
func httpSeries(t *testing.T, f *fixture, route, code string) (requests float64, samples uint64) {
	t.Helper()
	fams, err := f.m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range fams {
		for _, m := range fam.GetMetric() {
			switch fam.GetName() {
			case "arqonbus_http_requests_total":
				if label(m, "route") == route && label(m, "code") == code {
					requests = m.GetCounter().GetValue()
				}
			case "arqonbus_http_request_seconds":
				if label(m, "route") == route {
					samples = m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return requests, samples
}

func TestHTTPMetricsRecorded(t *testing.T) {
	f := newFixture(t, nil)
	f.do("GET", "/health", "")
	f.do("GET", "/health", "")
	f.do("GET", "/no/such/path?x=1", "")
	f.do("GET", "/another", "")
	f.do("POST", "/health", "")
	f.do("POST", "/admin/restart", "")
	tests := []struct {
		route, code string
		requests    float64
		samples     uint64
	}{
		{"/health", "200", 2, 3},
		{"/health", "405", 1, 3},
		{"unmatched", "404", 2, 2},
		{"/admin/restart", "401", 1, 1},
	}
	for _, tc := range tests {
		n, s := httpSeries(t, f, tc.route, tc.code)
		if n != tc.requests || s != tc.samples {
			t.Errorf("route %s code %s: requests %v samples %d, want %v %d", tc.route, tc.code, n, s, tc.requests, tc.samples)
		}
	}
}

func TestMetricsJSON(t *testing.T) {
	f := newFixture(t, nil)
	f.m.ConnectionsTotal.Add(5)
	f.m.MessagesReceived.WithLabelValues("message").Add(7)
	f.m.MessagesReceived.WithLabelValues("command").Add(2)
	f.m.MessagesDelivered.Add(40)
	f.m.Errors.WithLabelValues("RATE_LIMITED").Add(3)
	f.m.Errors.WithLabelValues("VALIDATION_ERROR").Inc()
	f.m.CasilDecisions.WithLabelValues("allow", "casil_allow").Add(10)
	f.m.CasilDecisions.WithLabelValues("block", "casil_policy_blocked_secret").Inc()
	f.m.CasilDecisions.WithLabelValues("block", "casil_policy_oversize").Inc()
	f.m.CommandSeconds.WithLabelValues("history").Observe(0.1)
	f.m.CommandSeconds.WithLabelValues("history").Observe(0.3)
	f.m.CommandSeconds.WithLabelValues("status").Observe(0.002)
	f.src.status.Storage.Degraded = true

	rec := f.do("GET", "/metrics.json", "")
	if rec.Code != 200 {
		t.Fatalf("code = %d", rec.Code)
	}
	b := jsonBody(t, rec)
	for k, want := range map[string]any{
		"active_clients": 3.0, "websocket_connections_total": 5.0, "messages_received_total": 9.0,
		"messages_delivered_total": 40.0, "rooms": 2.0, "channels": 9.0, "telemetry_connections": 1.0,
		"storage_degraded": 1.0,
	} {
		if b[k] != want {
			t.Errorf("%s = %v, want %v", k, b[k], want)
		}
	}
	if !timestampRE.MatchString(b["timestamp"].(string)) {
		t.Errorf("timestamp = %v", b["timestamp"])
	}
	if _, ok := b["uptime_seconds"].(float64); !ok {
		t.Errorf("uptime_seconds = %v", b["uptime_seconds"])
	}
	errs := b["errors_total"].(map[string]any)
	if len(errs) != 2 || errs["RATE_LIMITED"] != 3.0 || errs["VALIDATION_ERROR"] != 1.0 {
		t.Errorf("errors_total = %v", errs)
	}
	casil := b["casil_decisions"].(map[string]any)
	if len(casil) != 2 || casil["allow"] != 10.0 || casil["block"] != 2.0 {
		t.Errorf("casil_decisions = %v", casil)
	}
	cmds := b["commands"].(map[string]any)
	hist := cmds["history"].(map[string]any)
	if hist["count"] != 2.0 || hist["errors"] != 2.0 || hist["avg_seconds"].(float64) < 0.19999 || hist["avg_seconds"].(float64) > 0.20001 {
		t.Errorf("commands.history = %v", hist)
	}
	if st := cmds["status"].(map[string]any); st["count"] != 1.0 || st["errors"] != 0.0 {
		t.Errorf("commands.status = %v", st)
	}
}

// plainSource hides the optional CommandErrorCounter of fakeSource.
type plainSource struct{ Source }

func TestMetricsJSONEmpty(t *testing.T) {
	f := newFixture(t, nil)
	f.h = NewHandler(plainSource{f.src}, Options{Metrics: f.m})
	b := jsonBody(t, f.do("GET", "/metrics.json", ""))
	for _, k := range []string{"errors_total", "casil_decisions", "commands"} {
		if m, ok := b[k].(map[string]any); !ok || len(m) != 0 {
			t.Errorf("%s = %v, want {}", k, b[k])
		}
	}
	if b["storage_degraded"] != 0.0 || b["messages_received_total"] != 0.0 {
		t.Errorf("body = %v", b)
	}
}

func TestZeroOptions(t *testing.T) {
	h := NewHandler(newFakeSource(), Options{})
	f := &fixture{h: h}
	if rec := f.do("GET", "/metrics", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), "arqonbus_build_info") {
		t.Fatalf("/metrics without Options.Metrics: %d", rec.Code)
	}
	expectError(t, f.do("GET", "/admin/config", "", "X-API-Key", ""), 403, bodyForbidden)
}
