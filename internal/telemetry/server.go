// Package telemetry is the telemetry WebSocket server (OPERATIONS.md §7): it
// validates and enriches the events dashboards and agents send, publishes
// them into integriguard:telemetry-stream of the bus and fans them out to the
// other telemetry clients, together with the bus's own events (§7.4).
//
// Fan-out never blocks and never holds a lock across a socket write: every
// client has a bounded send queue drained by a writer goroutine that exists
// only while frames are pending, and a client whose queue overflows is closed
// with 4008 (§7.5).
package telemetry

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	ws "github.com/arqonbus/arqonbus/internal/handshake"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/redact"
)

// streamSender is the sender of accepted events published on the bus
// (OPERATIONS.md §7.3; bus.PublishTelemetry routes them to
// integriguard:telemetry-stream of the default tenant).
const streamSender = "telemetry"

// Options configures the server. Zero values get the defaults of
// OPERATIONS.md §4.2 and §4.6.
type Options struct {
	Host string // reported in the welcome's server_config
	Port int    // reported in the welcome's server_config

	MaxConnections int // ARQONBUS_TELEMETRY_MAX_CONNECTIONS (500)
	MaxEventSize   int // ARQONBUS_TELEMETRY_MAX_EVENT_SIZE (65536)
	SendQueueSize  int // ARQONBUS_SEND_QUEUE_SIZE (1024 frames)
	SendQueueBytes int // ARQONBUS_SEND_QUEUE_BYTES (4 MiB)
	PingInterval   time.Duration
	PingTimeout    time.Duration

	EnableAuth bool
	Verifier   *auth.Verifier // required when EnableAuth

	Metrics *metrics.Bus
	Logger  *slog.Logger
}

func (o *Options) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxConnections, 500)
	def(&o.MaxEventSize, 65536)
	def(&o.SendQueueSize, 1024)
	def(&o.SendQueueBytes, 4194304)
	if o.PingInterval <= 0 {
		o.PingInterval = 20 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 10 * time.Second
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewBus()
	}
}

// Server is the telemetry WebSocket server. It implements http.Handler (any
// path).
type Server struct {
	opts     Options
	log      *slog.Logger
	metrics  *metrics.Bus
	upgrader websocket.Upgrader
	bus      atomic.Pointer[bus.Server]

	mu      sync.Mutex
	clients map[*client]struct{}
	list    atomic.Pointer[[]*client] // copy-on-write snapshot for fan-out

	active   atomic.Int64 // admitted connections
	shutting atomic.Bool
	wg       sync.WaitGroup // every goroutine the server starts

	received, rejected, emitted, broadcast atomic.Uint64
	bound                                  atomic.Pointer[serverConfig] // the listener actually bound

	mAccepted, mRejected, mEmitted, mDropped prometheus.Counter
}

// New builds a telemetry server. Give it the bus with Attach before serving.
func New(opts Options) *Server {
	opts.setDefaults()
	s := &Server{
		opts:    opts,
		log:     opts.Logger.With("component", "telemetry"),
		metrics: opts.Metrics,
		clients: make(map[*client]struct{}),
	}
	s.list.Store(&[]*client{})
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		// A browser that sends bearer.<token> must also offer one
		// selectable subprotocol (PROTOCOL.md §2.3); bearer.* is never
		// echoed because it is not listed here.
		Subprotocols: []string{"arqonbus.v1"},
		CheckOrigin:  func(*http.Request) bool { return true }, // checked before the upgrade
		Error: func(w http.ResponseWriter, _ *http.Request, status int, _ error) {
			s.reject(w, http.StatusBadRequest, "bad_request", "Bad Request", "Invalid WebSocket upgrade request")
		},
	}
	s.mAccepted = s.metrics.TelemetryEvents.WithLabelValues("accepted")
	s.mRejected = s.metrics.TelemetryEvents.WithLabelValues("rejected")
	s.mEmitted = s.metrics.TelemetryEvents.WithLabelValues("emitted")
	s.mDropped = s.metrics.EventsDropped.WithLabelValues("storage")
	return s
}

