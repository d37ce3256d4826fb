// Package httpapi serves the bus HTTP ops API of OPERATIONS.md §6:
// health, readiness, version, status, Prometheus and JSON metrics, storage
// and telemetry stats, and the key-protected /admin endpoints.
package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/arqonbus/arqonbus/internal/buildinfo"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/redact"
)

// Source is what the server exposes to the ops API. The bus implements it.
// Every method must be cheap and must not open connections: probes call
// them on every request.
type Source interface {
	// Ready returns cached health; it never opens connections.
	Ready() Ready
	// Status returns the data for /status and /metrics.json.
	Status() Status
	// StorageStats returns the already-shaped /storage/stats object.
	StorageStats() any
	// TelemetryStats returns the /telemetry/stats object, or false when
	// telemetry is disabled (404).
	TelemetryStats() (any, bool)
	// DisconnectClient closes the client with 1008 and reports false if no
	// client with that id is connected (any tenant).
	DisconnectClient(clientID string) bool
	// Shutdown begins the graceful shutdown of OPERATIONS.md §10.2. It is
	// called at most once, from its own goroutine.
	Shutdown()
	// ConfigSnapshot returns the profile and the effective configuration,
	// secrets already redacted, for /admin/config.
	ConfigSnapshot() (environment string, config map[string]any)
}

// Options configure the handler. The zero value serves with the admin API
// disabled, CORS off, a private metrics registry and no logging.
type Options struct {
	AdminAPIKey string   // "" disables /admin/* (403)
	CORSOrigins []string // origins allowed to read GET endpoints; "*" allows any
	Metrics     *metrics.Bus
	Logger      *slog.Logger // the handler adds component=http
}

const service = "arqonbus"

// routeUnmatched is the route label of requests to unknown paths.
const routeUnmatched = "unmatched"

type route struct {
	pattern string
	method  string // GET routes also answer HEAD
	admin   bool
	serve   http.HandlerFunc
}

type handler struct {
	src      Source
	log      *slog.Logger
	metrics  *metrics.Bus
	prom     http.Handler
	readback prometheus.Gatherer
	routes   map[string]*route

	adminKeySet  bool
	adminKeyHash [sha256.Size]byte

	corsAny     bool
	corsOrigins map[string]struct{}

	shutdownOnce sync.Once
}

// NewHandler returns the ops API handler.
func NewHandler(src Source, opts Options) http.Handler {
	h := &handler{src: src, log: opts.Logger, metrics: opts.Metrics}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = h.log.With("component", "http")
	if h.metrics == nil {
		h.metrics = metrics.NewBus()
	}
	h.readback = newReadback(h.metrics)
	h.prom = exposition{promhttp.HandlerFor(h.metrics.Registry, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          promLogger{h.log},
	})}
	if opts.AdminAPIKey != "" {
		h.adminKeySet = true
		h.adminKeyHash = sha256.Sum256([]byte(opts.AdminAPIKey))
	}
	for _, o := range opts.CORSOrigins {
		o = strings.TrimSuffix(strings.TrimSpace(o), "/")
		switch o {
		case "":
		case "*":
			h.corsAny = true
		default:
			if h.corsOrigins == nil {
				h.corsOrigins = map[string]struct{}{}
			}
			h.corsOrigins[strings.ToLower(o)] = struct{}{}
		}
	}

	h.routes = map[string]*route{}
	for _, rt := range []*route{
		{pattern: "/health", method: http.MethodGet, serve: h.health},
		{pattern: "/ready", method: http.MethodGet, serve: h.ready},
		{pattern: "/version", method: http.MethodGet, serve: h.version},
		{pattern: "/status", method: http.MethodGet, serve: h.status},
		{pattern: "/metrics", method: http.MethodGet, serve: h.prom.ServeHTTP},
		{pattern: "/metrics/prometheus", method: http.MethodGet, serve: h.prom.ServeHTTP},
		{pattern: "/metrics.json", method: http.MethodGet, serve: h.metricsJSON},
		{pattern: "/storage/stats", method: http.MethodGet, serve: h.storageStats},
		{pattern: "/telemetry/stats", method: http.MethodGet, serve: h.telemetryStats},
		{pattern: "/admin/config", method: http.MethodGet, admin: true, serve: h.adminConfig},
		{pattern: "/admin/shutdown", method: http.MethodPost, admin: true, serve: h.adminShutdown},
		{pattern: "/admin/restart", method: http.MethodPost, admin: true, serve: h.adminRestart},
		{pattern: "/admin/disconnect", method: http.MethodPost, admin: true, serve: h.adminDisconnect},
	} {
		h.routes[rt.pattern] = rt
	}
	return h
}

