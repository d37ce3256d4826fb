// Package bus is the ArqonBus WebSocket server: the handshake, per-connection
// read and write paths, the tenant/room/channel registry, routing and the
// built-in commands (PROTOCOL.md).
package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/casil"
	"github.com/arqonbus/arqonbus/internal/handshake"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/redact"
	"github.com/arqonbus/arqonbus/internal/storage"
)

// Options configures the bus. Zero values are replaced by the defaults of
// OPERATIONS.md §4.2 where a zero makes no sense.
type Options struct {
	Environment string // development | staging | production

	EnableAuth bool
	Verifier   *auth.Verifier // required when EnableAuth
	Leeway     time.Duration
	DevAdmin   bool

	MaxConnections          int
	MaxMessageSize          int
	Compression             bool
	RateLimitPerSecond      float64
	RateLimitBurst          int
	RateLimitMaxViolations  int
	MaxSubscriptions        int
	MaxChannels             int
	SendQueueSize           int
	SendQueueBytes          int
	PingInterval            time.Duration
	PingTimeout             time.Duration
	ShutdownTimeout         time.Duration
	RecoveryMaxPublications int
	HistorySize             int

	Store   storage.Store
	Casil   *casil.Engine // nil: CASIL disabled
	Metrics *metrics.Bus
	Logger  *slog.Logger

	// DisableEvents turns bus events off (ARQONBUS_TELEMETRY_ENABLED=false,
	// OPERATIONS.md §4.6).
	DisableEvents bool
	// OnEvent receives every bus event after it was routed (the telemetry
	// WebSocket fans them out). Optional.
	OnEvent func(Event)
	// Extensions are extra commands (op.*) registered by other packages.
	Extensions []Extension
}

// Event is a bus event (OPERATIONS.md §7.4).
type Event struct {
	Type   string
	Tenant string // "" is the default tenant
	Data   map[string]any
	Time   time.Time
}

func (o *Options) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxConnections, 10000)
	def(&o.MaxMessageSize, 1048576)
	def(&o.RateLimitBurst, 200)
	def(&o.MaxSubscriptions, 128)
	def(&o.MaxChannels, 10000)
	def(&o.SendQueueSize, 1024)
	def(&o.SendQueueBytes, 4194304)
	def(&o.RecoveryMaxPublications, 300)
	def(&o.HistorySize, 500)
	if o.PingInterval <= 0 {
		o.PingInterval = 20 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 10 * time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.Environment == "" {
		o.Environment = "development"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewBus()
	}
}

// Server is the bus. It implements http.Handler for the WebSocket endpoint
// (any path).
type Server struct {
	opts     Options
	store    storage.Store
	metrics  *metrics.Bus
	log      *slog.Logger
	casilLog *slog.Logger
	hub      *hub
	commands map[string]*Command
	aliases  map[string]string
	upgrader websocket.Upgrader
	started  time.Time

	clientsMu sync.RWMutex
	clients   map[string]*Client

	active    atomic.Int64
	byType    [4]atomic.Int64
	shutting  atomic.Bool
	gone      chan struct{} // signalled when the last client leaves
	stopOnce  sync.Once
	stop      chan struct{}
	bgDone    chan struct{}
	received  map[string]prometheus.Counter
	errCounts sync.Map // code -> prometheus.Counter
}

var clientTypes = [4]string{"human", "ai-agent", "dashboard", "service"}

// New builds a bus server. It loads the persisted channel registry and starts
// the idle-channel janitor; call Shutdown to stop it.
func New(ctx context.Context, opts Options) (*Server, error) {
	opts.setDefaults()
	if opts.Store == nil {
		return nil, errors.New("bus: a storage backend is required")
	}
	if opts.EnableAuth && opts.Verifier == nil {
		return nil, errors.New("bus: authentication is enabled but no verifier is configured")
	}
	s := &Server{
		opts:     opts,
		store:    opts.Store,
		metrics:  opts.Metrics,
		log:      opts.Logger.With("component", "bus"),
		casilLog: opts.Logger.With("component", "casil"),
		clients:  make(map[string]*Client),
		started:  time.Now(),
		stop:     make(chan struct{}),
		bgDone:   make(chan struct{}),
	}
	s.hub = newHub(s)
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:    1024,
		WriteBufferSize:   4096,
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: opts.Compression,
		CheckOrigin:       func(*http.Request) bool { return true }, // §2.5 is enforced before the upgrade
		Error:             func(http.ResponseWriter, *http.Request, int, error) {},
	}
	s.received = make(map[string]prometheus.Counter)
	for _, t := range []string{"message", "private", "command", "telemetry", "response", "ping", "invalid"} {
		s.received[t] = s.metrics.MessagesReceived.WithLabelValues(t)
	}
	s.registerCommands()
	if err := s.hub.loadRegistry(ctx); err != nil {
		return nil, err
	}
	s.hub.tenant("") // the default tenant always exists
	go s.background()
	return s, nil
}

