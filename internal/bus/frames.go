package bus

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arqonbus/arqonbus/internal/buildinfo"
	"github.com/arqonbus/arqonbus/internal/casil"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/storage"
)

var emptyObject = json.RawMessage(`{}`)

func versionString() string { return buildinfo.Version }

// serverFrame encodes a server-originated frame (sender "arqonbus").
func (s *Server) serverFrame(typ string, payload any) []byte {
	_, ts := serverTime()
	e := protocol.Envelope{ID: protocol.NewID(), Timestamp: ts, Type: typ, Version: protocol.Version,
		Payload: mustJSON(payload), Sender: protocol.ServerSender}
	return e.AppendJSON(nil)
}

func mustJSON(v any) json.RawMessage {
	if raw, ok := v.(json.RawMessage); ok {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return emptyObject
	}
	return b
}

// frameError describes an error frame (PROTOCOL.md §5.6).
type frameError struct {
	code      string
	msg       string
	errors    []string // payload.errors for INVALID_JSON / VALIDATION_ERROR
	requestID string
	room      string
	channel   string
	payload   json.RawMessage // overrides the payload (CASIL block)
}

func (s *Server) countError(code string) {
	if v, ok := s.errCounts.Load(code); ok {
		v.(prometheus.Counter).Inc()
		return
	}
	ctr := s.metrics.Errors.WithLabelValues(code)
	s.errCounts.Store(code, ctr)
	ctr.Inc()
}

func (s *Server) sendError(c *Client, fe frameError) {
	s.countError(fe.code)
	payload := fe.payload
	if payload == nil {
		if fe.code == protocol.CodeInvalidJSON || fe.code == protocol.CodeValidation {
			payload = mustJSON(map[string][]string{"errors": fe.errors})
		} else {
			payload = emptyObject
		}
	}
	_, ts := serverTime()
	e := protocol.Envelope{ID: protocol.NewID(), Timestamp: ts, Type: "error", Version: protocol.Version,
		Payload: payload, Sender: protocol.ServerSender, Room: fe.room, Channel: fe.channel,
		RequestID: fe.requestID, Error: fe.msg, ErrorCode: fe.code}
	c.enqueue(e.AppendJSON(nil))
}

// handleFrame applies the rate limit and, on batching connections, the JSON
// Lines split (PROTOCOL.md §2.2.1, §3.6).
func (s *Server) handleFrame(c *Client, data []byte) {
	if c.draining.Load() {
		return
	}
	now := time.Now()
	if !c.batch {
		if !c.takeToken(now) {
			s.rateLimited(c, now)
			return
		}
		s.handleLine(c, data, now)
		return
	}
	lines := protocol.SplitBatch(data)
	if len(lines) == 0 {
		// A frame with no lines still costs a token, or empty frames would
		// be a free flood.
		if !c.takeToken(now) {
			s.rateLimited(c, now)
		}
		return
	}
	for _, line := range lines {
		if c.closing.Load() || c.draining.Load() {
			return
		}
		if !c.takeToken(now) {
			if s.rateLimited(c, now) {
				return
			}
			continue
		}
		s.handleLine(c, line, now)
	}
}

// rateLimited reports a discarded frame; it returns true if the connection
// was closed with 4429.
func (s *Server) rateLimited(c *Client, now time.Time) bool {
	s.metrics.RateLimited.Inc()
	if c.rateViolation(now) {
		// The replies already queued (pongs, earlier RATE_LIMITED frames) go
		// out first; then the close (PROTOCOL.md Appendix A vector 21).
		c.closeAfterDrain(closeRateLimited)
		return true
	}
	s.sendError(c, frameError{code: protocol.CodeRateLimited, msg: "Rate limit exceeded"})
	return false
}

func (s *Server) handleLine(c *Client, data []byte, now time.Time) {
	env, ferr := protocol.Decode(data, now)
	if ferr != nil {
		s.received["invalid"].Inc()
		s.sendError(c, frameError{code: ferr.Code, msg: ferr.Message, errors: ferr.Errors, requestID: ferr.RequestID})
		return
	}
	env.Sender = c.id
	if ctr, ok := s.received[env.Type]; ok {
		ctr.Inc()
	}
	switch env.Type {
	case "message":
		s.handleMessage(c, env, now)
	case "private":
		s.handlePrivate(c, env)
	case "telemetry":
		s.handleTelemetry(c, env, now)
	case "command":
		s.handleCommand(c, env, now)
	case "ping":
		s.sendPong(c, env)
	case "response":
		// Accepted and discarded (PROTOCOL.md §5.5).
	}
}

