package operators

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Dispatch constants (PROTOCOL.md §7.2, Appendix B).
const (
	// dispatchQueueSize bounds the deliveries the server holds at once:
	// queued, in flight and waiting for a retry all count, so a receiver
	// that fails fast cannot park an unbounded number of retries.
	dispatchQueueSize = 1024
	dispatchWorkers   = 4
	// A receiver that accepts connections and never answers holds a worker
	// for timeout_seconds (up to 30 s) per attempt. One target host may
	// occupy at most maxHostInFlight workers and one tenant at most
	// maxTenantInFlight, so a hanging host leaves workers to the tenant's
	// other hosts, and a tenant with many hanging hosts leaves at least one
	// worker to the other tenants.
	maxHostInFlight   = 2
	maxTenantInFlight = dispatchWorkers - 1
	maxRetries        = 3
)

// retryBackoff is the wait before retry n (0-based); each wait gets ±20 %
// jitter. Tests shorten it.
var retryBackoff = [maxRetries]time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}

// errRefusedTarget is returned by the dialer for a private-network address
// while private networks are not allowed (OPERATIONS.md §4.8).
var errRefusedTarget = errors.New("webhook target is on a private network")

// webhookMessage is one routed message, shared by every delivery it caused.
// frame is the bus's delivery frame, which is never modified after routing,
// so a message that matches many rules is held once and each POST body is
// built only while it is being sent.
type webhookMessage struct {
	senderID string
	frame    []byte
}

// delivery is one webhook POST, retried with the same id. rule is read-only
// once registered; the delivery keeps it even if the rule is removed.
type delivery struct {
	id      string // X-Arqon-Delivery-Id, stable across retries
	rule    *webhookRule
	msg     *webhookMessage
	retries int // retries already scheduled
}

// tenantQueue holds one tenant's deliveries that are ready to be sent.
type tenantQueue struct {
	tenant   string
	ready    []*delivery // FIFO, except that deliveries to a busy host are passed over
	inFlight int
	hosts    map[string]int // attempts in flight per target host
	listed   bool           // in dispatcher.active
}

// dispatcher is the per-server bounded queue drained by a fixed pool of
// workers. Ready deliveries wait in per-tenant FIFOs that the workers serve
// round robin, within the per-tenant and per-host in-flight limits. Retries
// wait on timers, not in a worker, and keep their place in the budget.
type dispatcher struct {
	o      *Operators
	client *http.Client
	ua     string

	ctx    context.Context // cancelled when the shutdown budget ends
	cancel context.CancelFunc

	mu      sync.Mutex
	work    *sync.Cond // signalled when a delivery becomes ready, broadcast on close
	started bool
	closed  bool
	pending int // deliveries accepted and not finished: at most dispatchQueueSize
	tenants map[string]*tenantQueue
	active  []*tenantQueue // tenants with ready deliveries, served round robin
	next    int            // index in active of the tenant to serve next
	timers  map[*delivery]*time.Timer
	wg      sync.WaitGroup
}

