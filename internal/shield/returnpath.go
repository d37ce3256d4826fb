package shield

import (
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
)

// returnPath holds one `out.t.<tenant>.>` subscription per tenant with
// local connections and routes backend replies to them (SHIELD.md §11.4).
// A subscription only ever delivers to connections of its own tenant.
type returnPath struct {
	nc      *nats.Conn
	metrics *Metrics

	mu      sync.RWMutex
	closed  bool
	tenants map[string]*tenantRoutes
}

type tenantRoutes struct {
	sub     *nats.Subscription
	conns   map[string]*conn // by conn_id
	pending int              // handshakes that reserved the subscription
}

func newReturnPath(nc *nats.Conn, m *Metrics) *returnPath {
	return &returnPath{nc: nc, metrics: m, tenants: map[string]*tenantRoutes{}}
}

// reserve makes the tenant's return-path subscription effective before the
// handshake completes, so a reply published as soon as the client learns its
// connection is open is not lost. Every reserve is followed by release.
func (rp *returnPath) reserve(tenant string) error {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.closed {
		return errShuttingDown
	}
	t := rp.tenants[tenant]
	if t == nil {
		sub, err := rp.nc.Subscribe("out.t."+tenant+".>", func(m *nats.Msg) { rp.deliver(tenant, m) })
		if err != nil {
			return err
		}
		// The round trip makes the subscription effective at the server.
		if err := rp.nc.FlushTimeout(2 * time.Second); err != nil {
			_ = sub.Unsubscribe()
			return err
		}
		t = &tenantRoutes{sub: sub, conns: map[string]*conn{}}
		rp.tenants[tenant] = t
	}
	t.pending++
	return nil
}

// release ends a reservation, dropping the subscription if no connection of
// the tenant remains.
func (rp *returnPath) release(tenant string) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	t := rp.tenants[tenant]
	if t == nil {
		return
	}
	t.pending--
	rp.dropIfUnused(tenant, t)
}

func (rp *returnPath) dropIfUnused(tenant string, t *tenantRoutes) {
	if len(t.conns) == 0 && t.pending <= 0 {
		_ = t.sub.Unsubscribe()
		delete(rp.tenants, tenant)
	}
}

// add registers c under its tenant's subscription, which the handshake
// reserved.
func (rp *returnPath) add(c *conn) error {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.closed {
		return errShuttingDown
	}
	t := rp.tenants[c.tenant]
	if t == nil {
		return errShuttingDown
	}
	t.conns[c.id] = c
	return nil
}

// remove unregisters c and drops the tenant subscription after the last
// local connection of the tenant.
func (rp *returnPath) remove(c *conn) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	t := rp.tenants[c.tenant]
	if t == nil || t.conns[c.id] != c {
		return
	}
	delete(t.conns, c.id)
	rp.dropIfUnused(c.tenant, t)
}

// shutdown removes every subscription; nothing new is enqueued afterwards.
func (rp *returnPath) shutdown() {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.closed = true
	for name, t := range rp.tenants {
		_ = t.sub.Unsubscribe()
		delete(rp.tenants, name)
	}
}

func (rp *returnPath) deliver(tenant string, m *nats.Msg) {
	typ := websocket.TextMessage
	switch frameHeader(m) {
	case "binary":
		typ = websocket.BinaryMessage
	case "text":
	default:
		if !utf8.Valid(m.Data) {
			typ = websocket.BinaryMessage
		}
	}
	// Subject tokens: out, t, <tenant>, c, <conn_id>, ...
	var target string
	if rest, ok := strings.CutPrefix(m.Subject, "out.t."+tenant+".c."); ok && rest != "" {
		target, _, _ = strings.Cut(rest, ".")
	}
	rp.mu.RLock()
	t := rp.tenants[tenant]
	var targets []*conn
	if t != nil {
		if target != "" {
			if c := t.conns[target]; c != nil {
				targets = append(targets, c)
			}
		} else {
			targets = make([]*conn, 0, len(t.conns))
			for _, c := range t.conns {
				targets = append(targets, c)
			}
		}
	}
	rp.mu.RUnlock()
	if len(targets) == 0 {
		rp.metrics.outNone.Inc()
		return
	}
	for _, c := range targets {
		if c.closing.Load() {
			continue // already ending; not a slow consumer
		}
		if c.enqueue(outFrame{typ: typ, data: m.Data}) {
			rp.metrics.outDeliv.Inc()
		} else {
			rp.metrics.outSlow.Inc()
		}
	}
}

func frameHeader(m *nats.Msg) string {
	if m.Header == nil {
		return ""
	}
	if v := m.Header["Arqon-Frame"]; len(v) > 0 {
		return v[0]
	}
	return ""
}
