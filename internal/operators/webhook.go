package operators

import (
	"context"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// webhookRule is one registered rule. Rules belong to the connection that
// registered them and are never persisted (PROTOCOL.md §7.2).
type webhookRule struct {
	id, url, owner, tenant string
	host                   string // lower-case host[:port] of url: the dispatcher's fairness key
	room, channel          string // "" = any
	timeoutSeconds         float64
	headers                [][2]string // name, value; applied in this order
	created                time.Time
	seq                    uint64
}

func (r *webhookRule) view(withOwner bool) map[string]any {
	m := map[string]any{"rule_id": r.id, "url": r.url, "room": nullable(r.room), "channel": nullable(r.channel),
		"timeout_seconds": r.timeoutSeconds, "created_at": protocol.FormatTime(r.created)}
	if withOwner {
		m["owner_client_id"] = r.owner
	}
	return m
}

// webhookSpec is a validated op.webhook.register request.
type webhookSpec struct {
	url            string
	host           string
	room, channel  string
	timeoutSeconds float64
	headers        [][2]string
}

// forbiddenHeaders may not be set by a rule: they describe the transport,
// not the request.
var forbiddenHeaders = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection"}

// parseWebhookArgs validates op.webhook.register (PROTOCOL.md §7.2); the
// detail is "" when the arguments are valid.
func parseWebhookArgs(a protocol.Args) (webhookSpec, string) {
	var s webhookSpec
	raw, _, d := a.String("url", true)
	if d != "" {
		return s, d
	}
	lower := strings.ToLower(raw)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return s, "'url' must start with http:// or https://"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" || u.Opaque != "" || !validHeaderValue(raw) || strings.ContainsAny(raw, " \t") {
		return s, "'url' is not a valid URL"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return s, "'url' is not a valid URL"
		}
	}
	s.url, s.host = raw, strings.ToLower(u.Host)

	room, _, d := a.String("room", false)
	if d != "" {
		return s, d
	}
	ch, _, d := a.String("channel", false)
	if d != "" {
		return s, d
	}
	if strings.IndexByte(ch, ':') >= 0 || (ch == "" && strings.IndexByte(room, ':') >= 0) {
		r, c, st, detail := protocol.ResolveTarget(room, ch)
		if st != protocol.TargetOK {
			return s, detail
		}
		room, ch = r, c
	}
	if room != "" && !protocol.ValidName(room) {
		return s, "Invalid room name: " + room
	}
	if ch != "" && !protocol.ValidName(ch) {
		return s, "Invalid channel name: " + ch
	}
	s.room, s.channel = room, ch

	s.timeoutSeconds = 2.0
	if v, present, d := a.Number("timeout_seconds"); d != "" {
		return s, d
	} else if present {
		if !(v > 0) {
			return s, "'timeout_seconds' must be > 0"
		}
		if v > maxWebhookTimeout {
			return s, "'timeout_seconds' must be <= 30"
		}
		s.timeoutSeconds = v
	}

	obj, present, d := a.Object("headers")
	if d != "" {
		return s, d
	}
	if present {
		h, err := protocol.ParseArgs(obj)
		if err != nil {
			return s, "'headers' must be an object"
		}
		names := make([]string, 0, len(h))
		for k := range h {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, name := range names {
			for _, f := range forbiddenHeaders {
				if strings.EqualFold(name, f) {
					return s, "'headers' may not set '" + f + "'"
				}
			}
			if !validHeaderName(name) {
				return s, "'headers' may not set '" + name + "'"
			}
			val, ok := scalarString(h[name])
			if !ok || !validHeaderValue(val) {
				return s, "'headers' values must be scalar values"
			}
			s.headers = append(s.headers, [2]string{name, val})
		}
	}
	return s, ""
}

// scalarString stringifies a JSON string, number or boolean.
func scalarString(raw []byte) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == '"':
		a := protocol.Args{"v": raw}
		v, _, d := a.String("v", false)
		if d != "" {
			return "", false
		}
		return v, true
	case c == 't' || c == 'f':
		return string(raw), string(raw) == "true" || string(raw) == "false"
	case c == '-' || (c >= '0' && c <= '9'):
		return string(raw), true
	}
	return "", false
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue rejects control characters (header injection).
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// webhooks holds the rules and the dispatcher.
type webhooks struct {
	o *Operators

	mu       sync.RWMutex
	byTenant map[string]map[string]*webhookRule // tenant -> rule id -> rule
	seq      uint64
	total    atomic.Int64 // rules over all tenants: the hot path skips everything at 0

	d *dispatcher
}

func newWebhooks(o *Operators) *webhooks {
	return &webhooks{o: o, byTenant: make(map[string]map[string]*webhookRule), d: newDispatcher(o)}
}

func (o *Operators) webhookCommands() []bus.Command {
	return []bus.Command{
		{Name: "op.webhook.register", Description: "Register an HTTP callback for routed messages",
			Args: []bus.ArgDoc{{Name: "url", Required: true, Description: "Absolute http:// or https:// URL"},
				{Name: "room", Description: "Room filter"}, {Name: "channel", Description: "Channel filter"},
				{Name: "timeout_seconds", Description: "Request timeout, > 0 and <= 30, default 2.0"},
				{Name: "headers", Description: "Extra request headers (object of scalar values)"}},
			Run: o.hooks.register},
		{Name: "op.webhook.list", Description: "List webhook rules (admins see the whole tenant)", Args: []bus.ArgDoc{}, Run: o.hooks.list},
		{Name: "op.webhook.unregister", Description: "Remove a webhook rule",
			Args: []bus.ArgDoc{{Name: "rule_id", Required: true, Description: "Rule id"}}, Run: o.hooks.unregister},
	}
}

