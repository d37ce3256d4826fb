package httpapi

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

// MetricsJSON is the /metrics.json body (OPERATIONS.md §6.3). Gauges come
// from Source.Status; counters and command timings from the registry.
type MetricsJSON struct {
	Timestamp                 string                  `json:"timestamp"`
	UptimeSeconds             float64                 `json:"uptime_seconds"`
	ActiveClients             int64                   `json:"active_clients"`
	WebSocketConnectionsTotal int64                   `json:"websocket_connections_total"`
	MessagesReceivedTotal     int64                   `json:"messages_received_total"`
	MessagesDeliveredTotal    int64                   `json:"messages_delivered_total"`
	ErrorsTotal               map[string]int64        `json:"errors_total"`
	Rooms                     int64                   `json:"rooms"`
	Channels                  int64                   `json:"channels"`
	TelemetryConnections      int64                   `json:"telemetry_connections"`
	StorageDegraded           int                     `json:"storage_degraded"`
	CASILDecisions            map[string]int64        `json:"casil_decisions"`
	Commands                  map[string]CommandStats `json:"commands"`
}

// CommandStats summarises one command name.
type CommandStats struct {
	Count      int64   `json:"count"`
	Errors     int64   `json:"errors"`
	AvgSeconds float64 `json:"avg_seconds"`
}

// CommandErrorCounter is optionally implemented by a Source to report
// error results per command name for /metrics.json; the metrics registry
// has no per-command error series. Without it every "errors" is 0.
type CommandErrorCounter interface {
	CommandErrors() map[string]int64
}

// Metric family names read back from the registry (internal/metrics).
const (
	famConnections = "arqonbus_websocket_connections_total"
	famReceived    = "arqonbus_messages_received_total"
	famDelivered   = "arqonbus_messages_delivered_total"
	famErrors      = "arqonbus_errors_total"
	famCASIL       = "arqonbus_casil_decisions_total"
	famCommands    = "arqonbus_command_seconds"
)

// registryTotals is what the ops API reads back from the metrics registry.
type registryTotals struct {
	connections, received, delivered, errorsSum int64
	errors, casil                               map[string]int64
	commands                                    map[string]CommandStats
}

// newReadback registers just the series the ops API reads back on a
// private registry, so /status and /metrics.json do not pay for the Go and
// process collectors on every request.
func newReadback(m *metrics.Bus) prometheus.Gatherer {
	r := prometheus.NewRegistry()
	r.MustRegister(m.ConnectionsTotal, m.MessagesReceived, m.MessagesDelivered, m.Errors, m.CasilDecisions, m.CommandSeconds)
	return r
}

func readRegistry(g prometheus.Gatherer) (registryTotals, error) {
	t := registryTotals{errors: map[string]int64{}, casil: map[string]int64{}, commands: map[string]CommandStats{}}
	fams, err := g.Gather()
	if err != nil {
		return t, err
	}
	for _, f := range fams {
		switch f.GetName() {
		case famConnections:
			t.connections = sumCounters(f)
		case famReceived:
			t.received = sumCounters(f)
		case famDelivered:
			t.delivered = sumCounters(f)
		case famErrors:
			for _, mt := range f.GetMetric() {
				n := toInt(mt.GetCounter().GetValue())
				t.errors[label(mt, "code")] += n
				t.errorsSum += n
			}
		case famCASIL:
			for _, mt := range f.GetMetric() {
				t.casil[label(mt, "decision")] += toInt(mt.GetCounter().GetValue())
			}
		case famCommands:
			for _, mt := range f.GetMetric() {
				h := mt.GetHistogram()
				cs := CommandStats{Count: int64(h.GetSampleCount())}
				if cs.Count > 0 {
					cs.AvgSeconds = h.GetSampleSum() / float64(cs.Count)
				}
				t.commands[label(mt, "command")] = cs
			}
		}
	}
	return t, nil
}

func sumCounters(f *dto.MetricFamily) int64 {
	var n int64
	for _, mt := range f.GetMetric() {
		n += toInt(mt.GetCounter().GetValue())
	}
	return n
}

func label(mt *dto.Metric, name string) string {
	for _, lp := range mt.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// toInt converts a counter value; counters only hold whole numbers here.
func toInt(v float64) int64 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
