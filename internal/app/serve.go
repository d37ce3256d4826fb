// Package app assembles the bus process (`arqonbus serve`): configuration,
// storage, the bus, the HTTP ops API and their startup and shutdown order
// (OPERATIONS.md §10).
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/casil"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/httpapi"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/operators"
	"github.com/arqonbus/arqonbus/internal/preflight"
	"github.com/arqonbus/arqonbus/internal/redact"
	"github.com/arqonbus/arqonbus/internal/storage"
	"github.com/arqonbus/arqonbus/internal/telemetry"
)

// NewLogger builds the process logger (OPERATIONS.md §9): slog to w, text or
// JSON by profile, with the central secret-redacting attribute replacer.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel(), ReplaceAttr: redact.ReplaceAttr}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// LogWarnings logs the loader's warnings once logging is set up.
func LogWarnings(cfg *config.Config, logger *slog.Logger) {
	for _, w := range cfg.Warnings {
		logger.Warn(w.Message, w.Args()...)
	}
}

// Bus is a running bus process.
type Bus struct {
	cfg      *config.Config
	log      *slog.Logger
	metrics  *metrics.Bus
	store    *storage.Manager
	server   *bus.Server
	casil    *casil.Engine
	ops      *operators.Operators
	tel      *telemetry.Server
	telHTTP  *http.Server
	busLn    net.Listener
	httpLn   net.Listener
	telLn    net.Listener
	busHTTP  *http.Server
	opsHTTP  *http.Server
	shutdown chan struct{}
	once     sync.Once
	stopping atomic.Bool
}

// Serve runs the bus until ctx is cancelled or POST /admin/shutdown, then
// drains (OPERATIONS.md §10.2). It returns the startup error, if any.
func Serve(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	b, err := Start(ctx, cfg, logger)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-b.shutdown:
	}
	b.Stop()
	return nil
}