// background runs the periodic housekeeping: idle implicit channel removal
// and the room/channel gauges.
func (s *Server) background() {
	defer close(s.bgDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var ticks int
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			ticks++
			s.emitSummaries(now, ticks%10 == 0)
			if ticks%15 == 0 {
				s.refreshGauges()
			}
			if ticks%60 == 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				s.hub.sweepIdle(ctx, now)
				cancel()
			}
		}
	}
}

func (s *Server) refreshGauges() (rooms, channels int) {
	for _, t := range s.hub.snapshotTenants() {
		r, c := t.counts()
		rooms += r
		channels += c
	}
	s.metrics.Rooms.Set(float64(rooms))
	s.metrics.Channels.Set(float64(channels))
	return rooms, channels
}

func (t *tenant) counts() (rooms, channels int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	seen := make(map[string]struct{}, 4)
	for _, ch := range t.channels {
		seen[ch.room] = struct{}{}
	}
	return len(seen), len(t.channels)
}

func (s *Server) batchLimit() int {
	if s.opts.MaxMessageSize < maxBatchBytes {
		return s.opts.MaxMessageSize
	}
	return maxBatchBytes
}

// reject writes a pre-upgrade refusal (PROTOCOL.md §3.1) and counts it.
func (s *Server) reject(w http.ResponseWriter, status int, reason, errText, details string) {
	s.metrics.ConnectionRejections.WithLabelValues("bus", reason).Inc()
	handshake.Reject(w, status, errText, details)
}

// ServeHTTP performs the handshake checks of PROTOCOL.md §3.1, in order, and
// upgrades.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.shutting.Load() {
		s.reject(w, http.StatusServiceUnavailable, "shutting_down", "Service Unavailable", "Server shutting down")
		return
	}
	if s.active.Add(1) > int64(s.opts.MaxConnections) {
		s.active.Add(-1)
		s.reject(w, http.StatusServiceUnavailable, "capacity", "Service Unavailable", "Connection limit reached")
		return
	}
	admitted := false
	defer func() {
		if !admitted {
			s.active.Add(-1)
		}
	}()

	c := &Client{srv: s, closed: make(chan struct{}), role: "user", clientType: "human"}
	if s.opts.EnableAuth {
		token, ok := auth.ExtractToken(r, auth.Sources{Header: true, QueryParams: []string{"token", "access_token", "auth_token"}, Subprotocol: true})
		if !ok {
			s.logReject(r, "missing bearer token")
			s.reject(w, http.StatusUnauthorized, "unauthorized", "Unauthorized", "Missing bearer token")
			return
		}
		id, err := s.opts.Verifier.Verify(token, time.Now())
		if err != nil {
			s.logReject(r, err.Error())
			s.reject(w, http.StatusUnauthorized, "unauthorized", "Unauthorized", "Invalid token")
			return
		}
		c.subject, c.hasSubject = id.Subject, id.HasSubject
		c.role = id.Role
		c.admin = id.IsAdmin()
		c.operator = c.admin && !id.HasTenant
		c.expiry = id.Expiry
		c.tenant = s.hub.tenant(id.Tenant)
	} else {
		if origin := r.Header.Get("Origin"); origin != "" && !handshake.LoopbackOrigin(origin) {
			s.logReject(r, "cross-origin request refused")
			s.reject(w, http.StatusForbidden, "forbidden", "Forbidden", "Cross-origin request refused")
			return
		}
		if s.opts.DevAdmin && s.opts.Environment == "development" {
			c.role, c.admin, c.operator = "admin", true, true
		}
		c.tenant = s.hub.tenant("")
	}

	q := r.URL.Query()
	var room, chName string
	if detail := c.parseQuery(q, &room, &chName); detail != "" {
		s.reject(w, http.StatusBadRequest, "bad_request", "Bad Request", detail)
		return
	}
	if offersProtocol(r, "arqonbus.v1.batch") {
		c.batch = true
	}
	if !websocket.IsWebSocketUpgrade(r) {
		s.reject(w, http.StatusUpgradeRequired, "upgrade_required", "Upgrade Required", "WebSocket upgrade expected")
		return
	}

	ctx := r.Context()
	c.id = protocol.NewClientID()
	var initial *channel
	if room != "" {
		ch, _, err := s.hub.channelFor(ctx, c.tenant, room, chName, c.id, false, nil)
		switch {
		case errors.Is(err, errChannelCap):
			s.reject(w, http.StatusBadRequest, "bad_request", "Bad Request", "Channel limit reached")
			return
		case err != nil:
			s.reject(w, http.StatusServiceUnavailable, "storage_unavailable", "Service Unavailable", "Storage unavailable")
			return
		}
		if _, err := s.store.EnsureStream(ctx, ch.key); err != nil {
			s.reject(w, http.StatusServiceUnavailable, "storage_unavailable", "Service Unavailable", "Storage unavailable")
			return
		}
		initial = ch
	}

	hj := &hijacker{ResponseWriter: w}
	var respHeader http.Header
	if p := selectSubprotocol(r); p != "" {
		respHeader = http.Header{"Sec-Websocket-Protocol": {p}}
	}
	conn, err := s.upgrader.Upgrade(hj, r, respHeader)
	if err != nil {
		s.metrics.ConnectionRejections.WithLabelValues("bus", "bad_request").Inc()
		return
	}
	admitted = true
	c.out = hj.conn
	s.admit(c, conn, initial)
}