func newDispatcher(o *Operators) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	d := &dispatcher{o: o, ua: "arqonbus/" + o.opts.Version, ctx: ctx, cancel: cancel,
		tenants: make(map[string]*tenantQueue), timers: make(map[*delivery]*time.Timer)}
	d.work = sync.NewCond(&d.mu)
	allowPrivate := o.opts.WebhookAllowPrivateNetworks
	dialer := &net.Dialer{
		Timeout: 30 * time.Second,
		// The check runs on the address actually dialled, after DNS
		// resolution, so a name that resolves (or rebinds) to a private
		// address is refused too.
		Control: func(_, address string, _ syscall.RawConn) error {
			if allowPrivate {
				return nil
			}
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return errRefusedTarget
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || privateAddr(ip) {
				return errRefusedTarget
			}
			return nil
		},
	}
	d.client = &http.Client{
		Transport: &http.Transport{
			Proxy:               nil, // a proxy would hide the real target from the private-network check
			DialContext:         dialer.DialContext,
			MaxIdleConnsPerHost: dispatchWorkers,
			IdleConnTimeout:     30 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return d
}

// privateAddr reports loopback, link-local, RFC 1918, CGNAT (100.64/10),
// IPv6 ULA and unspecified addresses.
func privateAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsPrivate() ||
		ip.IsUnspecified() || cgnat.Contains(ip)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// submit queues one delivery of msg per rule without ever blocking. The
// budget is reserved before anything is built; the rules it cannot hold are
// dropped and counted.
func (d *dispatcher) submit(tenant string, msg *webhookMessage, rules []*webhookRule) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	if !d.started {
		d.started = true
		for i := 0; i < dispatchWorkers; i++ {
			d.wg.Add(1)
			go d.worker()
		}
	}
	accepted := min(dispatchQueueSize-d.pending, len(rules))
	d.pending += accepted
	d.mu.Unlock()

	if dropped := len(rules) - accepted; dropped > 0 {
		for i := 0; i < dropped; i++ {
			d.o.countWebhook("dropped")
		}
		d.o.log.Warn("webhook deliveries dropped: dispatch queue full", "dropped", dropped)
	}
	if accepted == 0 {
		return
	}
	batch := make([]*delivery, accepted)
	for i, r := range rules[:accepted] {
		batch[i] = &delivery{id: "whd_" + protocol.RandomHex(8), rule: r, msg: msg}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		d.pending -= accepted
		return
	}
	q := d.tenantLocked(tenant)
	q.ready = append(q.ready, batch...)
	d.listLocked(q)
	for range batch {
		d.work.Signal()
	}
}

func (d *dispatcher) tenantLocked(tenant string) *tenantQueue {
	q := d.tenants[tenant]
	if q == nil {
		q = &tenantQueue{tenant: tenant, hosts: make(map[string]int)}
		d.tenants[tenant] = q
	}
	return q
}

// listLocked puts a tenant with ready deliveries into the round robin.
func (d *dispatcher) listLocked(q *tenantQueue) {
	if !q.listed && len(q.ready) > 0 {
		q.listed = true
		d.active = append(d.active, q)
	}
}

// forgetLocked drops the state of a tenant that has nothing ready or in
// flight (its retries re-create it when their timers fire).
func (d *dispatcher) forgetLocked(q *tenantQueue) {
	if !q.listed && q.inFlight == 0 && len(q.ready) == 0 && d.tenants[q.tenant] == q {
		delete(d.tenants, q.tenant)
	}
}

// nextLocked takes, from the next tenant in round robin order that is
// below maxTenantInFlight, its oldest ready delivery whose host is below
// maxHostInFlight.
func (d *dispatcher) nextLocked() (*delivery, *tenantQueue) {
	n := len(d.active)
	for i := 0; i < n; i++ {
		idx := (d.next + i) % n
		q := d.active[idx]
		if q.inFlight >= maxTenantInFlight {
			continue
		}
		pos := slices.IndexFunc(q.ready, func(dl *delivery) bool { return q.hosts[dl.rule.host] < maxHostInFlight })
		if pos < 0 {
			continue
		}
		dl := q.ready[pos]
		q.ready = slices.Delete(q.ready, pos, pos+1)
		q.inFlight++
		q.hosts[dl.rule.host]++
		if len(q.ready) == 0 {
			q.ready = nil
			q.listed = false
			d.active = slices.Delete(d.active, idx, idx+1)
			d.next = idx // the tenant after it moved into idx
		} else {
			d.next = idx + 1
		}
		if len(d.active) == 0 || d.next >= len(d.active) {
			d.next = 0
		}
		return dl, q
	}
	return nil, nil
}

