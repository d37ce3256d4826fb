// Package metrics declares the Prometheus metrics of the bus
// (OPERATIONS.md §6.5). Hot paths hold resolved counters, never calling
// WithLabelValues per delivered message.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/arqonbus/arqonbus/internal/buildinfo"
)

// Buckets are the histogram buckets of OPERATIONS.md §6.5.
var Buckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

// Bus holds every bus metric on its own registry.
type Bus struct {
	Registry *prometheus.Registry
	start    time.Time

	BuildInfo            *prometheus.GaugeVec
	Uptime               prometheus.GaugeFunc
	ActiveClients        prometheus.Gauge
	ConnectionsTotal     prometheus.Counter
	ConnectionRejections *prometheus.CounterVec // server, reason
	ConnectionCloses     *prometheus.CounterVec // code
	MessagesReceived     *prometheus.CounterVec // type
	MessagesDelivered    prometheus.Counter
	Errors               *prometheus.CounterVec // code
	RateLimited          prometheus.Counter
	Rooms                prometheus.Gauge
	Channels             prometheus.Gauge
	TelemetryConnections prometheus.Gauge
	TelemetryEvents      *prometheus.CounterVec // result
	EventsDropped        *prometheus.CounterVec // reason
	StorageDegraded      prometheus.Gauge
	StorageOperations    *prometheus.CounterVec   // op, result
	StorageSeconds       *prometheus.HistogramVec // op
	RoutingSeconds       prometheus.Histogram
	CommandSeconds       *prometheus.HistogramVec // command
	CasilDecisions       *prometheus.CounterVec   // decision, reason
	WebhookDeliveries    *prometheus.CounterVec   // result
	HTTPRequests         *prometheus.CounterVec   // route, code
	HTTPSeconds          *prometheus.HistogramVec // route
}

// NewBus creates and registers the bus metrics, plus the Go and process
// collectors.
func NewBus() *Bus {
	m := &Bus{Registry: prometheus.NewRegistry(), start: time.Now()}
	r := m.Registry
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.BuildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "arqonbus_build_info", Help: "Build identity."}, []string{"version", "git_commit", "go_version"})
	m.BuildInfo.WithLabelValues(buildinfo.Version, buildinfo.GitCommit, buildinfo.GoVersion()).Set(1)
	m.Uptime = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "arqonbus_uptime_seconds", Help: "Seconds since start."}, func() float64 { return time.Since(m.start).Seconds() })
	m.ActiveClients = prometheus.NewGauge(prometheus.GaugeOpts{Name: "arqonbus_active_clients", Help: "Open bus WebSocket connections."})
	m.ConnectionsTotal = prometheus.NewCounter(prometheus.CounterOpts{Name: "arqonbus_websocket_connections_total", Help: "Accepted bus upgrades."})
	m.ConnectionRejections = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arqonbus_connection_rejections_total", Help: "Refused upgrades of the bus and of the telemetry server."}, []string{"server", "reason"})
	m.ConnectionCloses = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arqonbus_connection_closes_total", Help: "Connection endings by close code sent, or peer."}, []string{"code"})
	m.MessagesReceived = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arqonbus_messages_received_total", Help: "Inbound frames by type."}, []string{"type"})
	m.MessagesDelivered = prometheus.NewCounter(prometheus.CounterOpts{Name: "arqonbus_messages_delivered_total", Help: "Frames enqueued to recipients (fan-out count)."})
	m.Errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arqonbus_errors_total", Help: "Error frames and error results sent, by code."}, []string{"code"})
	m.RateLimited = prometheus.NewCounter(prometheus.CounterOpts{Name: "arqonbus_rate_limited_total", Help: "RATE_LIMITED rejections."})
	m.Rooms = prometheus.NewGauge(prometheus.GaugeOpts{Name: "arqonbus_rooms", Help: "Live rooms, summed over tenants."})
	m.Channels = prometheus.NewGauge(prometheus.GaugeOpts{Name: "arqonbus_channels", Help: "Live channels, summed over tenants."})
	m.TelemetryConnections = prometheus.NewGauge(prometheus.GaugeOpts{Name: "arqonbus_telemetry_connections", Help: "Open telemetry connections."})
	m.TelemetryEvents = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arqonbus_telemetry_events_total", Help: "Telemetry events by result."}, []string{"result"})
	m.EventsDropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arqonbus_events_dropped_total", Help: "Events not delivered because strict storage could not store them."}, []string{"reason"})
	m.StorageDegraded = prometheus.NewGauge(prometheus.GaugeOpts{Name: "arqonbus_storage_degraded", Help: "1 while on the degraded fallback."})
	m.StorageOperations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arqonbus_storage_operations_total", Help: "Storage calls by op and result."}, []string{"op", "result"})
	m.StorageSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "arqonbus_storage_operation_seconds", Help: "Storage latency.", Buckets: Buckets}, []string{"op"})
	m.RoutingSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "arqonbus_message_routing_seconds", Help: "From frame receipt to the last enqueue for the message.", Buckets: Buckets})
	m.CommandSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "arqonbus_command_seconds", Help: "Command handling time.", Buckets: Buckets}, []string{"command"})
	m.CasilDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arqonbus_casil_decisions_total", Help: "CASIL outcomes."}, []string{"decision", "reason"})
	m.WebhookDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arqonbus_webhook_deliveries_total", Help: "Final webhook delivery outcomes."}, []string{"result"})
	m.HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "arqonbus_http_requests_total", Help: "Ops API requests."}, []string{"route", "code"})
	m.HTTPSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "arqonbus_http_request_seconds", Help: "Ops API latency.", Buckets: Buckets}, []string{"route"})

	r.MustRegister(m.BuildInfo, m.Uptime, m.ActiveClients, m.ConnectionsTotal, m.ConnectionRejections,
		m.ConnectionCloses, m.MessagesReceived, m.MessagesDelivered, m.Errors, m.RateLimited, m.Rooms,
		m.Channels, m.TelemetryConnections, m.TelemetryEvents, m.EventsDropped, m.StorageDegraded,
		m.StorageOperations, m.StorageSeconds, m.RoutingSeconds, m.CommandSeconds, m.CasilDecisions,
		m.WebhookDeliveries, m.HTTPRequests, m.HTTPSeconds)
	return m
}

// Uptime returns the time since the metrics were created (process start).
func (m *Bus) Since() time.Duration { return time.Since(m.start) }
