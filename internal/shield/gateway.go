// Package shield is the Shield edge gateway (SHIELD.md): an authenticating
// WebSocket ingress that validates every frame, applies an optional WASM
// policy and routes accepted frames onto NATS per tenant, failing closed
// and telling the client about every outcome.
package shield

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/arqonbus/arqonbus/internal/auth"
)

// Gateway is one Shield instance. Create it with New, serve with Run.
type Gateway struct {
	opts    Options
	base    *slog.Logger // without component, for the shield-metrics line
	logger  *slog.Logger // component=shield
	metrics *Metrics

	verifier *auth.Verifier
	schemas  *Schemas
	policy   *Policy
	up       *upstream
	routes   *returnPath

	origins   []*regexp.Regexp
	promH     http.Handler
	upgrader  websocket.Upgrader
	rejectLog *rate.Limiter

	active   atomic.Int64
	draining atomic.Bool
	started  atomic.Bool

	mu    sync.Mutex
	conns map[*conn]struct{}
	wg    sync.WaitGroup

	ready       chan struct{}
	wsAddr      string
	metricsAddr string
	closeOnce   sync.Once
}

// New performs the startup steps of SHIELD.md §4.1 that follow
// configuration parsing: it re-checks the fail-closed rules of §3.3 on the
// typed options, compiles the schemas (step 4), loads the policy (step 5),
// connects to NATS (step 6) and probes JetStream (step 7). Every error
// carries the exact message of the specification; on error nothing stays
// open. Start from DefaultOptions.
func New(opts Options, logger *slog.Logger) (*Gateway, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if errs := opts.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("Invalid configuration: %s", strings.Join(errs, "; "))
	}
	if err := opts.sanity(); err != nil {
		return nil, fmt.Errorf("Invalid configuration: %w", err)
	}
	g := &Gateway{
		opts:      opts,
		base:      logger,
		logger:    logger.With("component", "shield"),
		conns:     map[*conn]struct{}{},
		ready:     make(chan struct{}),
		rejectLog: rate.NewLimiter(10, 10),
	}
	g.logger.Info("configuration loaded", opts.logAttrs()...)
	if opts.SkipValidation {
		g.logger.Warn("JWT signature verification is DISABLED (JWT_SKIP_VALIDATION); development only")
	} else if opts.SkipValidationSet {
		g.logger.Warn("JWT_SKIP_VALIDATION is set to false and has no effect; remove it from the environment")
	}
	if !opts.SchemaStrict {
		g.logger.Warn("schema enforcement is not strict (ARQON_SCHEMA_STRICT=false): invalid frames are published with Arqon-Schema-Violation")
	}
	for _, p := range opts.AllowedOrigins {
		g.origins = append(g.origins, originPattern(p))
	}
	var err error
	g.verifier, err = auth.NewVerifier(auth.Config{
		Algorithm:             "HS256",
		Algorithms:            []string{"HS384", "HS512"},
		Secret:                []byte(opts.JWTSecret),
		Leeway:                opts.JWTLeeway,
		RequireExp:            true,
		RequireTenant:         true,
		RequireSubject:        true,
		IgnoreRole:            true,
		Audience:              opts.JWTAudience,
		Issuer:                opts.JWTIssuer,
		MaxTokenBytes:         8192,
		InsecureSkipSignature: opts.SkipValidation,
	})
	if err != nil {
		return nil, fmt.Errorf("Invalid configuration: JWT_SECRET: %v", err)
	}
	if g.schemas, err = LoadSchemas(opts.SchemaDir); err != nil {
		return nil, err
	}
	g.logger.Info("schema loaded", "strict", opts.SchemaStrict, "extra_types", g.schemas.ExtraTypes())
	ctx := context.Background()
	if opts.PolicyPath != "" {
		if g.policy, err = LoadPolicy(ctx, opts.PolicyPath, opts.PolicyTimeout, opts.PolicyMemoryLimit, g.logger); err != nil {
			return nil, err
		}
		g.logger.Info("policy loaded", "path", opts.PolicyPath, "sha256", g.policy.SHA256, "alloc", g.policy.HasAlloc())
	}
	if g.up, err = connectUpstream(ctx, &g.opts, g.logger); err != nil {
		g.closePolicy()
		return nil, err
	}
	g.metrics = NewMetrics(g.up.connected)
	g.routes = newReturnPath(g.up.nc, g.metrics)
	g.promH = promhttp.HandlerFor(g.metrics.Registry, promhttp.HandlerOpts{})
	g.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		CheckOrigin:      func(*http.Request) bool { return true }, // checked before, §6.1 step 5
	}
	return g, nil
}

func (o *Options) sanity() error {
	switch {
	case o.MaxMessageSize < 1:
		return errors.New("ARQON_SHIELD_MAX_MESSAGE_SIZE must be positive")
	case o.MaxConnections < 1:
		return errors.New("ARQON_SHIELD_MAX_CONNECTIONS must be positive")
	case o.SendQueueSize < 1:
		return errors.New("ARQON_SHIELD_SEND_QUEUE_SIZE must be positive")
	case o.RateLimitBurst < 1:
		return errors.New("ARQON_SHIELD_RATE_LIMIT_BURST must be at least 1")
	case o.PingInterval <= 0 || o.PingTimeout <= 0 || o.PolicyTimeout <= 0 || o.PublishTimeout <= 0 || o.ShutdownTimeout <= 0:
		return errors.New("Shield durations must be positive")
	}
	return nil
}

