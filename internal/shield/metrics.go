package shield

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/arqonbus/arqonbus/internal/buildinfo"
)

// Message results (SHIELD.md §9.9), the label values of shield_messages_total.
const (
	resultAccepted        = "accepted"
	resultInvalidJSON     = "invalid_json"
	resultSchemaViolation = "schema_violation"
	resultTenantMismatch  = "tenant_mismatch"
	resultPolicyDenied    = "policy_denied"
	resultPolicyError     = "policy_error"
	resultPublishFailed   = "publish_failed"
	resultRateLimited     = "rate_limited"
	resultTooLarge        = "too_large"
	resultInvalidUTF8     = "invalid_utf8"
)

var (
	messageResults   = []string{resultAccepted, resultInvalidJSON, resultSchemaViolation, resultTenantMismatch, resultPolicyDenied, resultPolicyError, resultPublishFailed, resultRateLimited, resultTooLarge, resultInvalidUTF8}
	handshakeReasons = []string{"missing_token", "bad_format", "invalid_token", "origin", "capacity", "draining", "upstream", "bad_request"}
	closeCodes       = []string{"1001", "1007", "1008", "1009", "1011", "4008", "4401", "4429", "peer"}
	latencyBuckets   = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1}
)

// Metrics are the Shield metrics of SHIELD.md §13 on their own registry.
type Metrics struct {
	Registry *prometheus.Registry

	Connections         prometheus.Counter
	ActiveConnections   prometheus.Gauge
	HandshakeRejections *prometheus.CounterVec
	Messages            *prometheus.CounterVec
	SchemaViolations    *prometheus.CounterVec
	PolicyDuration      prometheus.Histogram
	PublishDuration     prometheus.Histogram
	Mirror              *prometheus.CounterVec
	Outbound            *prometheus.CounterVec
	Closes              *prometheus.CounterVec
	BuildInfo           *prometheus.GaugeVec

	// Resolved children for the hot path.
	msg      map[string]prometheus.Counter
	closes   map[string]prometheus.Counter
	rejects  map[string]prometheus.Counter
	mirrorOK prometheus.Counter
	mirrorKO prometheus.Counter
	outDeliv prometheus.Counter
	outNone  prometheus.Counter
	outSlow  prometheus.Counter
}

// NewMetrics registers every Shield metric; natsConnected reports the NATS
// connection state for shield_nats_connected.
func NewMetrics(natsConnected func() bool) *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	r := m.Registry
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Connections = prometheus.NewCounter(prometheus.CounterOpts{Name: "shield_connections_total", Help: "Successful upgrades."})
	m.ActiveConnections = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shield_active_connections", Help: "Open connections."})
	m.HandshakeRejections = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shield_handshake_rejections_total", Help: "Refused upgrades."}, []string{"reason"})
	m.Messages = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shield_messages_total", Help: "Inbound data frames by outcome."}, []string{"result"})
	m.SchemaViolations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shield_schema_violations_total", Help: "Schema failures."}, []string{"frame", "action"})
	m.PolicyDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "shield_policy_duration_seconds", Help: "Policy evaluation time, including instantiation.", Buckets: latencyBuckets})
	m.PublishDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "shield_nats_publish_seconds", Help: "Publish time, including the PubAck wait.", Buckets: latencyBuckets})
	m.Mirror = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shield_mirror_total", Help: "Shadow publishes."}, []string{"result"})
	m.Outbound = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shield_outbound_messages_total", Help: "Return-path deliveries."}, []string{"result"})
	m.Closes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shield_connection_closes_total", Help: "Connection endings by close code sent, or peer."}, []string{"code"})
	m.BuildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shield_build_info", Help: "Build identity."}, []string{"version", "git_commit", "go_version"})
	natsGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "shield_nats_connected", Help: "1 if NATS is connected, else 0."}, func() float64 {
		if natsConnected != nil && natsConnected() {
			return 1
		}
		return 0
	})
	r.MustRegister(m.Connections, m.ActiveConnections, m.HandshakeRejections, m.Messages, m.SchemaViolations,
		m.PolicyDuration, m.PublishDuration, m.Mirror, m.Outbound, m.Closes, m.BuildInfo, natsGauge)
	m.BuildInfo.WithLabelValues(buildinfo.Version, buildinfo.GitCommit, buildinfo.GoVersion()).Set(1)

	m.msg = map[string]prometheus.Counter{}
	for _, res := range messageResults {
		m.msg[res] = m.Messages.WithLabelValues(res)
	}
	m.closes = map[string]prometheus.Counter{}
	for _, c := range closeCodes {
		m.closes[c] = m.Closes.WithLabelValues(c)
	}
	m.rejects = map[string]prometheus.Counter{}
	for _, r := range handshakeReasons {
		m.rejects[r] = m.HandshakeRejections.WithLabelValues(r)
	}
	for _, f := range []string{"text", "binary"} {
		for _, a := range []string{"rejected", "passed"} {
			m.SchemaViolations.WithLabelValues(f, a)
		}
	}
	m.mirrorOK, m.mirrorKO = m.Mirror.WithLabelValues("published"), m.Mirror.WithLabelValues("error")
	m.outDeliv = m.Outbound.WithLabelValues("delivered")
	m.outNone = m.Outbound.WithLabelValues("no_target")
	m.outSlow = m.Outbound.WithLabelValues("slow_consumer")
	return m
}

func (m *Metrics) message(result string) { m.msg[result].Inc() }

func (m *Metrics) closed(code int) {
	if c, ok := m.closes[strconv.Itoa(code)]; ok {
		c.Inc()
	}
}

func (m *Metrics) rejected(reason string) { m.rejects[reason].Inc() }