// admit registers an upgraded connection, sends the welcome (always the first
// frame) and starts its read loop on a fresh goroutine so the net/http
// handler's goroutine and request state can be released.
func (s *Server) admit(c *Client, conn *websocket.Conn, initial *channel) {
	c.conn = conn
	c.connectedAt = time.Now().UTC()
	c.subs = make(map[string]*channel)
	c.q.maxItems = s.opts.SendQueueSize
	c.q.maxBytes = s.opts.SendQueueBytes
	c.tokens = float64(s.opts.RateLimitBurst)

	s.clientsMu.Lock()
	s.clients[c.id] = c
	s.clientsMu.Unlock()
	c.tenant.mu.Lock()
	c.tenant.clients++
	c.tenant.mu.Unlock()
	s.byType[clientTypeIndex(c.clientType)].Add(1)
	s.metrics.ActiveClients.Inc()
	s.metrics.ConnectionsTotal.Inc()

	welcome := map[string]any{
		"welcome": "Connected to ArqonBus", "client_id": c.id, "server_version": versionString(),
		"protocol": protocol.Version, "heartbeat_seconds": int(s.opts.PingInterval / time.Second),
		"client_type": c.clientType, "screen_name": c.screenNameValue(), "tenant_id": c.tenantID(), "role": c.role,
	}
	if initial != nil {
		initial.mu.Lock()
		for initial.deleted { // removed since the handshake: use its re-creation
			initial.mu.Unlock()
			ch, _, err := s.hub.channelFor(context.Background(), c.tenant, initial.room, initial.name, c.id, false, nil)
			if err != nil {
				initial = nil
				break
			}
			initial = ch
			initial.mu.Lock()
		}
		var st storage.StreamState
		var err error
		if initial != nil {
			initial.addSub(c)
			if st, err = s.store.State(context.Background(), initial.key); err != nil {
				initial.removeSub(c)
				initial.mu.Unlock()
			}
		}
		if initial == nil || err != nil {
			// The subscription the client asked for cannot be honoured: no
			// welcome without it. The read loop below cleans up.
			s.log.Warn("initial subscription failed", "client_id", c.id, "error", err)
			c.closeWith(closeInternal, closeReasons[closeInternal])
			welcome["subscription"] = nil
		} else {
			c.subs[initial.fullName()] = initial
			c.defaultTarget = initial
			welcome["subscription"] = map[string]any{"room": initial.room, "channel": initial.name, "epoch": st.Epoch, "offset": st.Top}
			c.enqueue(s.serverFrame("message", welcome))
			initial.mu.Unlock()
		}
	}
	if _, ok := welcome["subscription"]; !ok {
		c.enqueue(s.serverFrame("message", welcome))
	}
	if s.shutting.Load() {
		// The handshake raced with Shutdown: drain this client too.
		s.notifyShutdown(c)
	}
	c.startTimers()
	s.log.Debug("client connected", "client_id", c.id, "tenant", tenantLog(c.tenant.id), "remote_addr", conn.RemoteAddr().String())
	s.emitEvent(c.tenant, "client_connected", map[string]any{
		"client_id": c.id, "client_type": c.clientType, "screen_name": c.screenNameValue(), "subject": c.subjectValue(),
	})
	go c.readLoop()
}