// Start performs the startup order of OPERATIONS.md §10.1 and returns once
// every listener is bound and serving.
func Start(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*Bus, error) {
	LogWarnings(cfg, logger)
	if preflight.StartupRequired(cfg) {
		if err := preflight.StartupContext(ctx, cfg, "bus", logger.With("component", "bus")); err != nil {
			return nil, err
		}
	}
	logger.Info("configuration loaded", append([]any{"component", "config"}, attrsAny(cfg.LogAttrs())...)...)
	b := &Bus{cfg: cfg, log: logger, metrics: metrics.NewBus(), shutdown: make(chan struct{})}
	c := cfg.Bus

	var srv *bus.Server
	var srvMu sync.Mutex
	store, err := storage.NewManager(ctx, storage.ManagerOptions{
		Backend: c.StorageBackend, Mode: c.StorageMode, RedisURL: c.RedisURL, RedactedURL: c.RedisURLRedacted,
		HistorySize: c.HistorySize, HistoryTTL: c.HistoryTTL, Timeout: c.StorageTimeout,
		Logger: logger, Metrics: b.metrics,
		OnTransition: func(degraded bool) {
			srvMu.Lock()
			s := srv
			srvMu.Unlock()
			if s != nil {
				s.EmitStorageEvent(degraded)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	b.store = store

	policy, problems := casil.FromValues(casilInput(c.CASIL))
	if len(problems) > 0 {
		store.Close()
		return nil, fmt.Errorf("Invalid configuration: %s", problems[0].Message)
	}
	b.casil = casil.NewEngine(policy)

	var verifier *auth.Verifier
	if c.EnableAuth {
		verifier, err = auth.NewVerifier(auth.Config{Algorithm: c.AuthJWTAlgorithm, Secret: []byte(c.AuthJWTSecret),
			PublicKey: c.AuthJWTPublicKey, Leeway: c.AuthJWTLeeway, RequireExp: cfg.IsProd()})
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("Invalid configuration: %w", err)
		}
	}
	var onEvent func(bus.Event)
	if c.TelemetryEnabled {
		b.tel = telemetry.New(telemetry.Options{Host: c.TelemetryHost, Port: c.TelemetryPort,
			MaxConnections: c.TelemetryMaxConnections, MaxEventSize: c.TelemetryMaxEventSize,
			SendQueueSize: c.SendQueueSize, SendQueueBytes: c.SendQueueBytes,
			PingInterval: c.PingInterval, PingTimeout: c.PingTimeout,
			EnableAuth: c.EnableAuth, Verifier: verifier, Metrics: b.metrics, Logger: logger})
		onEvent = b.tel.OnEvent
	}
	b.ops = operators.New(operators.Options{Store: store, Metrics: b.metrics, Logger: logger.With("component", "operators"),
		OmegaEnabled: c.Omega.Enabled, OmegaLabRoom: c.Omega.LabRoom, OmegaLabChannel: c.Omega.LabChannel,
		OmegaMaxEvents: c.Omega.MaxEvents, OmegaMaxSubstrates: c.Omega.MaxSubstrates,
		WebhookAllowPrivateNetworks: c.WebhookAllowPrivateNetworks, ShutdownTimeout: c.ShutdownTimeout})
	s, err := bus.New(ctx, bus.Options{
		Environment: cfg.Profile, EnableAuth: c.EnableAuth, Verifier: verifier, Leeway: c.AuthJWTLeeway,
		DevAdmin: c.DevAdmin, MaxConnections: c.MaxConnections, MaxMessageSize: c.MaxMessageSize,
		Compression: c.Compression, RateLimitPerSecond: c.RateLimitPerSecond, RateLimitBurst: c.RateLimitBurst,
		RateLimitMaxViolations: c.RateLimitMaxViolations, MaxSubscriptions: c.MaxSubscriptions,
		MaxChannels: c.MaxChannels, SendQueueSize: c.SendQueueSize, SendQueueBytes: c.SendQueueBytes,
		PingInterval: c.PingInterval, PingTimeout: c.PingTimeout, ShutdownTimeout: c.ShutdownTimeout,
		RecoveryMaxPublications: c.RecoveryMaxPublications, HistorySize: c.HistorySize,
		Store: store, Casil: b.casil, Metrics: b.metrics, Logger: logger,
		Extensions: []bus.Extension{b.ops.Extension()}, DisableEvents: !c.TelemetryEnabled, OnEvent: onEvent,
	})
	if err != nil {
		b.ops.Close()
		store.Close()
		return nil, err
	}
	b.ops.Attach(s)
	if b.tel != nil {
		b.tel.Attach(s)
	}
	srvMu.Lock()
	srv = s
	srvMu.Unlock()
	b.server = s

	busAddr := net.JoinHostPort(c.ServerHost, strconv.Itoa(c.ServerPort))
	b.busLn, err = net.Listen("tcp", busAddr)
	if err != nil {
		b.abort()
		return nil, fmt.Errorf("cannot listen on %s: %v", busAddr, err)
	}
	if b.tel != nil {
		telAddr := net.JoinHostPort(c.TelemetryHost, strconv.Itoa(c.TelemetryPort))
		b.telLn, err = net.Listen("tcp", telAddr)
		if err != nil {
			b.busLn.Close()
			b.abort()
			return nil, fmt.Errorf("cannot listen on %s: %v", telAddr, err)
		}
	}
	if c.HTTPEnabled {
		httpAddr := net.JoinHostPort(c.HTTPHost, strconv.Itoa(c.HTTPPort))
		b.httpLn, err = net.Listen("tcp", httpAddr)
		if err != nil {
			b.busLn.Close()
			if b.telLn != nil {
				b.telLn.Close()
			}
			b.abort()
			return nil, fmt.Errorf("cannot listen on %s: %v", httpAddr, err)
		}
	}
	b.busHTTP = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	go func() { _ = b.busHTTP.Serve(b.busLn) }()
	logger.Info("listening", "component", "bus", "addr", b.busLn.Addr().String())
	if b.telLn != nil {
		ta := b.telLn.Addr().(*net.TCPAddr)
		b.tel.SetBoundAddr(c.TelemetryHost, ta.Port)
		b.telHTTP = &http.Server{Handler: b.tel, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
		go func() { _ = b.telHTTP.Serve(b.telLn) }()
		logger.Info("listening", "component", "telemetry", "addr", b.telLn.Addr().String())
	}
	if b.httpLn != nil {
		h := httpapi.NewHandler(&source{b: b}, httpapi.Options{AdminAPIKey: c.AdminAPIKey, CORSOrigins: c.HTTPCORSOrigins,
			Metrics: b.metrics, Logger: logger})
		b.opsHTTP = httpapi.NewServer("", h)
		go func() { _ = b.opsHTTP.Serve(b.httpLn) }()
		logger.Info("listening", "component", "http", "addr", b.httpLn.Addr().String())
	}
	return b, nil
}

func (b *Bus) abort() {
	if b.tel != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		b.tel.Shutdown(ctx)
		cancel()
	}
	b.server.Shutdown(context.Background())
	b.ops.Close()
	b.store.Close()
}

// Done is closed when POST /admin/shutdown asks the process to stop.
func (b *Bus) Done() <-chan struct{} { return b.shutdown }

// TelemetryAddr returns the bound telemetry WebSocket address, or "".
func (b *Bus) TelemetryAddr() string {
	if b.telLn == nil {
		return ""
	}
	return b.telLn.Addr().String()
}

// Addr returns the bound bus WebSocket address.
func (b *Bus) Addr() string { return b.busLn.Addr().String() }

// HTTPAddr returns the bound ops API address, or "".
func (b *Bus) HTTPAddr() string {
	if b.httpLn == nil {
		return ""
	}
	return b.httpLn.Addr().String()
}

// Stop runs the shutdown sequence of OPERATIONS.md §10.2. The HTTP ops API
// stops last so that probes work throughout the drain.
func (b *Bus) Stop() {
	b.stopping.Store(true)
	var wg sync.WaitGroup
	if b.tel != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Bus.ShutdownTimeout)
			b.tel.Shutdown(ctx)
			cancel()
		}()
	}
	// In-flight webhook deliveries finish within the same budget as the
	// connection drain, not after it.
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.ops.Close()
	}()
	b.server.Shutdown(context.Background())
	wg.Wait()
	_ = b.busHTTP.Close()
	if b.telHTTP != nil {
		_ = b.telHTTP.Close()
	}
	if err := b.store.Close(); err != nil {
		b.log.Warn("storage close failed", "component", "storage", "error", err)
	}
	if b.opsHTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = b.opsHTTP.Shutdown(ctx)
		cancel()
	}
	b.log.Info("shutdown complete", "component", "bus")
}