// Attach gives the server the bus into which accepted events are published.
// Until it is called, accepted events are acknowledged and fanned out to
// telemetry clients only.
func (s *Server) Attach(b *bus.Server) { s.bus.Store(b) }

// goTracked runs f on a goroutine that Shutdown waits for.
func (s *Server) goTracked(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// reject writes a pre-upgrade refusal with the bus's body format.
func (s *Server) reject(w http.ResponseWriter, status int, reason, errText, details string) {
	s.metrics.ConnectionRejections.WithLabelValues("telemetry", reason).Inc()
	ws.Reject(w, status, errText, details)
}

// ServeHTTP performs the handshake (OPERATIONS.md §7.1) and upgrades.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The handler counts as one of the server's goroutines, so that Shutdown
	// waits for an upgrade in progress; the check and the count happen under
	// s.mu, which Shutdown takes to set shutting.
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		s.reject(w, http.StatusServiceUnavailable, "shutting_down", "Service Unavailable", "Server shutting down")
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	if s.opts.EnableAuth {
		token, ok := auth.ExtractToken(r, auth.Sources{Header: true, QueryParams: []string{"token", "access_token", "auth_token"}, Subprotocol: true})
		if !ok {
			s.logReject(r, "missing bearer token")
			s.reject(w, http.StatusUnauthorized, "unauthorized", "Unauthorized", "Missing bearer token")
			return
		}
		if s.opts.Verifier == nil {
			s.logReject(r, "no verifier configured")
			s.reject(w, http.StatusUnauthorized, "unauthorized", "Unauthorized", "Invalid token")
			return
		}
		id, err := s.opts.Verifier.Verify(token, time.Now())
		if err != nil {
			s.logReject(r, err.Error())
			s.reject(w, http.StatusUnauthorized, "unauthorized", "Unauthorized", "Invalid token")
			return
		}
		// Telemetry spans tenants: operator admins only (PROTOCOL.md §9.3).
		if !id.IsAdmin() || id.HasTenant {
			s.logReject(r, "not an operator admin")
			s.reject(w, http.StatusForbidden, "forbidden", "Forbidden", "Operator admin role required")
			return
		}
	} else if origin := r.Header.Get("Origin"); origin != "" && !ws.LoopbackOrigin(origin) {
		s.logReject(r, "cross-origin request refused")
		s.reject(w, http.StatusForbidden, "forbidden", "Forbidden", "Cross-origin request refused")
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		s.reject(w, http.StatusUpgradeRequired, "upgrade_required", "Upgrade Required", "WebSocket upgrade expected")
		return
	}
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader's Error callback answered
	}
	if s.active.Add(1) > int64(s.opts.MaxConnections) {
		s.active.Add(-1)
		s.metrics.ConnectionRejections.WithLabelValues("telemetry", "capacity").Inc()
		s.log.Warn("telemetry connection limit reached", "max_connections", s.opts.MaxConnections, "remote_addr", r.RemoteAddr)
		s.goTracked(func() { refuse(conn, closeTryLater, reasonLimit) })
		return
	}
	c := &client{srv: s, conn: conn, remote: r.RemoteAddr}
	conn.SetReadLimit(0) // the read loop enforces MaxEventSize itself, to send the 1009 reason
	// The welcome is queued before the client becomes visible to fan-out,
	// so it is always the first frame.
	hello := s.welcome()
	c.pending, c.n, c.bytes = [][]byte{hello}, 1, len(hello)
	if !s.register(c) {
		// Shutdown began during the upgrade.
		s.goTracked(func() { refuse(conn, closeGoingAway, reasonGoingAway) })
		return
	}
	c.kick()
	c.startKeepalive()
	s.log.Debug("telemetry client connected", "remote_addr", c.remote)
	s.goTracked(c.readLoop)
}

// refuse closes a freshly upgraded connection with code, waiting briefly for
// the peer's close reply so that the close frame is not lost to a reset.
func refuse(conn *websocket.Conn, code int, reason string) {
	deadline := time.Now().Add(time.Second)
	if err := conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline); err == nil {
		halfClose(conn.NetConn())
		_ = conn.SetReadDeadline(time.Now().Add(closeLinger))
		for {
			if _, _, err := conn.NextReader(); err != nil {
				break
			}
		}
	}
	_ = conn.NetConn().Close()
}