func (c *Client) parseQuery(q map[string][]string, room, chName *string) string {
	get := func(k string) (string, bool) {
		v, ok := q[k]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	if v, ok := get("client_type"); ok && v != "" {
		if clientTypeIndex(v) < 0 {
			return "Invalid client_type"
		}
		c.clientType = v
	}
	if v, ok := get("screen_name"); ok && v != "" {
		if utf8.RuneCountInString(v) > 64 || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return "Invalid screen_name"
		}
		c.screenName, c.hasScreen = v, true
	}
	r, _ := get("room")
	ch, _ := get("channel")
	if r != "" || ch != "" {
		rr, cc, st, _ := protocol.ResolveTarget(r, ch)
		if st != protocol.TargetOK {
			return "Invalid room or channel"
		}
		*room, *chName = rr, cc
	}
	if v, ok := get("batch"); ok && v != "" {
		switch strings.ToLower(v) {
		case "1", "true":
			c.batch = true
		case "0", "false":
		default:
			return "Invalid batch"
		}
	}
	return ""
}

// selectSubprotocol picks the first of arqonbus.v1 and arqonbus.v1.batch in
// the client's order of preference; bearer.* entries are never selected
// (PROTOCOL.md §2.3).
func selectSubprotocol(r *http.Request) string {
	for _, p := range websocket.Subprotocols(r) {
		if p == "arqonbus.v1" || p == "arqonbus.v1.batch" {
			return p
		}
	}
	return ""
}

func offersProtocol(r *http.Request, name string) bool {
	for _, p := range websocket.Subprotocols(r) {
		if p == name {
			return true
		}
	}
	return false
}

func clientTypeIndex(t string) int {
	for i, v := range clientTypes {
		if v == t {
			return i
		}
	}
	return -1
}

func (s *Server) logReject(r *http.Request, reason string) {
	s.log.Debug("handshake rejected", "remote_addr", r.RemoteAddr, "url", redact.URL(r.URL.String()), "error", reason)
}

func tenantLog(id string) string {
	if id == "" {
		return "_"
	}
	return id
}

func (c *Client) screenNameValue() any {
	if !c.hasScreen {
		return nil
	}
	return c.screenName
}

func (c *Client) subjectValue() any {
	if !c.hasSubject {
		return nil
	}
	return c.subject
}

// readLoop processes the connection's frames one at a time, in arrival order
// (PROTOCOL.md §5.8 rule 1).
func (c *Client) readLoop() {
	defer c.cleanup()
	s := c.srv
	limit := int64(s.opts.MaxMessageSize)
	for {
		_, r, err := c.conn.NextReader()
		if err != nil {
			return
		}
		// The size limit is enforced here rather than with SetReadLimit so
		// that the close carries its reason text (PROTOCOL.md §3.8).
		data, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return
		}
		if int64(len(data)) > limit {
			c.closeWith(closeTooBig, closeReasons[closeTooBig])
			return
		}
		if s.shutting.Load() {
			continue // frames received after the shutdown notice are discarded (§3.9)
		}
		if !s.safeHandleFrame(c, data) {
			return
		}
	}
}

// safeHandleFrame contains a server fault to the connection it happened on:
// the frame's processing panicked, so the connection is closed with 1011
// "internal error" and the process keeps serving everyone else.
func (s *Server) safeHandleFrame(c *Client, data []byte) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("frame processing panicked; closing the connection", "client_id", c.id, "error", fmt.Sprint(r))
			s.countError(protocol.CodeInternal)
			c.closeWith(closeInternal, closeReasons[closeInternal])
			ok = false
		}
	}()
	s.handleFrame(c, data)
	return true
}

