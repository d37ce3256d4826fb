package bus

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Close codes and reasons of PROTOCOL.md §3.8.
const (
	closeNormal        = 1000
	closeGoingAway     = 1001
	closePolicy        = 1008
	closeTooBig        = 1009
	closeInternal      = 1011
	closeSlowConsumer  = 4008
	closeTokenExpired  = 4401
	closeRateLimited   = 4429
	writeTimeout       = 10 * time.Second
	violationResetTime = 10 * time.Second
	maxBatchBytes      = 64 << 10
	reasonKeepalive    = "keepalive timeout"
	closeGrace         = 5 * time.Second
)

var closeReasons = map[int]string{
	closeNormal:       "normal closure",
	closeGoingAway:    "server shutting down",
	closePolicy:       "policy violation",
	closeTooBig:       "message too big",
	closeInternal:     "internal error",
	closeSlowConsumer: "slow consumer",
	closeTokenExpired: "token expired",
	closeRateLimited:  "rate limited",
}

// Client is one bus WebSocket connection.
type Client struct {
	srv  *Server
	conn *websocket.Conn
	out  *coalescingConn // the socket under conn; nil in tests without sockets
	log  *slog.Logger

	id          string
	tenant      *tenant
	subject     string
	hasSubject  bool
	role        string
	admin       bool
	operator    bool // admin without a tenant_id claim (PROTOCOL.md §9.3)
	clientType  string
	screenName  string
	hasScreen   bool
	batch       bool
	connectedAt time.Time
	expiry      time.Time

	q        sendQueue
	writing  atomic.Bool
	activity activity

	// Subscriptions are changed only by the client's own read goroutine and by
	// cleanup; status readers take subsMu.
	subsMu        sync.Mutex
	subs          map[string]*channel
	defaultTarget *channel

	// Rate limiter state, touched only by the read goroutine.
	tokens        float64
	lastRefill    time.Time
	violations    int
	lastViolation time.Time

	lastPong     atomic.Int64
	pingSentAt   atomic.Int64
	awaitingPong bool // owned by the keepalive timer callback
	timer        *time.Timer
	expTimer     *time.Timer

	closeOnce  sync.Once
	closed     chan struct{}
	closing    atomic.Bool
	draining   atomic.Bool  // no more frames are queued; close once flushed
	notified   atomic.Bool  // the shutdown notice was queued
	drainClose atomic.Int32 // close code to send once the queue is drained (graceful shutdown)
	sentCode   atomic.Int32 // close code we sent, 0 if the peer closed
}

// enqueue queues frames as one unit. It never blocks: a client whose queue is
// full is closed as a slow consumer and the frames are dropped for it.
func (c *Client) enqueue(frames ...[]byte) bool {
	if c.closing.Load() || c.draining.Load() {
		return false
	}
	switch c.q.push(frames...) {
	case pushedWake:
		c.kick()
		return true
	case pushed:
		return true
	case overflow:
		go c.closeWith(closeSlowConsumer, closeReasons[closeSlowConsumer])
	}
	return false
}

// enqueueFinal queues the shutdown notice as the connection's last frame and
// closes it with code once everything before it has been written.
func (c *Client) enqueueFinal(frame []byte, code int) {
	if c.closing.Load() {
		return
	}
	c.q.pushFinal(frame)
	c.closeAfterDrain(code)
}

func (c *Client) kick() {
	if c.writing.CompareAndSwap(false, true) {
		go c.writeLoop()
	}
}