// NewServer returns an HTTP server with the timeouts of OPERATIONS.md §6.1
// (read header 5 s, write 30 s) plus an idle timeout so that idle
// keep-alive connections do not pile up.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	label := routeUnmatched
	if rt, ok := h.routes[r.URL.Path]; ok {
		label = rt.pattern
		h.dispatch(rec, r, rt)
	} else {
		writeError(rec, http.StatusNotFound, "Not Found", "")
	}
	code := rec.code()
	elapsed := time.Since(start)
	h.metrics.HTTPRequests.WithLabelValues(label, strconv.Itoa(code)).Inc()
	h.metrics.HTTPSeconds.WithLabelValues(label).Observe(elapsed.Seconds())
	if h.log.Enabled(r.Context(), slog.LevelDebug) {
		// Never log headers: X-API-Key and Authorization are secrets.
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "http request",
			slog.String("method", r.Method),
			slog.String("url", redact.URL(r.URL.String())),
			slog.String("route", label),
			slog.Int("status", code),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("remote_addr", r.RemoteAddr))
	}
}

// dispatch applies method, CORS and admin rules, then serves the route.
func (h *handler) dispatch(w http.ResponseWriter, r *http.Request, rt *route) {
	cors := h.corsEnabled() && !rt.admin && rt.method == http.MethodGet
	if cors {
		w.Header().Add("Vary", "Origin")
	}
	if r.Method == http.MethodOptions && cors {
		h.preflight(w, r)
		return
	}
	if !methodAllowed(rt.method, r.Method) {
		w.Header().Set("Allow", allowHeader(rt.method, cors))
		writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed", "")
		return
	}
	if cors {
		h.allowOrigin(w, r)
	}
	if rt.admin && !h.authorize(w, r) {
		return
	}
	rt.serve(w, r)
}

func methodAllowed(routeMethod, method string) bool {
	return method == routeMethod || (routeMethod == http.MethodGet && method == http.MethodHead)
}

func allowHeader(routeMethod string, cors bool) string {
	switch {
	case routeMethod != http.MethodGet:
		return routeMethod
	case cors:
		return "GET, HEAD, OPTIONS"
	}
	return "GET, HEAD"
}

func (h *handler) health(w http.ResponseWriter, _ *http.Request) {
	_ = writeJSON(w, http.StatusOK, struct {
		Status    string `json:"status"`
		Service   string `json:"service"`
		Timestamp string `json:"timestamp"`
	}{"healthy", service, h.timestamp()})
}

func (h *handler) ready(w http.ResponseWriter, _ *http.Request) {
	rd := h.src.Ready()
	rd.Status = RollUp(rd.Checks)
	rd.Timestamp = h.timestamp()
	code := http.StatusOK
	if rd.Status == StateNotReady {
		code = http.StatusServiceUnavailable
	}
	_ = writeJSON(w, code, rd)
}

// Version is the /version body; all seven keys are always present.
type Version struct {
	Service   string `json:"service"`
	Version   string `json:"version"`
	Protocol  string `json:"protocol"`
	GitCommit string `json:"git_commit"`
	BuildDate string `json:"build_date"`
	GoVersion string `json:"go_version"`
	Timestamp string `json:"timestamp"`
}