func (s *Server) sendPong(c *Client, env *protocol.Envelope) {
	_, ts := serverTime()
	e := protocol.Envelope{ID: protocol.NewID(), Timestamp: ts, Type: "pong", Version: protocol.Version,
		Payload: env.Payload, Sender: protocol.ServerSender, RequestID: env.ID}
	c.enqueue(e.AppendJSON(nil))
}

// resolveRoute resolves the target of a message or telemetry envelope. It
// sends the error frame itself and returns ok=false on failure.
func (s *Server) resolveRoute(c *Client, env *protocol.Envelope, fallback func() (string, string, bool)) (room, ch string, ok bool) {
	r, n, st, detail := protocol.ResolveTarget(env.Room, env.Channel)
	switch st {
	case protocol.TargetOK:
		return r, n, true
	case protocol.TargetInvalid:
		s.sendError(c, frameError{code: protocol.CodeValidation, msg: "Message validation failed", errors: []string{detail}, requestID: env.ID})
		return "", "", false
	case protocol.TargetNone:
		if r, n, ok := fallback(); ok {
			return r, n, true
		}
	}
	s.sendError(c, frameError{code: protocol.CodeMissingTarget, msg: "Message has no target: provide room and channel", requestID: env.ID})
	return "", "", false
}

// inspect runs CASIL on a message or private envelope. It returns false when
// the envelope was blocked (the block frame has been sent).
// sentRoom and sentChannel are the envelope's room and channel as the client
// sent them: the block frame echoes those (PROTOCOL.md §10), not the
// resolved default target.
func (s *Server) inspect(c *Client, env *protocol.Envelope, kind casil.Kind, target, sentRoom, sentChannel string) bool {
	if s.opts.Casil == nil {
		return true
	}
	res := s.opts.Casil.Inspect(kind, target, env.Payload)
	s.recordCasil(c, env, res, target)
	if res.Decision == "BLOCK" {
		s.sendError(c, frameError{code: res.ReasonCode, msg: "CASIL blocked message", requestID: env.ID,
			room: sentRoom, channel: sentChannel, payload: mustJSON(map[string]string{"reason": res.ReasonCode})})
		return false
	}
	if res.Redacted != nil {
		env.Payload = res.Redacted
	}
	if meta := res.EnvelopeMetadata(); meta != nil {
		env.Metadata = setMetadataKey(env.Metadata, "casil", meta)
	}
	return true
}

// handleMessage routes a message (PROTOCOL.md §5.1): target, channel,
// persist, fan-out, then the ack.
func (s *Server) handleMessage(c *Client, env *protocol.Envelope, now time.Time) {
	room, name, ok := s.resolveRoute(c, env, func() (string, string, bool) {
		c.subsMu.Lock()
		defer c.subsMu.Unlock()
		if d := c.defaultTarget; d != nil {
			return d.room, d.name, true
		}
		return "", "", false
	})
	if !ok {
		return
	}
	sentRoom, sentChannel := env.Room, env.Channel
	env.Room, env.Channel = room, name
	if !s.inspect(c, env, casil.Kind("message"), room+":"+name, sentRoom, sentChannel) {
		return
	}
	pub, ok := s.route(c, env, now)
	if !ok {
		return
	}
	c.noteActivity("message", room, name, "")
	_, ts := serverTime()
	ack := protocol.Envelope{ID: env.ID, Timestamp: ts, Type: "message_response", Version: protocol.Version,
		Payload: env.Payload, Metadata: protocol.SetStreamPosition(emptyObject, pub.offset, pub.epoch),
		Sender: protocol.ServerSender, Room: room, Channel: name, RequestID: env.ID}
	c.enqueue(ack.AppendJSON(nil))
	s.metrics.RoutingSeconds.Observe(time.Since(now).Seconds())
	for _, ext := range s.opts.Extensions {
		if ext.OnMessage != nil {
			ext.OnMessage(c.Info(), room, name, pub.frame)
		}
	}
}