func (w *webhooks) register(_ context.Context, call *bus.Call) bus.Result {
	spec, d := parseWebhookArgs(call.Args)
	if d != "" {
		return bus.Invalid(d)
	}
	tenant := call.Client.Tenant
	w.mu.Lock()
	rules := w.byTenant[tenant]
	if len(rules) >= maxWebhookRules {
		w.mu.Unlock()
		return bus.Fail(protocol.CodeLimitExceeded, "Webhook rule limit reached ("+strconv.Itoa(maxWebhookRules)+")")
	}
	if rules == nil {
		rules = make(map[string]*webhookRule)
		w.byTenant[tenant] = rules
	}
	w.seq++
	r := &webhookRule{id: "wh_" + protocol.RandomHex(6), url: spec.url, host: spec.host, owner: call.Client.ID, tenant: tenant,
		room: spec.room, channel: spec.channel, timeoutSeconds: spec.timeoutSeconds, headers: spec.headers,
		created: now(), seq: w.seq}
	rules[r.id] = r
	w.total.Add(1)
	w.mu.Unlock()
	return bus.Result{Message: "Webhook rule registered", Data: r.view(false)}
}

func (w *webhooks) list(_ context.Context, call *bus.Call) bus.Result {
	w.mu.RLock()
	var out []*webhookRule
	for _, r := range w.byTenant[call.Client.Tenant] {
		if call.Client.Admin || r.owner == call.Client.ID {
			out = append(out, r)
		}
	}
	w.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	views := make([]map[string]any, 0, len(out))
	for _, r := range out {
		views = append(views, r.view(true))
	}
	return bus.Result{Message: "Webhook rules retrieved", Data: map[string]any{"rules": views, "count": len(views)}}
}

func (w *webhooks) unregister(_ context.Context, call *bus.Call) bus.Result {
	id, _, d := call.Args.String("rule_id", true)
	if d != "" {
		return bus.Invalid(d)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.byTenant[call.Client.Tenant][id]
	if r == nil {
		return bus.Result{Code: protocol.CodeNotFound, Message: "Webhook rule '" + id + "' not found", Data: map[string]any{"rule_id": id}}
	}
	if r.owner != call.Client.ID && !call.Client.Admin {
		return bus.Fail(protocol.CodeAuthorization, "Cannot remove webhook rule owned by another client")
	}
	w.removeLocked(r)
	return bus.Result{Message: "Webhook rule removed", Data: map[string]any{"rule_id": id}}
}

func (w *webhooks) removeLocked(r *webhookRule) {
	rules := w.byTenant[r.tenant]
	if _, ok := rules[r.id]; !ok {
		return
	}
	delete(rules, r.id)
	if len(rules) == 0 {
		delete(w.byTenant, r.tenant)
	}
	w.total.Add(-1)
}

// removeOwner deletes the rules of a connection that ended (PROTOCOL.md
// §3.10).
func (w *webhooks) removeOwner(clientID string) {
	if w.total.Load() == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, rules := range w.byTenant {
		for _, r := range rules {
			if r.owner == clientID {
				w.removeLocked(r)
			}
		}
	}
}

// onMessage runs on the sender's read path after its ack was enqueued. It
// only matches rules and hands them to the dispatcher with the shared frame;
// it never waits for the network and copies nothing per rule (PROTOCOL.md
// §7.2: webhooks never delay routing or acks).
func (w *webhooks) onMessage(sender bus.ClientInfo, room, channel string, frame []byte) {
	if w.total.Load() == 0 {
		return
	}
	w.mu.RLock()
	var match []*webhookRule
	for _, r := range w.byTenant[sender.Tenant] {
		if (r.room == "" || r.room == room) && (r.channel == "" || r.channel == channel) {
			match = append(match, r)
		}
	}
	w.mu.RUnlock()
	if len(match) == 0 {
		return
	}
	w.d.submit(sender.Tenant, &webhookMessage{senderID: sender.ID, frame: frame}, match)
}

// webhookBody builds the POST body of PROTOCOL.md §7.2 around the delivery
// frame, which is copied verbatim.
func webhookBody(r *webhookRule, senderID string, frame []byte) []byte {
	b := make([]byte, 0, len(frame)+160)
	b = append(b, `{"rule_version":"v1","rule_id":`...)
	b = protocol.AppendString(b, r.id)
	b = append(b, `,"tenant_id":`...)
	if r.tenant == "" {
		b = append(b, "null"...)
	} else {
		b = protocol.AppendString(b, r.tenant)
	}
	b = append(b, `,"sender_client_id":`...)
	b = protocol.AppendString(b, senderID)
	b = append(b, `,"envelope":`...)
	b = append(b, frame...)
	return append(b, '}')
}

func (w *webhooks) close(budget time.Duration) { w.d.close(budget) }