func (h *handler) version(w http.ResponseWriter, _ *http.Request) {
	_ = writeJSON(w, http.StatusOK, Version{
		Service:   service,
		Version:   orUnknown(buildinfo.Version),
		Protocol:  buildinfo.Protocol,
		GitCommit: orUnknown(buildinfo.GitCommit),
		BuildDate: orUnknown(buildinfo.BuildDate),
		GoVersion: buildinfo.GoVersion(),
		Timestamp: h.timestamp(),
	})
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// currentStatus is Source.Status with the fields the handler owns filled.
func (h *handler) currentStatus(ctx context.Context) Status {
	st := h.src.Status()
	st.Ready = RollUp(h.src.Ready().Checks)
	st.Status = "degraded"
	if st.Ready == StateReady {
		st.Status = "healthy"
	}
	st.Service = service
	st.Version = orUnknown(buildinfo.Version)
	// §6.3: http and websocket are always true while the API answers.
	st.Endpoints.HTTP, st.Endpoints.WebSocket = true, true
	st.Timestamp = h.timestamp()
	st.UptimeSeconds = h.metrics.Since().Seconds()
	if t, err := readRegistry(h.readback); err == nil {
		st.Messages = Messages{ReceivedTotal: t.received, DeliveredTotal: t.delivered, ErrorsTotal: t.errorsSum}
	} else {
		h.log.LogAttrs(ctx, slog.LevelWarn, "metrics gather failed", slog.String("error", err.Error()))
	}
	return st
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	_ = writeJSON(w, http.StatusOK, h.currentStatus(r.Context()))
}

func (h *handler) metricsJSON(w http.ResponseWriter, r *http.Request) {
	st := h.src.Status()
	t, err := readRegistry(h.readback)
	if err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "metrics gather failed", slog.String("error", err.Error()))
	}
	if ec, ok := h.src.(CommandErrorCounter); ok {
		for name, n := range ec.CommandErrors() {
			cs := t.commands[name]
			cs.Errors = n
			t.commands[name] = cs
		}
	}
	degraded := 0
	if st.Storage.Degraded {
		degraded = 1
	}
	_ = writeJSON(w, http.StatusOK, MetricsJSON{
		Timestamp:                 h.timestamp(),
		UptimeSeconds:             h.metrics.Since().Seconds(),
		ActiveClients:             st.Clients.Active,
		WebSocketConnectionsTotal: t.connections,
		MessagesReceivedTotal:     t.received,
		MessagesDeliveredTotal:    t.delivered,
		ErrorsTotal:               t.errors,
		Rooms:                     st.Rooms,
		Channels:                  st.Channels,
		TelemetryConnections:      st.Telemetry.Connections,
		StorageDegraded:           degraded,
		CASILDecisions:            t.casil,
		Commands:                  t.commands,
	})
}

func (h *handler) storageStats(w http.ResponseWriter, r *http.Request) {
	h.writeObject(w, r, h.src.StorageStats())
}

func (h *handler) telemetryStats(w http.ResponseWriter, r *http.Request) {
	v, ok := h.src.TelemetryStats()
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found", "Telemetry is disabled")
		return
	}
	h.writeObject(w, r, v)
}

// writeObject writes a value shaped by another package; nil becomes {}.
func (h *handler) writeObject(w http.ResponseWriter, r *http.Request, v any) {
	if v == nil {
		v = struct{}{}
	}
	if err := writeJSON(w, http.StatusOK, v); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "cannot encode response",
			slog.String("route", r.URL.Path), slog.String("error", err.Error()))
	}
}

// timestamp formats the response time as in OPERATIONS.md §1.
func (h *handler) timestamp() string {
	return time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
}

type errorBody struct {
	Error   string `json:"error"`
	Details string `json:"details,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg, details string) {
	_ = writeJSON(w, code, errorBody{Error: msg, Details: details})
}

// writeJSON writes v as one JSON document followed by a newline. A value
// that cannot be encoded becomes a 500 rather than a truncated body, and
// the encoding error is returned for the caller to log.
func writeJSON(w http.ResponseWriter, code int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":"Internal Server Error"}`)
	}
	b = append(b, '\n')
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
	return err
}

// statusRecorder remembers the status code for metrics and access logs.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) code() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// promLogger routes promhttp encoding errors to slog.
type promLogger struct{ log *slog.Logger }

func (p promLogger) Println(v ...any) {
	p.log.Warn("metrics exposition failed", "error", strings.TrimSpace(fmt.Sprintln(v...)))
}
