package shield

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
)

// Error codes of SHIELD.md §9.10 and their error texts.
const (
	codeInvalidJSON     = "INVALID_JSON"
	codeSchemaViolation = "SCHEMA_VIOLATION"
	codeTenantMismatch  = "TENANT_MISMATCH"
	codePolicyDenied    = "POLICY_DENIED"
	codePolicyError     = "POLICY_ERROR"
	codePublishFailed   = "PUBLISH_FAILED"
	codeRateLimited     = "RATE_LIMITED"
)

var errorTexts = map[string]string{
	codeInvalidJSON:     "Invalid JSON: frame must be a JSON object",
	codeSchemaViolation: "Schema validation failed",
	codeTenantMismatch:  "Envelope tenant does not match token tenant",
	codePolicyDenied:    "Message blocked by policy",
	codePolicyError:     "Policy evaluation failed",
	codePublishFailed:   "Failed to publish message",
	codeRateLimited:     "Rate limit exceeded",
}

// errorFrame is the JSON error frame of SHIELD.md §9.11.
type errorFrame struct {
	Type      string       `json:"type"`
	RequestID string       `json:"request_id,omitempty"`
	Error     string       `json:"error"`
	ErrorCode string       `json:"error_code"`
	Payload   errorPayload `json:"payload"`
}

type errorPayload struct {
	Errors       []string `json:"errors"`
	PolicyCode   *int32   `json:"policy_code,omitempty"`
	RetryAfterMS *int64   `json:"retry_after_ms,omitempty"`
}

// frameMeta is what the pipeline learned about a frame, for headers and
// policy input.
type frameMeta struct {
	frameType    string
	requestID    string // JSON id, for error frames
	envelopeType string
	room         string
	channel      string
	traceID      string
	msgID        string
	violation    string // Arqon-Schema-Violation, non-strict pass-through
}

func (c *conn) sendError(code, requestID string, errs []string, mod func(*errorPayload)) {
	if errs == nil {
		errs = []string{}
	}
	f := errorFrame{Type: "error", RequestID: requestID, Error: errorTexts[code], ErrorCode: code, Payload: errorPayload{Errors: errs}}
	if mod != nil {
		mod(&f.Payload)
	}
	b, _ := json.Marshal(f)
	c.enqueue(outFrame{typ: websocket.TextMessage, data: b})
	lvl := c.g.logger.Debug
	if code == codePolicyError || code == codePublishFailed {
		lvl = c.g.logger.Warn
	}
	lvl("frame rejected", "conn_id", c.id, "error_code", code)
}

// violation answers a content violation and applies the violation limit
// (SHIELD.md §9.12).
func (c *conn) violation(code, result, requestID string, errs []string, mod func(*errorPayload)) {
	c.g.metrics.message(result)
	c.sendError(code, requestID, errs, mod)
	c.violations++
	if max := c.g.opts.MaxViolations; max > 0 && c.violations >= max {
		closeCode := closePolicy
		if code == codeInvalidJSON || code == codeSchemaViolation {
			closeCode = closeInvalidPayload
		}
		c.startClose(closeCode, "too many violations", true)
	}
}

func (c *conn) handleFrame(typ int, data []byte) {
	now := time.Now()
	if !c.deadline.IsZero() && now.After(c.deadline) {
		c.startClose(closeTokenExpired, "token expired", true)
		return
	}
	if typ == websocket.TextMessage && !utf8.Valid(data) {
		c.g.metrics.message(resultInvalidUTF8)
		c.startClose(closeInvalidPayload, "invalid UTF-8", true)
		return
	}
	if ok, wait := c.bucket.take(now); !ok {
		c.rateLimited(now, wait)
		return
	}
	if typ == websocket.TextMessage {
		c.handleText(data)
	} else {
		c.handleBinary(data)
	}
}