func (s *Server) routeError(c *Client, env *protocol.Envelope, err error) {
	switch {
	case errors.Is(err, errChannelCap):
		s.sendError(c, frameError{code: protocol.CodeLimitExceeded, msg: "Channel limit reached (" + strconv.Itoa(s.opts.MaxChannels) + ")", requestID: env.ID})
	default:
		s.log.Warn("routing failed", "client_id", c.id, "request_id", env.ID, "error", err)
		s.sendError(c, frameError{code: protocol.CodeStorageUnavailable, msg: "Storage unavailable; message not delivered", requestID: env.ID})
	}
}

// handleTelemetry routes a client telemetry envelope (PROTOCOL.md §5.3): no
// ack, no CASIL, no webhooks.
func (s *Server) handleTelemetry(c *Client, env *protocol.Envelope, now time.Time) {
	room, name, ok := s.resolveRoute(c, env, func() (string, string, bool) {
		return bootRoomIntegriguard, "telemetry-stream", true
	})
	if !ok {
		return
	}
	env.Room, env.Channel = room, name
	s.route(c, env, now)
}

// route creates env's channel implicitly if needed, stores env and delivers
// it to every subscriber but the sender. On failure it sends the error frame
// and returns false.
func (s *Server) route(c *Client, env *protocol.Envelope, now time.Time) (publication, bool) {
	ctx := context.Background()
	ch, _, err := s.hub.channelFor(ctx, c.tenant, env.Room, env.Channel, c.id, false, nil)
	if err != nil {
		s.routeError(c, env, err)
		return publication{}, false
	}
	pub, err := s.hub.publish(ctx, ch, env, c, now)
	if err != nil {
		s.routeError(c, env, err)
		return publication{}, false
	}
	c.tenant.routed.add(env.Room+":"+env.Channel, pub.delivered)
	return pub, true
}

// handlePrivate delivers a direct message to a live client of the same
// tenant (PROTOCOL.md §5.2).
func (s *Server) handlePrivate(c *Client, env *protocol.Envelope) {
	target := env.ToClient
	if target == "" {
		target = env.PayloadTarget
	}
	// CASIL (§4.5 step 8) comes before dispatch, so a blocked private
	// message is blocked whether or not its target is connected.
	if !s.inspect(c, env, casil.Kind("private"), "@private", env.Room, env.Channel) {
		return
	}
	s.clientsMu.RLock()
	dst := s.clients[target]
	s.clientsMu.RUnlock()
	if dst == nil || dst.tenant != c.tenant || dst.closing.Load() {
		s.sendError(c, frameError{code: protocol.CodeTargetNotFound, msg: "Target client '" + target + "' is not connected", requestID: env.ID})
		return
	}
	env.ToClient = target
	if dst.enqueue(env.AppendJSON(nil)) {
		s.metrics.MessagesDelivered.Inc()
	}
	c.noteActivity("private", "", "", "")
	_, ts := serverTime()
	ack := protocol.Envelope{ID: env.ID, Timestamp: ts, Type: "message_response", Version: protocol.Version,
		Payload: env.Payload, Sender: protocol.ServerSender, ToClient: target, RequestID: env.ID}
	c.enqueue(ack.AppendJSON(nil))
}

// emitEvent publishes a bus event into integriguard:dashboard-events of the
// tenant (OPERATIONS.md §7.4). Events bypass CASIL and rate limits and
// exclude nobody; in strict mode an event that cannot be stored is dropped.
func (s *Server) emitEvent(t *tenant, typ string, data map[string]any) {
	if s.opts.DisableEvents {
		return
	}
	now := time.Now()
	e := &protocol.Envelope{ID: protocol.NewID(), Timestamp: protocol.FormatTime(now), Type: "telemetry",
		Version: protocol.Version, Sender: protocol.ServerSender, Room: bootRoomIntegriguard, Channel: "dashboard-events",
		Payload: mustJSON(map[string]any{"event_type": typ, "source": "arqonbus", "data": data}), Metadata: emptyObject}
	ch := t.lookup(bootRoomIntegriguard, "dashboard-events")
	if ch == nil {
		return
	}
	if _, err := s.hub.publish(context.Background(), ch, e, nil, now); err != nil {
		if errors.Is(err, storage.ErrUnavailable) {
			s.metrics.EventsDropped.WithLabelValues("storage").Inc()
		}
		return
	}
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(Event{Type: typ, Tenant: t.id, Data: data, Time: now})
	}
}

