package operators

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Dispatch constants (PROTOCOL.md §7.2, Appendix B).
const (
	dispatchQueueSize = 1024
	dispatchWorkers   = 4
	maxRetries        = 3
)

// retryBackoff is the wait before retry n (0-based); each wait gets ±20 %
// jitter. Tests shorten it.
var retryBackoff = [maxRetries]time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}

// errRefusedTarget is returned by the dialer for a private-network address
// while private networks are not allowed (OPERATIONS.md §4.8).
var errRefusedTarget = errors.New("webhook target is on a private network")

// delivery is one webhook POST, retried with the same id.
type delivery struct {
	id      string // X-Arqon-Delivery-Id, stable across retries
	ruleID  string
	url     string
	headers [][2]string
	timeout time.Duration
	body    []byte
	retries int // retries already scheduled
}

// dispatcher is the per-server bounded queue drained by a fixed pool of
// workers. Retries wait on timers, not in a worker, so a failing receiver
// never holds up other deliveries.
type dispatcher struct {
	o      *Operators
	queue  chan *delivery
	client *http.Client
	ua     string

	ctx    context.Context // cancelled when the shutdown budget ends
	cancel context.CancelFunc

	mu      sync.Mutex
	started bool
	closed  bool
	timers  map[*delivery]*time.Timer
	stop    chan struct{}
	wg      sync.WaitGroup
}

func newDispatcher(o *Operators) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	d := &dispatcher{o: o, queue: make(chan *delivery, dispatchQueueSize), ua: "arqonbus/" + o.opts.Version,
		ctx: ctx, cancel: cancel, timers: make(map[*delivery]*time.Timer), stop: make(chan struct{})}
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

// enqueue adds a delivery without ever blocking; a full queue drops it.
func (d *dispatcher) enqueue(dl *delivery) {
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
	d.mu.Unlock()
	select {
	case d.queue <- dl:
	default:
		d.o.countWebhook("dropped")
		d.o.log.Warn("webhook delivery dropped: dispatch queue full", "rule_id", dl.ruleID, "delivery_id", dl.id)
	}
}

func (d *dispatcher) worker() {
	defer d.wg.Done()
	for {
		select {
		case <-d.stop:
			return
		case dl := <-d.queue:
			d.attempt(dl)
		}
	}
}

// attempt sends one POST and decides: done, retry later, or give up.
func (d *dispatcher) attempt(dl *delivery) {
	ctx, cancel := context.WithTimeout(d.ctx, dl.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.url, bytes.NewReader(dl.body))
	if err != nil {
		d.finish(dl, "error", "invalid request", 0)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.ua)
	for _, h := range dl.headers {
		req.Header.Set(h[0], h[1])
	}
	req.Header.Set("X-Arqon-Delivery-Id", dl.id)
	resp, err := d.client.Do(req)
	if err != nil {
		if errors.Is(err, errRefusedTarget) {
			d.o.countWebhook("refused")
			d.o.log.Warn("webhook target refused", "rule_id", dl.ruleID, "delivery_id", dl.id)
			return
		}
		if d.ctx.Err() != nil {
			d.finish(dl, "error", "shutdown", 0)
			return
		}
		d.retryOrFail(dl, errorKind(err), 0)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 500 || code == http.StatusTooManyRequests:
		d.retryOrFail(dl, "status", code)
	case code >= 200 && code < 400:
		d.o.countWebhook("ok")
	default:
		d.finish(dl, "error", "status", code)
	}
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
	attrs := []any{"rule_id", dl.ruleID, "delivery_id", dl.id, "attempts", dl.retries + 1, "error", kind}
	if status != 0 {
		attrs = append(attrs, "status", status)
	}
	d.o.log.Warn("webhook delivery failed", attrs...)
}

func (d *dispatcher) retryOrFail(dl *delivery, kind string, status int) {
	if dl.retries >= maxRetries {
		d.finish(dl, "error", kind, status)
		return
	}
	wait := retryBackoff[dl.retries]
	wait = time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
	dl.retries++
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.timers[dl] = time.AfterFunc(wait, func() {
		d.mu.Lock()
		delete(d.timers, dl)
		closed := d.closed
		d.mu.Unlock()
		if closed {
			return
		}
		select {
		case d.queue <- dl:
		default:
			d.o.countWebhook("dropped")
			d.o.log.Warn("webhook retry dropped: dispatch queue full", "rule_id", dl.ruleID, "delivery_id", dl.id,
				"attempt", strconv.Itoa(dl.retries+1))
		}
	})
}

// close stops taking work, lets deliveries in flight finish within budget,
// then aborts what is left.
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
	}
	close(d.stop)
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
