package casil

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// typical is a ~200-byte chat-like message without a secret; withSecret has
// the same size and one secret under a redaction path.
var (
	typical    = json.RawMessage(`{"content":"The sensor array on deck three reports nominal readings; please confirm the calibration window before 14:00 UTC.","author":"ann","seq":1042,"tags":["lab","sensors"],"ok":true}`)
	withSecret = json.RawMessage(`{"content":"The sensor array on deck three reports nominal readings; please confirm calibration window.","author":"ann","seq":1042,"tags":["lab"],"password":"hunter2-correct-horse"}`)
)

// BenchmarkInspectMonitor measures monitor mode, the default, on a typical
// message with and without a secret.
func BenchmarkInspectMonitor(b *testing.B) {
	e := NewEngine(policyWith(b, `{"mode":"monitor"}`))
	for _, bc := range []struct {
		name    string
		payload json.RawMessage
	}{{"clean", typical}, {"secret", withSecret}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.payload)))
			for b.Loop() {
				e.Inspect(KindMessage, "science:general", bc.payload)
			}
		})
	}
}

// BenchmarkInspectEnforceRedact measures enforce mode with transport
// redaction, where the redacted payload is built.
func BenchmarkInspectEnforceRedact(b *testing.B) {
	e := NewEngine(policyWith(b, `{"mode":"enforce","transport_redaction":true,"redaction_patterns":["\\d{16}","(?i)bearer\\s+\\S+"]}`))
	for _, bc := range []struct {
		name    string
		payload json.RawMessage
	}{{"clean", typical}, {"secret", withSecret}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Inspect(KindMessage, "science:general", bc.payload)
			}
		})
	}
}

// BenchmarkInspectLatency times individual Inspect calls in monitor mode
// and reports the p50 and p99 per call (ns), alternating clean and secret
// messages.
func BenchmarkInspectLatency(b *testing.B) {
	e := NewEngine(policyWith(b, `{"mode":"monitor","scope_exclude":["audit:*"],"never_log_payload_for":["vault:*"]}`))
	payloads := []json.RawMessage{typical, withSecret}
	samples := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		start := time.Now()
		e.Inspect(KindMessage, "science:general", payloads[i&1])
		d := time.Since(start)
		if len(samples) < cap(samples) {
			samples = append(samples, d)
		}
		i++
	}
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	pct := func(q float64) float64 { return float64(samples[int(q*float64(len(samples)-1))].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
}