// setMetadataKey returns metadata with key set to value.
func setMetadataKey(meta json.RawMessage, key string, value json.RawMessage) json.RawMessage {
	m := map[string]json.RawMessage{}
	if len(meta) > 0 {
		_ = json.Unmarshal(meta, &m)
	}
	m[key] = value
	b, err := json.Marshal(m)
	if err != nil {
		return meta
	}
	return b
}

// EmitStorageEvent publishes storage_degraded into the default tenant
// (OPERATIONS.md §7.4; degraded mode only, the storage manager decides).
func (s *Server) EmitStorageEvent(degraded bool) {
	h := s.store.Health()
	detail := "storage recovered"
	if degraded {
		detail = "storage backend unreachable; using the memory fallback"
	}
	s.emitEvent(s.hub.tenant(""), "storage_degraded", map[string]any{"degraded": degraded, "backend": h.Backend, "detail": detail})
}

// Publish routes a server-originated envelope (cron firings, omega events,
// telemetry-WebSocket events) to (tenant, room, channel): it creates the
// channel implicitly, stores the envelope with an offset and delivers it to
// every subscriber, excluding nobody. env.Room, env.Channel and
// env.Metadata are set; the caller fills id, timestamp, type, sender and
// payload. In strict mode a storage failure returns storage.ErrUnavailable
// (or the backend error) and nothing is delivered.
func (s *Server) Publish(ctx context.Context, tenantID, room, channel string, env *protocol.Envelope) (offset uint64, epoch string, err error) {
	return s.publishServer(ctx, tenantID, room, channel, env, true)
}

// PublishTelemetry is Publish for events of the telemetry WebSocket, which
// do not count toward message_routed (OPERATIONS.md §7.4).
func (s *Server) PublishTelemetry(ctx context.Context, env *protocol.Envelope) (offset uint64, epoch string, err error) {
	return s.publishServer(ctx, "", bootRoomIntegriguard, "telemetry-stream", env, false)
}

func (s *Server) publishServer(ctx context.Context, tenantID, room, channel string, env *protocol.Envelope, counted bool) (offset uint64, epoch string, err error) {
	t := s.hub.tenant(tenantID)
	ch, _, err := s.hub.channelFor(ctx, t, room, channel, env.Sender, false, nil)
	if err != nil {
		return 0, "", err
	}
	env.Room, env.Channel = room, channel
	if env.Metadata == nil {
		env.Metadata = emptyObject
	}
	pub, err := s.hub.publish(ctx, ch, env, nil, time.Now())
	if err != nil {
		return 0, "", err
	}
	if counted {
		t.routed.add(room+":"+channel, pub.delivered)
	}
	return pub.offset, pub.epoch, nil
}

// ErrChannelLimit is returned by Publish when the tenant's channel cap is
// reached.
var ErrChannelLimit = errChannelCap

// InspectContent runs CASIL on a server-originated payload (cron firings)
// and records the decision like any other; blocked reports a BLOCK.
func (s *Server) InspectContent(info ClientInfo, env *protocol.Envelope, kind casil.Kind) (blocked bool) {
	if s.opts.Casil == nil {
		return false
	}
	res := s.opts.Casil.Inspect(kind, env.Room+":"+env.Channel, env.Payload)
	s.recordCasilFor(info.Tenant, info.ID, env, res)
	if res.Blocked() {
		return true
	}
	if res.Redacted != nil {
		env.Payload = res.Redacted
	}
	if meta := res.EnvelopeMetadata(); meta != nil {
		env.Metadata = setMetadataKey(env.Metadata, "casil", meta)
	}
	return false
}

// Casil returns the CASIL engine (nil when not configured).
func (s *Server) Casil() *casil.Engine { return s.opts.Casil }
