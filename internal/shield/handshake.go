package shield

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/auth"
)

// 401 details (SHIELD.md §6.3), kept from the upstream Shield.
const (
	detailMissing   = "Missing Authorization header"
	detailNotBearer = "Authorization header is not Bearer token format"
	detailDecode    = "JWT decode failed"
)

// originPattern compiles an ARQON_SHIELD_ALLOWED_ORIGINS entry: exact
// (case-insensitive) except that `*` matches one or more characters of a
// host, never `/` or `:`.
func originPattern(p string) *regexp.Regexp {
	parts := strings.Split(strings.TrimSpace(p), "*")
	for i, s := range parts {
		parts[i] = regexp.QuoteMeta(s)
	}
	return regexp.MustCompile(`(?i)^` + strings.Join(parts, `[^/:]+`) + `$`)
}

func (g *Gateway) originAllowed(origin string) bool {
	if len(g.origins) == 0 || origin == "" {
		return true
	}
	for _, re := range g.origins {
		if re.MatchString(origin) {
			return true
		}
	}
	return false
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

type httpError struct {
	Error   string `json:"error"`
	Details string `json:"details,omitempty"`
}

func errorBody(e, details string) []byte {
	b, _ := json.Marshal(httpError{Error: e, Details: details})
	return b
}

// reject answers a refused upgrade, counts it and logs a sampled WARN.
func (g *Gateway) reject(w http.ResponseWriter, r *http.Request, status int, reason, errText, details string) {
	g.metrics.rejected(reason)
	if g.rejectLog.Allow() {
		g.logger.Warn("handshake rejected", "reason", reason, "remote_addr", r.RemoteAddr, "path", r.URL.Path)
	}
	writeJSON(w, status, errorBody(errText, details))
}

func (g *Gateway) unauthorized(w http.ResponseWriter, r *http.Request, reason, details, logReason string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="arqon-shield"`)
	g.metrics.rejected(reason)
	if g.rejectLog.Allow() {
		g.logger.Warn("handshake rejected", "reason", reason, "detail", logReason, "remote_addr", r.RemoteAddr, "path", r.URL.Path)
	}
	writeJSON(w, http.StatusUnauthorized, errorBody("Unauthorized", details))
}

// serveWS is the WebSocket port: the handshake checks of SHIELD.md §6.1 in
// order, then the connection.
func (g *Gateway) serveWS(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ws" && r.URL.Path != "/v1/socket" {
		writeJSON(w, http.StatusNotFound, errorBody("Not Found", ""))
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody("Method Not Allowed", ""))
		return
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") || r.Header.Get("Sec-WebSocket-Key") == "" {
		g.reject(w, r, http.StatusBadRequest, "bad_request", "Bad Request", "Invalid WebSocket upgrade request")
		return
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		g.reject(w, r, http.StatusUpgradeRequired, "bad_request", "Upgrade Required", "Unsupported WebSocket version")
		return
	}
	if g.draining.Load() {
		g.reject(w, r, http.StatusServiceUnavailable, "draining", "Service Unavailable", "Server shutting down")
		return
	}
	if !g.originAllowed(r.Header.Get("Origin")) {
		g.reject(w, r, http.StatusForbidden, "origin", "Forbidden", "Origin not allowed")
		return
	}
	src := auth.Sources{Header: true, StrictHeader: true, Subprotocol: true, SubprotocolFirst: true}
	if g.opts.AllowQueryToken {
		src.QueryParams = []string{"access_token"}
	}
	token, source, err := auth.Locate(r, src)
	if err != nil {
		if errors.Is(err, auth.ErrNotBearer) {
			g.unauthorized(w, r, "bad_format", detailNotBearer, "not_bearer")
		} else {
			g.unauthorized(w, r, "missing_token", detailMissing, "missing")
		}
		return
	}
	id, err := g.verifier.Verify(token, time.Now())
	if err != nil {
		g.unauthorized(w, r, "invalid_token", detailDecode, auth.Reason(err))
		return
	}
	if !g.up.connected() {
		g.reject(w, r, http.StatusServiceUnavailable, "upstream", "Service Unavailable", "Upstream unavailable")
		return
	}
	if !g.reserveSlot() {
		w.Header().Set("Retry-After", "5")
		g.reject(w, r, http.StatusServiceUnavailable, "capacity", "Service Unavailable", "Connection limit reached")
		return
	}
	connID := NewConnID()
	resp := http.Header{"Arqon-Conn-Id": {connID}}
	if p := auth.SelectSubprotocol(r, "arqon.v1", "arqonbus.v1"); p != "" {
		resp.Set("Sec-WebSocket-Protocol", p)
	}
	if g.opts.ReturnPath {
		if err := g.routes.reserve(id.Tenant); err != nil {
			g.active.Add(-1)
			g.reject(w, r, http.StatusServiceUnavailable, "upstream", "Service Unavailable", "Upstream unavailable")
			return
		}
		defer g.routes.release(id.Tenant)
	}
	ws, err := g.upgrader.Upgrade(w, r, resp)
	if err != nil {
		g.active.Add(-1)
		g.metrics.rejected("bad_request")
		return
	}
	g.serveConn(ws, connID, id, string(source))
}

// reserveSlot takes one of ARQON_SHIELD_MAX_CONNECTIONS.
func (g *Gateway) reserveSlot() bool {
	for {
		n := g.active.Load()
		if n >= int64(g.opts.MaxConnections) {
			return false
		}
		if g.active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (g *Gateway) serveConn(ws *websocket.Conn, connID string, id *auth.Identity, source string) {
	o := &g.opts
	now := time.Now()
	c := &conn{
		g: g, ws: ws, id: connID, tenant: id.Tenant, sub: id.Subject, source: source,
		subject:    "in.t." + id.Tenant + ".raw",
		replyTo:    "out.t." + id.Tenant + ".c." + connID,
		deadline:   id.Deadline,
		opened:     now,
		queue:      make(chan outFrame, o.SendQueueSize),
		abortCh:    make(chan struct{}),
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
		bucket:     tokenBucket{rate: o.RateLimitPerSecond, burst: float64(o.RateLimitBurst), tokens: float64(o.RateLimitBurst), last: now},
	}
	if pct := mirrorPercent(o.MirrorRules, c.subject); pct >= 0 {
		c.mirror = Sampled(SampleUnit(connID), pct)
	}
	c.lastPong.Store(now.UnixNano())
	ws.SetPongHandler(func(string) error {
		c.lastPong.Store(time.Now().UnixNano())
		return nil
	})
	g.metrics.Connections.Inc()
	g.metrics.ActiveConnections.Inc()
	g.wg.Add(1)
	defer g.wg.Done()

	g.mu.Lock()
	draining := g.draining.Load()
	if !draining {
		g.conns[c] = struct{}{}
	}
	g.mu.Unlock()

	if o.SkipValidation {
		g.logger.Warn("connection accepted without JWT signature verification (JWT_SKIP_VALIDATION)", "conn_id", connID)
	}
	g.logger.Info("connection opened", "conn_id", connID, "tenant", c.tenant, "sub", c.sub, "token_source", source)

	go c.writeLoop()
	switch {
	case draining:
		c.startClose(closeGoingAway, "server shutting down", false)
	case o.ReturnPath:
		if err := g.routes.add(c); err != nil {
			g.logger.Warn("return path subscription failed", "conn_id", connID, "tenant", c.tenant, "error", err.Error())
			c.startClose(closeInternal, "return path unavailable", false)
		}
	}
	if o.Welcome && !c.closing.Load() {
		b, _ := json.Marshal(struct {
			Type         string `json:"type"`
			ConnID       string `json:"conn_id"`
			TenantID     string `json:"tenant_id"`
			Subject      string `json:"subject"`
			ReplySubject string `json:"reply_subject"`
			Protocol     string `json:"protocol"`
		}{"welcome", connID, c.tenant, c.subject, c.replyTo, "1.0"})
		c.enqueue(outFrame{typ: websocket.TextMessage, data: b})
	}

	func() {
		defer func() {
			if p := recover(); p != nil {
				g.logger.Error("connection handler panic", "conn_id", connID, "panic", p)
				// readLoop's deferred close of readerDone has run.
				c.startClose(closeInternal, "internal error", false)
			}
		}()
		c.readLoop()
	}()
	<-c.writerDone

	if o.ReturnPath {
		g.routes.remove(c)
	}
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	g.active.Add(-1)
	g.metrics.ActiveConnections.Dec()
	code := "peer"
	if c.closeCode != 0 {
		g.metrics.closed(c.closeCode)
		code = strconv.Itoa(c.closeCode)
	} else {
		g.metrics.closes["peer"].Inc()
	}
	g.logger.Info("connection closed", "conn_id", connID, "code", code, "reason", c.closeReason,
		"duration_ms", time.Since(c.opened).Milliseconds(), "frames_in", c.framesIn.Load(), "frames_out", c.framesOut.Load())
}