// writeLoop runs only while there is something to write (started on demand,
// so idle connections have no writer goroutine). It drains everything queued
// per wake-up and writes it as one JSON Lines frame when the client accepts
// batches.
func (c *Client) writeLoop() {
	sc := scratchPool.Get().(*writerScratch)
	defer sc.release()
	frames, buf := sc.frames, sc.buf
	defer func() { sc.frames, sc.buf = frames, buf }()
	for {
		frames = c.q.drain(frames[:0], c.srv.batchLimit())
		if len(frames) == 0 {
			c.writing.Store(false)
			if c.q.len() > 0 && c.writing.CompareAndSwap(false, true) {
				continue
			}
			if code := c.drainClose.Load(); code != 0 && c.q.len() == 0 {
				c.closeWith(int(code), closeReasons[int(code)])
			}
			return
		}
		if err := c.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
			c.writing.Store(false)
			return
		}
		var err error
		if c.batch && len(frames) > 1 {
			buf = buf[:0]
			for i, f := range frames {
				if i > 0 {
					buf = append(buf, '\n')
				}
				buf = append(buf, f...)
			}
			err = c.conn.WriteMessage(websocket.TextMessage, buf)
		} else if len(frames) == 1 || c.out == nil {
			for _, f := range frames {
				if err = c.conn.WriteMessage(websocket.TextMessage, f); err != nil {
					break
				}
			}
		} else {
			// One frame per envelope, as unbatched clients require, but all
			// of them in one system call.
			c.out.hold()
			for _, f := range frames {
				if err = c.conn.WriteMessage(websocket.TextMessage, f); err != nil {
					break
				}
			}
			if ferr := c.out.flush(time.Now().Add(writeTimeout)); err == nil {
				err = ferr
			}
		}
		clear(frames)
		if err != nil {
			c.writing.Store(false)
			if c.closing.Load() {
				return // closeWith owns the rest of the connection's ending
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.closeWith(closeSlowConsumer, closeReasons[closeSlowConsumer])
			} else {
				c.shutdownConn()
			}
			return
		}
	}
}

// writerScratch is a writer's working memory, pooled because writers start
// on demand: a busy connection would otherwise allocate a fresh batch buffer
// on every wake-up (measured at a third of the server's CPU under load).
type writerScratch struct {
	frames [][]byte
	buf    []byte
}

var scratchPool = sync.Pool{New: func() any {
	return &writerScratch{frames: make([][]byte, 0, 64), buf: make([]byte, 0, 16<<10)}
}}

// release returns the scratch to the pool, dropping what grew too large and
// the references to frames so they can be collected.
func (sc *writerScratch) release() {
	if cap(sc.buf) > 2*maxBatchBytes || cap(sc.frames) > 4096 {
		return
	}
	clear(sc.frames[:cap(sc.frames)])
	sc.frames, sc.buf = sc.frames[:0], sc.buf[:0]
	scratchPool.Put(sc)
}

// closeWith sends a close frame with code and its reason, then drops the TCP
// connection; the read loop ends and cleanup runs. Safe to call many times
// and from any goroutine (it may block up to a second on a stuck socket, so
// callers holding locks run it in a goroutine).
func (c *Client) closeWith(code int, reason string) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.sentCode.Store(int32(code))
	c.srv.metrics.ConnectionCloses.WithLabelValues(itoa(code)).Inc()
	// Frames still queued are dropped. A slow consumer's socket is full, so
	// its close frame waits behind the write in progress: a client that is
	// merely slow still reads the 4008 in order; one that does not read at
	// all is dropped when the deadline passes.
	c.q.close()
	deadline := time.Now().Add(time.Second)
	if code == closeSlowConsumer {
		deadline = time.Now().Add(2 * time.Second)
	}
	msg := websocket.FormatCloseMessage(code, reason)
	if err := c.conn.WriteControl(websocket.CloseMessage, msg, deadline); err != nil {
		c.abort()
		return
	}
	// The writer may be coalescing frames: the close frame can sit in its
	// buffer, so write that out before the FIN.
	if c.out != nil {
		if err := c.out.flush(deadline); err != nil {
			c.abort()
			return
		}
	}
	c.halfClose()
}