type serverConfig struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

type welcomeFrame struct {
	EventType    string       `json:"event_type"`
	Timestamp    string       `json:"timestamp"`
	Message      string       `json:"message"`
	ServerConfig serverConfig `json:"server_config"`
}

func (s *Server) welcome() []byte {
	cfg := serverConfig{s.opts.Host, s.opts.Port}
	if b := s.bound.Load(); b != nil {
		cfg = *b
	}
	b, _ := encodeJSON(welcomeFrame{"telemetry_connected", protocol.FormatTime(time.Now()),
		"Connected to ArqonBus telemetry", cfg})
	return b
}

// SetBoundAddr records the address the listener actually bound (port 0
// picks a free port), which the welcome's server_config reports.
func (s *Server) SetBoundAddr(host string, port int) {
	s.bound.Store(&serverConfig{host, port})
}

func (s *Server) register(c *client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting.Load() {
		s.active.Add(-1)
		return false
	}
	s.clients[c] = struct{}{}
	s.publishList()
	s.metrics.TelemetryConnections.Inc()
	return true
}

func (s *Server) unregister(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c]; !ok {
		return
	}
	delete(s.clients, c)
	s.publishList()
	s.active.Add(-1)
	s.metrics.TelemetryConnections.Dec()
}

// publishList replaces the fan-out snapshot; s.mu is held.
func (s *Server) publishList() {
	l := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		l = append(l, c)
	}
	s.list.Store(&l)
}

// handleFrame processes one inbound frame (OPERATIONS.md §7.2, §7.3) on the
// client's read goroutine.
func (s *Server) handleFrame(c *client, data []byte) {
	now := time.Now()
	in := parseFrame(data)
	switch in.kind {
	case kindPing:
		c.enqueue(pongFrame(now))
	case kindSubscribe:
		if len(in.errs) > 0 {
			c.enqueue(errorFrame("Invalid subscribe request", protocol.CodeValidation, in.errs))
			return
		}
		c.setFilter(in.events)
		c.enqueue(subscribedFrame(in.events))
	case kindInvalid:
		s.received.Add(1)
		s.reject1(c, errorFrame("Invalid JSON", protocol.CodeInvalidJSON, in.errs))
	case kindEvent:
		s.received.Add(1)
		if len(in.errs) > 0 {
			s.reject1(c, errorFrame("Invalid telemetry event", protocol.CodeValidation, in.errs))
			return
		}
		s.accept(c, in, now)
	}
}

func (s *Server) reject1(c *client, frame []byte) {
	s.rejected.Add(1)
	s.mRejected.Inc()
	c.enqueue(frame)
}

// accept publishes a valid event into the bus, acknowledges it and fans it
// out to the other telemetry clients (OPERATIONS.md §7.3).
func (s *Server) accept(c *client, in inbound, now time.Time) {
	id, event, err := enrich(in, now)
	if err != nil {
		s.reject1(c, errorFrame("Invalid telemetry event", protocol.CodeValidation, []string{err.Error()}))
		return
	}
	if b := s.bus.Load(); b != nil {
		env := &protocol.Envelope{ID: protocol.NewID(), Timestamp: protocol.FormatTime(now), Type: protocol.TypeTelemetry,
			Version: protocol.Version, Sender: streamSender, Payload: event}
		if _, _, err := b.PublishTelemetry(context.Background(), env); err != nil {
			// Strict storage refused it: delivered nowhere (§5.6).
			s.mDropped.Inc()
			s.log.Warn("telemetry event not stored", "event_id", id, "error", err)
			c.enqueue(errorFrame("Storage unavailable; event not delivered", protocol.CodeStorageUnavailable, nil))
			return
		}
	}
	s.mAccepted.Inc()
	c.enqueue(ackFrame(id))
	s.fanOut(in.typ, event, c)
}