func (d *dispatcher) worker() {
	defer d.wg.Done()
	d.mu.Lock()
	defer d.mu.Unlock()
	for !d.closed {
		dl, q := d.nextLocked()
		if dl == nil {
			d.work.Wait()
			continue
		}
		d.mu.Unlock()
		retry, kind, status := d.attempt(dl)
		d.mu.Lock()
		q.inFlight--
		if q.hosts[dl.rule.host]--; q.hosts[dl.rule.host] <= 0 {
			delete(q.hosts, dl.rule.host)
		}
		if retry {
			d.retryLocked(dl, kind, status)
		} else {
			d.pending--
		}
		d.forgetLocked(q)
	}
}

// attempt sends one POST. It counts and logs a final outcome itself and
// reports retry=true when the attempt failed in a way that is retried.
func (d *dispatcher) attempt(dl *delivery) (retry bool, kind string, status int) {
	timeout := time.Duration(math.Round(dl.rule.timeoutSeconds * float64(time.Second)))
	ctx, cancel := context.WithTimeout(d.ctx, timeout)
	defer cancel()
	// Built per attempt so that a delivery waiting for a retry holds no copy.
	body := webhookBody(dl.rule, dl.msg.senderID, dl.msg.frame)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.rule.url, bytes.NewReader(body))
	if err != nil {
		d.finish(dl, "error", "invalid request", 0)
		return false, "", 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.ua)
	for _, h := range dl.rule.headers {
		req.Header.Set(h[0], h[1])
	}
	req.Header.Set("X-Arqon-Delivery-Id", dl.id)
	resp, err := d.client.Do(req)
	if err != nil {
		if errors.Is(err, errRefusedTarget) {
			d.o.countWebhook("refused")
			d.o.log.Warn("webhook target refused", "rule_id", dl.rule.id, "delivery_id", dl.id)
			return false, "", 0
		}
		if d.ctx.Err() != nil {
			d.finish(dl, "error", "shutdown", 0)
			return false, "", 0
		}
		return true, errorKind(err), 0
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 500 || code == http.StatusTooManyRequests:
		return true, "status", code
	case code >= 200 && code < 400:
		d.o.countWebhook("ok")
	default:
		d.finish(dl, "error", "status", code)
	}
	return false, "", 0
}

// errorKind classifies a transport error for the log without its text,
// which can contain the URL.
func errorKind(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "network error"
}

func (d *dispatcher) finish(dl *delivery, result, kind string, status int) {
	d.o.countWebhook(result)
	attrs := []any{"rule_id", dl.rule.id, "delivery_id", dl.id, "attempts", dl.retries + 1, "error", kind}
	if status != 0 {
		attrs = append(attrs, "status", status)
	}
	d.o.log.Warn("webhook delivery failed", attrs...)
}

// retryLocked schedules the next attempt, or gives up after maxRetries. The
// delivery keeps its place in the budget while it waits.
func (d *dispatcher) retryLocked(dl *delivery, kind string, status int) {
	if dl.retries >= maxRetries {
		d.pending--
		d.finish(dl, "error", kind, status)
		return
	}
	if d.closed {
		d.pending-- // abandoned, like every other pending retry at close
		return
	}
	wait := retryBackoff[dl.retries]
	wait = time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
	dl.retries++
	d.timers[dl] = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.timers[dl]; !ok {
			return // abandoned by close
		}
		delete(d.timers, dl)
		q := d.tenantLocked(dl.rule.tenant)
		q.ready = append(q.ready, dl)
		d.listLocked(q)
		d.work.Signal()
	})
}

// close stops taking work, lets deliveries in flight finish within budget,
// then aborts what is left. Queued deliveries and pending retries are
// abandoned.
func (d *dispatcher) close(budget time.Duration) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	for dl, t := range d.timers {
		t.Stop()
		delete(d.timers, dl)
		d.pending--
	}
	for _, q := range d.active {
		d.pending -= len(q.ready)
		q.ready, q.listed = nil, false
	}
	d.active, d.next = nil, 0
	d.work.Broadcast()
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	timer := time.NewTimer(budget)
	select {
	case <-done:
	case <-timer.C:
		d.cancel()
		<-done
	}
	timer.Stop()
	d.cancel()
	d.client.CloseIdleConnections()
}