// cleanup runs once when the connection ends (PROTOCOL.md §3.10).
func (c *Client) cleanup() {
	s := c.srv
	c.closing.Store(true)
	c.stopTimers()
	_ = c.conn.NetConn().Close()
	c.q.close()
	c.subsMu.Lock()
	subs := c.subs
	c.subs = map[string]*channel{}
	c.defaultTarget = nil
	c.subsMu.Unlock()
	for _, ch := range subs {
		ch.mu.Lock()
		ch.removeSub(c)
		ch.lastActive = time.Now()
		ch.mu.Unlock()
	}
	s.clientsMu.Lock()
	delete(s.clients, c.id)
	empty := len(s.clients) == 0
	s.clientsMu.Unlock()
	if empty {
		select {
		case s.gone <- struct{}{}:
		default:
		}
	}
	c.tenant.mu.Lock()
	c.tenant.clients--
	c.tenant.mu.Unlock()
	s.byType[clientTypeIndex(c.clientType)].Add(-1)
	s.active.Add(-1)
	s.metrics.ActiveClients.Dec()
	sent := int(c.sentCode.Load())
	if sent == 0 {
		s.metrics.ConnectionCloses.WithLabelValues("peer").Inc()
	}
	for _, ext := range s.opts.Extensions {
		if ext.OnDisconnect != nil {
			ext.OnDisconnect(c.Info())
		}
	}
	s.emitEvent(c.tenant, "client_disconnected", map[string]any{
		"client_id": c.id, "client_type": c.clientType, "close_code": closeCodeValue(sent),
		"duration_seconds": time.Since(c.connectedAt).Seconds(),
	})
	s.log.Debug("client disconnected", "client_id", c.id, "tenant", tenantLog(c.tenant.id))
}

func closeCodeValue(code int) any {
	if code == 0 {
		return nil
	}
	return code
}

// Shutdown performs the graceful drain of PROTOCOL.md §3.9: refuse new
// upgrades, notify every client behind its queued frames, close each with
// 1001 once flushed, and force-close what is left when the budget ends.
func (s *Server) Shutdown(ctx context.Context) {
	s.shutting.Store(true)
	s.stopOnce.Do(func() { close(s.stop) })
	for _, ext := range s.opts.Extensions {
		if ext.OnShutdown != nil {
			ext.OnShutdown()
		}
	}
	deadline := time.Now().Add(s.opts.ShutdownTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	forced := false
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	// Poll the registry rather than snapshot it once: a handshake that was
	// already past its shutdown check registers late and must be drained too.
	for {
		clients := s.snapshotClients()
		if len(clients) == 0 {
			break
		}
		now := time.Now()
		for _, c := range clients {
			s.notifyShutdown(c)
			if !forced && now.After(deadline) {
				c.abort()
			}
		}
		if now.After(deadline) {
			if forced && now.After(deadline.Add(2*time.Second)) {
				s.log.Warn("connections still open after the shutdown budget", "count", len(clients))
				break
			}
			forced = true
		}
		select {
		case <-s.gone:
		case <-tick.C:
		}
	}
	<-s.bgDone
}

// notifyShutdown queues the server_shutdown notice behind the client's
// pending frames, once, and closes it with 1001 when they are written.
func (s *Server) notifyShutdown(c *Client) {
	if !c.notified.CompareAndSwap(false, true) {
		return
	}
	c.enqueueFinal(s.serverFrame("system", map[string]any{"event": "server_shutdown", "message": "Server shutting down"}), closeGoingAway)
}

// ShuttingDown reports whether Shutdown has begun.
func (s *Server) ShuttingDown() bool { return s.shutting.Load() }

func (s *Server) snapshotClients() []*Client {
	s.clientsMu.RLock()
	defer s.clientsMu.RUnlock()
	out := make([]*Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, c)
	}
	return out
}

// Disconnect closes a client with 1008 (POST /admin/disconnect).
func (s *Server) Disconnect(clientID string) bool {
	s.clientsMu.RLock()
	c := s.clients[clientID]
	s.clientsMu.RUnlock()
	if c == nil {
		return false
	}
	go c.closeWith(closePolicy, closeReasons[closePolicy])
	return true
}

// ActiveClients returns the number of open connections.
func (s *Server) ActiveClients() int { return int(s.active.Load()) }

// ClientsByType returns live connection counts per client type.
func (s *Server) ClientsByType() map[string]int {
	out := make(map[string]int, 4)
	for i, t := range clientTypes {
		out[t] = int(s.byType[i].Load())
	}
	return out
}

// Counts returns the live rooms and channels summed over tenants.
func (s *Server) Counts() (rooms, channels int) { return s.refreshGauges() }

// Uptime is the time since the server was built.
func (s *Server) Uptime() time.Duration { return time.Since(s.started) }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