// abort resets the connection: the kernel drops what the socket still holds
// instead of trickling it to a peer that stopped reading.
func (c *Client) abort() {
	c.closing.Store(true)
	if tc, ok := c.rawConn().(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.rawConn().Close()
}

// rawConn is the TCP connection under the WebSocket.
func (c *Client) rawConn() net.Conn {
	if c.out != nil {
		return c.out.Conn
	}
	return c.conn.NetConn()
}

// halfClose sends FIN after whatever the socket still holds, so a client
// that reads late still receives its frames (and the close frame, when it
// fitted) in order; the read loop ends when the peer closes, and a timer
// drops the connection if it never does.
func (c *Client) halfClose() {
	c.closing.Store(true)
	if tc, ok := c.rawConn().(interface{ CloseWrite() error }); ok {
		if tc.CloseWrite() == nil {
			time.AfterFunc(closeGrace, c.abort)
			return
		}
	}
	c.shutdownConn()
}

// closeAfterDrain asks the writer to send the close frame once everything
// already queued has been written (graceful shutdown, PROTOCOL.md §3.9).
func (c *Client) closeAfterDrain(code int) {
	c.drainClose.Store(int32(code))
	c.draining.Store(true)
	c.kick()
}

func (c *Client) shutdownConn() {
	c.closing.Store(true)
	_ = c.rawConn().Close()
}

// takeToken implements the per-connection token bucket (PROTOCOL.md §3.6).
func (c *Client) takeToken(now time.Time) bool {
	rate := c.srv.opts.RateLimitPerSecond
	if rate <= 0 {
		return true
	}
	burst := float64(c.srv.opts.RateLimitBurst)
	if !c.lastRefill.IsZero() {
		c.tokens += now.Sub(c.lastRefill).Seconds() * rate
		if c.tokens > burst {
			c.tokens = burst
		}
	}
	c.lastRefill = now
	if c.tokens >= 1 {
		c.tokens--
		return true
	}
	return false
}

// rateViolation records one discarded frame. It returns true when the
// connection must be closed with 4429 instead of receiving the error frame.
func (c *Client) rateViolation(now time.Time) bool {
	if !c.lastViolation.IsZero() && now.Sub(c.lastViolation) >= violationResetTime {
		c.violations = 0
	}
	c.violations++
	c.lastViolation = now
	max := c.srv.opts.RateLimitMaxViolations
	return max > 0 && c.violations >= max
}

// startTimers arms keepalive and token expiry (PROTOCOL.md §3.5, §3.7) with
// AfterFunc timers instead of goroutines.
func (c *Client) startTimers() {
	c.lastPong.Store(time.Now().UnixNano())
	c.conn.SetPongHandler(func(string) error {
		c.lastPong.Store(time.Now().UnixNano())
		return nil
	})
	c.timer = time.AfterFunc(c.srv.opts.PingInterval, c.keepalive)
	if !c.expiry.IsZero() {
		d := time.Until(c.expiry.Add(c.srv.opts.Leeway))
		if d < 0 {
			d = 0
		}
		c.expTimer = time.AfterFunc(d, func() { c.closeWith(closeTokenExpired, closeReasons[closeTokenExpired]) })
	}
}

// keepalive is the single timer callback of a connection: it alternates
// between sending a ping and checking that a pong arrived in time. Only this
// callback resets the timer, so its state needs no lock.
func (c *Client) keepalive() {
	if c.closing.Load() {
		return
	}
	o := c.srv.opts
	if c.awaitingPong {
		c.awaitingPong = false
		if c.lastPong.Load() < c.pingSentAt.Load() {
			c.closeWith(closeInternal, reasonKeepalive)
			return
		}
		next := o.PingInterval - o.PingTimeout
		if next < 0 {
			next = 0
		}
		c.timer.Reset(next)
		return
	}
	now := time.Now()
	c.pingSentAt.Store(now.UnixNano())
	if err := c.conn.WriteControl(websocket.PingMessage, nil, now.Add(writeTimeout)); err != nil {
		c.shutdownConn()
		return
	}
	c.awaitingPong = true
	c.timer.Reset(o.PingTimeout)
}

func (c *Client) stopTimers() {
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.expTimer != nil {
		c.expTimer.Stop()
	}
}

// tenantID is the wire form of the tenant: nil for the default tenant.
func (c *Client) tenantID() any {
	if c.tenant.id == "" {
		return nil
	}
	return c.tenant.id
}

func (c *Client) subscriptionNames() []string {
	c.subsMu.Lock()
	defer c.subsMu.Unlock()
	out := make([]string, 0, len(c.subs))
	for k := range c.subs {
		out = append(out, k)
	}
	return out
}

// now is the server's acceptance time for a frame.
func serverTime() (time.Time, string) {
	t := time.Now()
	return t, protocol.FormatTime(t)
}