func (g *Gateway) closePolicy() {
	if g.policy != nil {
		_ = g.policy.Close(context.Background())
	}
}

// Metrics returns the gateway's metrics (for tests and embedding).
func (g *Gateway) Metrics() *Metrics { return g.metrics }

// Ready is closed once both listeners are bound and the gateway serves.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// Addr and MetricsAddr return the bound addresses once Ready is closed.
func (g *Gateway) Addr() string        { return g.wsAddr }
func (g *Gateway) MetricsAddr() string { return g.metricsAddr }

// Run binds the WebSocket and metrics listeners (SHIELD.md §4.1 steps 8–10),
// serves until ctx is cancelled, then shuts down gracefully (§4.3) and
// returns nil. It releases everything New opened, whatever the outcome.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.Close()
	wsAddr := net.JoinHostPort(g.opts.Host, strconv.Itoa(g.opts.Port))
	wsLn, err := net.Listen("tcp", wsAddr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %v", wsAddr, err)
	}
	mAddr := net.JoinHostPort(g.opts.Host, strconv.Itoa(g.opts.MetricsPort))
	mLn, err := net.Listen("tcp", mAddr)
	if err != nil {
		_ = wsLn.Close()
		return fmt.Errorf("cannot listen on %s: %v", mAddr, err)
	}
	g.wsAddr, g.metricsAddr = wsLn.Addr().String(), mLn.Addr().String()
	g.logger.Info("listening", "addr", g.wsAddr)
	g.base.Info("listening", "component", "shield-metrics", "addr", g.metricsAddr)

	wsSrv := &http.Server{Handler: http.HandlerFunc(g.serveWS), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(g.logger.Handler(), slog.LevelDebug)}
	mSrv := &http.Server{Handler: http.HandlerFunc(g.serveOps), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- wsSrv.Serve(wsLn) }()
	go func() { errc <- mSrv.Serve(mLn) }()
	jsCtx, stopJS := context.WithCancel(context.Background())
	defer stopJS()
	go g.up.watchJetStream(jsCtx)
	g.started.Store(true)
	close(g.ready)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	g.shutdown()
	_ = wsSrv.Close()
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = mSrv.Shutdown(sctx)
	cancel()
	g.logger.Info("shutdown complete")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// shutdown is SHIELD.md §4.3 steps 1–4.
func (g *Gateway) shutdown() {
	budget := g.opts.ShutdownTimeout
	deadline := time.Now().Add(budget)
	g.draining.Store(true)
	g.routes.shutdown()
	g.mu.Lock()
	for c := range g.conns {
		c.startClose(closeGoingAway, "server shutting down", true)
	}
	g.mu.Unlock()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
		g.mu.Lock()
		for c := range g.conns {
			_ = c.ws.Close()
		}
		g.mu.Unlock()
		<-done
	}
	rest := time.Until(deadline)
	if rest < 100*time.Millisecond {
		rest = 100 * time.Millisecond
	}
	g.up.drain(rest)
}

// Close releases the NATS connection and the policy runtime. Run calls it;
// call it directly only when Run is never called.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		if g.up != nil && g.up.nc != nil {
			g.up.nc.Close()
		}
		g.closePolicy()
	})
	return nil
}

// isReady is the readiness rule of SHIELD.md §4.2.
func (g *Gateway) readiness() (bool, map[string]string) {
	checks := map[string]string{"nats": "ok", "jetstream": "disabled", "policy": "disabled", "shutdown": "no"}
	ok := g.started.Load()
	if !g.up.connected() {
		checks["nats"], ok = "disconnected", false
	}
	if g.opts.JetStream {
		checks["jetstream"] = "ok"
		if g.up.jsFailed.Load() {
			checks["jetstream"], ok = "error", false
		}
	}
	if g.policy != nil {
		checks["policy"] = "ok"
	}
	if g.draining.Load() {
		checks["shutdown"], ok = "draining", false
	}
	return ok, checks
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// serveOps is the metrics port: /healthz, /readyz, /metrics (§4.2).
func (g *Gateway) serveOps(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
		writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
	case "/readyz":
		ok, c := g.readiness()
		status, word := http.StatusOK, "ready"
		if !ok {
			status, word = http.StatusServiceUnavailable, "not_ready"
		}
		body := fmt.Sprintf(`{"status":%q,"checks":{"nats":%q,"jetstream":%q,"policy":%q,"shutdown":%q}}`,
			word, c["nats"], c["jetstream"], c["policy"], c["shutdown"])
		writeJSON(w, status, []byte(body))
	case "/metrics":
		g.promH.ServeHTTP(w, r)
	default:
		writeJSON(w, http.StatusNotFound, []byte(`{"error":"Not Found"}`))
	}
}