// fanOut enqueues frame to every client except skip whose filter admits
// eventType. It never blocks.
func (s *Server) fanOut(eventType string, frame []byte, skip *client) {
	n := 0
	for _, c := range *s.list.Load() {
		if c == skip || !c.admits(eventType) {
			continue
		}
		if c.enqueue(frame) {
			n++
		}
	}
	if n > 0 {
		s.broadcast.Add(uint64(n))
	}
}

// OnEvent fans a bus event out to the telemetry clients whose filter admits
// it (OPERATIONS.md §7.4). Pass it as bus.Options.OnEvent; it never blocks.
func (s *Server) OnEvent(ev bus.Event) {
	if s.shutting.Load() {
		return
	}
	var frame []byte
	n := 0
	for _, c := range *s.list.Load() {
		if !c.admits(ev.Type) {
			continue
		}
		if frame == nil {
			if frame = s.busEventFrame(ev); frame == nil {
				return
			}
		}
		if c.enqueue(frame) {
			n++
		}
	}
	s.broadcast.Add(uint64(n))
	s.emitted.Add(1)
	s.mEmitted.Inc()
}

func (s *Server) busEventFrame(ev bus.Event) []byte {
	var tenant *string
	if ev.Tenant != "" {
		tenant = &ev.Tenant
	}
	data := ev.Data
	if data == nil {
		data = map[string]any{}
	}
	t := ev.Time
	if t.IsZero() {
		t = time.Now()
	}
	b, err := encodeJSON(struct {
		EventType string         `json:"event_type"`
		EventID   string         `json:"event_id"`
		Timestamp string         `json:"timestamp"`
		Source    string         `json:"source"`
		Tenant    *string        `json:"tenant"`
		Data      map[string]any `json:"data"`
	}{ev.Type, newEventID(), protocol.FormatTime(t), "arqonbus", tenant, data})
	if err != nil {
		s.log.Error("bus event not encodable", "event_type", ev.Type, "error", err)
		return nil
	}
	return b
}

// Stats is the /telemetry/stats object (OPERATIONS.md §6.3).
type Stats struct {
	Enabled        bool `json:"enabled"`
	Connections    int  `json:"connections"`
	MaxConnections int  `json:"max_connections"`
	// EventsReceived counts inbound event frames, valid or not (pings and
	// subscribe requests excluded).
	EventsReceived uint64 `json:"events_received_total"`
	// EventsRejected counts INVALID_JSON and VALIDATION_ERROR replies to
	// event frames.
	EventsRejected uint64 `json:"events_rejected_total"`
	// EventsEmitted counts bus events handed to the telemetry server.
	EventsEmitted uint64 `json:"events_emitted_total"`
	// EventsBroadcast counts event frames queued to telemetry clients
	// (client events and bus events; one per recipient).
	EventsBroadcast uint64 `json:"events_broadcast_total"`
}

// Stats returns the /telemetry/stats object.
func (s *Server) Stats() any {
	return Stats{
		Enabled:         true,
		Connections:     s.Connections(),
		MaxConnections:  s.opts.MaxConnections,
		EventsReceived:  s.received.Load(),
		EventsRejected:  s.rejected.Load(),
		EventsEmitted:   s.emitted.Load(),
		EventsBroadcast: s.broadcast.Load(),
	}
}

// Connections returns the number of open telemetry connections.
func (s *Server) Connections() int { return int(s.active.Load()) }

// Shutdown refuses new upgrades, closes every connection with 1001 once its
// queued frames are written, and force-closes what is still open when ctx
// ends (OPERATIONS.md §10.2). It returns when every goroutine of the server
// has ended.
func (s *Server) Shutdown(ctx context.Context) {
	s.mu.Lock()
	s.shutting.Store(true)
	s.mu.Unlock()
	for _, c := range *s.list.Load() {
		c.closeAfterFlush(closeGoingAway)
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range *s.list.Load() {
			c.dropConn()
		}
		<-done
	}
}

func (s *Server) logReject(r *http.Request, reason string) {
	s.log.Debug("telemetry handshake rejected", "remote_addr", r.RemoteAddr, "url", redact.URL(r.URL.String()), "error", reason)
}