func (c *conn) rateLimited(now time.Time, wait time.Duration) {
	if now.Sub(c.lastRateViol) > 10*time.Second {
		c.rateViolations = 0
	}
	c.lastRateViol = now
	c.rateViolations++
	c.g.metrics.message(resultRateLimited)
	if max := c.g.opts.RateLimitMaxViolations; max > 0 && c.rateViolations >= max {
		c.startClose(closeRateLimited, "rate limited", true)
		return
	}
	ms := (wait.Milliseconds()) + 1
	c.sendError(codeRateLimited, "", nil, func(p *errorPayload) { p.RetryAfterMS = &ms })
}

func (c *conn) handleText(data []byte) {
	g := c.g
	d := &c.text.dec
	env, ok := d.decode(data)
	if !ok {
		c.violation(codeInvalidJSON, resultInvalidJSON, "", nil, nil)
		return
	}
	m := frameMeta{frameType: "text"}
	m.requestID, _ = env["id"].(string)
	if errs := g.schemas.Validate(env); len(errs) > 0 {
		if g.opts.SchemaStrict {
			g.metrics.SchemaViolations.WithLabelValues("text", "rejected").Inc()
			c.violation(codeSchemaViolation, resultSchemaViolation, m.requestID, errs, nil)
			return
		}
		g.metrics.SchemaViolations.WithLabelValues("text", "passed").Inc()
		m.violation = violationHeader(errs[0])
	}
	m.envelopeType, _ = env["type"].(string)
	if m.envelopeType == "ping" {
		c.sendPong(m.requestID)
		return
	}
	// Tenant check (SHIELD.md §9.6).
	var meta map[string]any
	if raw, present := env["metadata"]; present {
		meta, ok = raw.(map[string]any)
		if !ok {
			c.violation(codeTenantMismatch, resultTenantMismatch, m.requestID, nil, nil)
			return
		}
		if t, present := meta["tenant_id"]; present {
			if s, isStr := t.(string); !isStr || s != c.tenant {
				c.violation(codeTenantMismatch, resultTenantMismatch, m.requestID, nil, nil)
				return
			}
		}
	}
	m.room, _ = env["room"].(string)
	m.channel, _ = env["channel"].(string)
	id, _ := env["id"].(string)
	generatedID := id == ""
	if generatedID {
		id = NewMessageID()
	}
	m.msgID = id
	m.traceID = id
	if meta != nil {
		if t, _ := meta["trace_id"].(string); t != "" {
			m.traceID = t
		}
	}
	if !c.checkPolicy(data, &m) {
		return
	}
	// Normalise (SHIELD.md §9.4).
	n := envNormaliser{sender: c.sub, tenant: c.tenant}
	if generatedID {
		n.id = id
	}
	if _, ok := env["timestamp"]; !ok {
		n.timestamp = Timestamp(time.Now())
	}
	_, hasVersion := env["version"]
	n.version = !hasVersion
	var out []byte
	if d.dup {
		// Repeated keys: only the decoded map says which value counts.
		var err error
		if out, err = normaliseMap(env, meta, &n); err != nil {
			// Unreachable for decoded JSON; fail closed rather than publish junk.
			d.release()
			c.g.metrics.message(resultInvalidJSON)
			c.sendError(codeInvalidJSON, m.requestID, nil, nil)
			return
		}
	} else {
		out, c.text.members = d.appendNormalised(make([]byte, 0, len(data)+normaliseSlack+len(c.sub)+len(c.tenant)), &n, c.text.members)
	}
	d.release()
	msg, res, ok := c.publish(out, &m)
	if !ok {
		return
	}
	ack := jsonAck(id, c.subject, g.opts.JetStream, res)
	c.accepted(outFrame{typ: websocket.TextMessage, data: ack}, msg)
}

// normaliseSlack covers the members normalisation may add besides sender
// and tenant: id, timestamp, version and their punctuation.
const normaliseSlack = 128