func attrsAny(attrs []slog.Attr) []any {
	out := make([]any, len(attrs))
	for i, a := range attrs {
		out[i] = a
	}
	return out
}

// source adapts the running process to the ops API.
type source struct{ b *Bus }

func (s *source) Ready() httpapi.Ready {
	h := s.b.store.Health()
	detail := ""
	if !h.Healthy {
		detail = "storage backend unreachable"
	}
	return httpapi.Ready{Checks: httpapi.Checks{
		Storage:  httpapi.StorageCheckFor(h.Backend, h.Mode, h.Healthy, detail),
		NATS:     httpapi.NATSCheckFor(false, false),
		Ollama:   httpapi.OllamaCheckFor(false, false),
		Shutdown: httpapi.ShutdownCheckFor(s.b.stopping.Load() || s.b.server.ShuttingDown()),
	}}
}

func (s *source) Status() httpapi.Status {
	b := s.b
	h := b.store.Health()
	rooms, channels := b.server.Counts()
	byType := b.server.ClientsByType()
	var url *string
	if h.URL != "" {
		u := h.URL
		url = &u
	}
	st := httpapi.Status{
		Environment: b.cfg.Profile,
		Endpoints:   httpapi.Endpoints{HTTP: true, WebSocket: true, Storage: h.Healthy, Telemetry: false},
		Addresses:   httpapi.Addresses{WebSocket: "ws://" + b.Addr() + "/ws", HTTP: "http://" + b.HTTPAddr()},
		Clients: httpapi.Clients{Active: int64(b.server.ActiveClients()), ByType: httpapi.ClientsByType{
			Human: int64(byType["human"]), AIAgent: int64(byType["ai-agent"]), Dashboard: int64(byType["dashboard"]), Service: int64(byType["service"])}},
		Rooms: int64(rooms), Channels: int64(channels),
		Storage:   httpapi.StorageStatus{Backend: h.Backend, Mode: h.Mode, Healthy: h.Healthy, Degraded: h.Degraded, URL: url},
		Telemetry: httpapi.TelemetryStatus{Enabled: b.tel != nil},
	}
	if b.tel != nil {
		st.Addresses.Telemetry = "ws://" + b.TelemetryAddr() + "/"
		st.Telemetry.Connections = int64(b.tel.Connections())
	}
	p := b.casil.Policy().Snapshot()
	st.CASIL.Enabled, _ = p["enabled"].(bool)
	st.CASIL.Mode, _ = p["mode"].(string)
	return st
}

func (s *source) StorageStats() any { return s.b.store.Stats() }

func (s *source) TelemetryStats() (any, bool) {
	if s.b.tel == nil {
		return nil, false
	}
	return s.b.tel.Stats(), true
}

func (s *source) DisconnectClient(id string) bool { return s.b.server.Disconnect(id) }

func (s *source) Shutdown() { s.b.once.Do(func() { close(s.b.shutdown) }) }

func (s *source) ConfigSnapshot() (string, map[string]any) {
	return s.b.cfg.Profile, s.b.cfg.Snapshot()
}

// casilInput hands the loader's typed CASIL values to the policy builder.
func casilInput(c config.CASIL) casil.PolicyInput {
	patterns := make([]string, len(c.RedactionPatterns))
	for i, re := range c.RedactionPatterns {
		patterns[i] = re.String()
	}
	return casil.PolicyInput{
		Enabled: &c.Enabled, Mode: &c.Mode, DefaultDecision: &c.DefaultDecision,
		ScopeInclude: &c.ScopeInclude, ScopeExclude: &c.ScopeExclude,
		MaxPayloadBytes: &c.MaxPayloadBytes, MaxInspectBytes: &c.MaxInspectBytes, MaxPatterns: &c.MaxPatterns,
		BlockOnProbableSecret: &c.BlockOnProbableSecret, RedactionPaths: &c.RedactionPaths,
		RedactionPatterns: &patterns, TransportRedaction: &c.TransportRedaction,
		NeverLogPayloadFor: &c.NeverLogPayloadFor, MetadataToLogs: &c.MetadataToLogs,
		MetadataToTelemetry: &c.MetadataToTelemetry, MetadataToEnvelope: &c.MetadataToEnvelope,
	}
}