// textState is the reader goroutine's reusable text-frame scratch.
type textState struct {
	dec     jsonDecoder
	members []outMember
}

// normaliseMap applies n to the decoded envelope and encodes it. It is the
// path for envelopes with repeated keys, where the received bytes cannot
// simply be spliced.
func normaliseMap(env, meta map[string]any, n *envNormaliser) ([]byte, error) {
	if n.id != "" {
		env["id"] = n.id
	}
	if n.timestamp != "" {
		env["timestamp"] = n.timestamp
	}
	if n.version {
		env["version"] = "1.0"
	}
	delete(env, "from")
	delete(env, "from_client")
	env["sender"] = n.sender
	if meta == nil {
		meta = map[string]any{}
		env["metadata"] = meta
	}
	meta["tenant_id"] = n.tenant
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// jsonAck builds the ack frame of SHIELD.md §9.8, keys in order, with the
// bytes json.Marshal gives the equivalent struct.
func jsonAck(id, subject string, js bool, res publishResult) []byte {
	b := make([]byte, 0, 32+len(id)+len(subject)+len(res.stream))
	b = append(b, `{"type":"ack","id":`...)
	b = appendJSONString(b, id, true)
	b = append(b, `,"subject":`...)
	b = appendJSONString(b, subject, true)
	if js {
		if res.stream != "" {
			b = append(b, `,"stream":`...)
			b = appendJSONString(b, res.stream, true)
		}
		if res.seq != 0 {
			b = append(b, `,"seq":`...)
			b = strconv.AppendUint(b, res.seq, 10)
		}
		if res.duplicate {
			b = append(b, `,"duplicate":true`...)
		}
	}
	return append(b, '}')
}

func (c *conn) sendPong(requestID string) {
	type pong struct {
		Type      string `json:"type"`
		RequestID string `json:"request_id,omitempty"`
		Timestamp string `json:"timestamp"`
	}
	b, _ := json.Marshal(pong{Type: "pong", RequestID: requestID, Timestamp: Timestamp(time.Now())})
	c.enqueue(outFrame{typ: websocket.TextMessage, data: b})
}

func (c *conn) handleBinary(data []byte) {
	g := c.g
	m := frameMeta{frameType: "binary", msgID: NewMessageID()}
	out := data
	env, err := DecodeBinaryEnvelope(data)
	switch {
	case err == nil:
	case g.opts.SchemaStrict:
		g.metrics.SchemaViolations.WithLabelValues("binary", "rejected").Inc()
		c.violation(codeSchemaViolation, resultSchemaViolation, "", []string{err.Error()}, nil)
		return
	default:
		g.metrics.SchemaViolations.WithLabelValues("binary", "passed").Inc()
		m.violation = violationHeader(err.Error())
	}
	if env != nil {
		switch env.TenantID {
		case "":
			out = StampTenant(data, c.tenant)
		case c.tenant:
		default:
			c.violation(codeTenantMismatch, resultTenantMismatch, "", nil, nil)
			return
		}
		m.envelopeType, m.room, m.traceID = env.Kind, env.RoomID, env.TraceID
	}
	if m.traceID == "" {
		m.traceID = m.msgID
	}
	if !c.checkPolicy(data, &m) {
		return
	}
	msg, _, ok := c.publish(out, &m)
	if !ok {
		return
	}
	echo := make([]byte, len(data))
	copy(echo, data)
	c.accepted(outFrame{typ: websocket.BinaryMessage, data: echo}, msg)
}

// violationHeader makes a header-safe Arqon-Schema-Violation value.
func violationHeader(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// checkPolicy runs the policy on the original frame bytes and answers
// denies and errors. It reports whether the frame may continue.
func (c *conn) checkPolicy(data []byte, m *frameMeta) bool {
	p := c.g.policy
	if p == nil {
		return true
	}
	in := PolicyInput{
		Tenant: c.tenant, Sub: c.sub, ConnID: c.id, FrameType: m.frameType,
		EnvelopeType: m.envelopeType, Room: m.room, Channel: m.channel,
		Subject: c.subject, TraceID: m.traceID,
	}
	start := time.Now()
	d := p.Evaluate(context.Background(), data, &in)
	c.g.metrics.PolicyDuration.Observe(time.Since(start).Seconds())
	switch {
	case d.Allow:
		return true
	case d.Error != "":
		c.violation(codePolicyError, resultPolicyError, m.requestID, []string{d.Error}, nil)
	default:
		code := d.Code
		c.violation(codePolicyDenied, resultPolicyDenied, m.requestID, []string{d.Message}, func(p *errorPayload) { p.PolicyCode = &code })
	}
	return false
}

// publish sends the frame to in.t.<tenant>.raw with the headers of
// SHIELD.md §11.2. On failure it answers PUBLISH_FAILED.
func (c *conn) publish(data []byte, m *frameMeta) (*nats.Msg, publishResult, bool) {
	hv := c.headerValues()
	h := make(nats.Header, 8)
	h["Arqon-Tenant"] = hv.tenant
	h["Arqon-Sub"] = hv.sub
	h["Arqon-Conn-Id"] = hv.connID
	h["Arqon-Trace-Id"] = []string{headerSafe(m.traceID)}
	h["Nats-Msg-Id"] = []string{headerSafe(m.msgID)}
	if m.frameType == "text" {
		h["Arqon-Frame"] = hv.frameText
	} else {
		h["Arqon-Frame"] = hv.frameBinary
	}
	if c.g.opts.ReturnPath {
		h["Arqon-Reply-To"] = hv.replyTo
	}
	if m.violation != "" {
		h["Arqon-Schema-Violation"] = []string{m.violation}
	}
	msg := &nats.Msg{Subject: c.subject, Data: data, Header: h}
	start := time.Now()
	res, reason := c.g.up.publish(context.Background(), msg)
	c.g.metrics.PublishDuration.Observe(time.Since(start).Seconds())
	if reason != "" {
		c.g.metrics.message(resultPublishFailed)
		c.sendError(codePublishFailed, m.requestID, []string{reason}, nil)
		return nil, res, false
	}
	return msg, res, true
}

// connHeaderValues are the header values that are the same on every
// publish of a connection. Messages share these slices, so nothing may
// write to their elements; headers are replaced, never edited in place.
type connHeaderValues struct {
	tenant, sub, connID, replyTo, frameText, frameBinary []string
}

func (c *conn) headerValues() *connHeaderValues {
	if c.hdr == nil {
		c.hdr = &connHeaderValues{
			tenant: []string{c.tenant}, sub: []string{c.sub}, connID: []string{c.id}, replyTo: []string{c.replyTo},
			frameText: []string{"text"}, frameBinary: []string{"binary"},
		}
	}
	return c.hdr
}

// headerSafe drops CR and LF from client-supplied header values.
func headerSafe(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", "", "\n", "").Replace(s)
}

// accepted enqueues the ack or echo, then mirrors (SHIELD.md §9.8, §12).
func (c *conn) accepted(resp outFrame, msg *nats.Msg) {
	c.g.metrics.message(resultAccepted)
	c.enqueue(resp)
	if !c.mirror {
		return
	}
	h := make(nats.Header, len(msg.Header)+1)
	for k, v := range msg.Header {
		h[k] = v
	}
	h["x-arqon-shadow"] = []string{"true"}
	shadow := &nats.Msg{Subject: "shadow." + msg.Subject, Data: msg.Data, Header: h}
	if err := c.g.up.nc.PublishMsg(shadow); err != nil {
		c.g.metrics.mirrorKO.Inc()
		c.g.logger.Warn("mirror publish failed", "subject", shadow.Subject, "error", err.Error())
		return
	}
	c.g.metrics.mirrorOK.Inc()
}
