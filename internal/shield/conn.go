package shield

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Close codes sent by Shield (SHIELD.md §8.4).
const (
	closeGoingAway      = 1001
	closeInvalidPayload = 1007
	closePolicy         = 1008
	closeTooBig         = 1009
	closeInternal       = 1011
	closeSlowConsumer   = 4008
	closeTokenExpired   = 4401
	closeRateLimited    = 4429
)

const (
	writeTimeout     = 10 * time.Second
	closeGracePeriod = time.Second
)

var errShuttingDown = errors.New("shutting down")

// outFrame is one item of a connection's send queue; close items end it.
type outFrame struct {
	typ   int
	data  []byte
	close bool
}

// conn is one client connection: a reader (the handler goroutine, which
// runs the frame pipeline strictly in order) and a writer goroutine that
// owns every data write.
type conn struct {
	g      *Gateway
	ws     *websocket.Conn
	id     string
	tenant string
	sub    string
	source string
	// subject and replyTo are in.t.<tenant>.raw and out.t.<tenant>.c.<id>.
	subject, replyTo string
	deadline         time.Time // exp + leeway; zero if none
	opened           time.Time
	mirror           bool

	queue   chan outFrame
	abortCh chan struct{}
	closing atomic.Bool

	closeOnce   sync.Once
	closeCode   int // 0: the peer ended the connection
	closeReason string

	readerDone chan struct{}
	writerDone chan struct{}
	lastPong   atomic.Int64

	framesIn, framesOut atomic.Int64

	// Reader-goroutine state.
	bucket         tokenBucket
	violations     int
	rateViolations int
	lastRateViol   time.Time
	text           textState
	hdr            *connHeaderValues
}

// enqueue adds f to the send queue without blocking. A full queue closes
// the connection with 4008 (SHIELD.md §8.3). It reports whether f was
// queued.
func (c *conn) enqueue(f outFrame) bool {
	if c.closing.Load() {
		return false
	}
	select {
	case c.queue <- f:
		return true
	default:
		c.startClose(closeSlowConsumer, "slow consumer", false)
		return false
	}
}

// startClose begins closing once. With flush, the close frame follows the
// frames already queued; otherwise it is sent at once.
func (c *conn) startClose(code int, reason string, flush bool) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeReason = code, reason
		c.closing.Store(true)
		if flush {
			select {
			case c.queue <- outFrame{close: true}:
				return
			default:
			}
		}
		close(c.abortCh)
	})
}

// peerClosed records that the connection ended without a close from Shield.
func (c *conn) peerClosed() {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		close(c.abortCh)
	})
}

func (c *conn) writeLoop() {
	defer close(c.writerDone)
	o := &c.g.opts
	ping := time.NewTicker(o.PingInterval)
	defer ping.Stop()
	pongTimer := time.NewTimer(time.Hour)
	pongTimer.Stop()
	var pingSent time.Time
	var expiry <-chan time.Time
	if !c.deadline.IsZero() {
		t := time.NewTimer(time.Until(c.deadline))
		defer t.Stop()
		expiry = t.C
	}
	for {
		select {
		case f := <-c.queue:
			if f.close {
				c.finish()
				return
			}
			_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := c.ws.WriteMessage(f.typ, f.data); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					c.startClose(closeSlowConsumer, "slow consumer", false)
				} else {
					c.peerClosed()
				}
				c.finish()
				return
			}
			c.framesOut.Add(1)
		case <-c.abortCh:
			c.finish()
			return
		case <-c.readerDone:
			c.peerClosed()
			c.finish()
			return
		case <-ping.C:
			pingSent = time.Now()
			if err := c.ws.WriteControl(websocket.PingMessage, nil, pingSent.Add(writeTimeout)); err != nil {
				c.peerClosed()
				c.finish()
				return
			}
			pongTimer.Reset(o.PingTimeout)
		case <-pongTimer.C:
			if c.lastPong.Load() < pingSent.UnixNano() {
				c.startClose(closeInternal, "keepalive timeout", false)
			}
		case <-expiry:
			c.startClose(closeTokenExpired, "token expired", false)
		}
	}
}

// finish sends the close frame (if Shield decided the close), waits up to
// 1 s for the peer to answer, then closes the TCP connection.
func (c *conn) finish() {
	if c.closeCode != 0 {
		msg := websocket.FormatCloseMessage(c.closeCode, c.closeReason)
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeGracePeriod))
		select {
		case <-c.readerDone:
		case <-time.After(closeGracePeriod):
		}
	}
	_ = c.ws.Close()
}

// readLoop reads frames until the connection ends, running the pipeline
// for each one in arrival order.
func (c *conn) readLoop() {
	defer close(c.readerDone)
	limit := c.g.opts.MaxMessageSize
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				// Not a close handshake: nobody will answer a close frame.
				c.peerClosed()
			}
			return
		}
		if c.closing.Load() {
			continue // frames after the close decision are not processed
		}
		data, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			c.peerClosed()
			return
		}
		if int64(len(data)) > limit {
			c.g.metrics.message(resultTooLarge)
			c.startClose(closeTooBig, "message too big", true)
			continue
		}
		c.framesIn.Add(1)
		c.handleFrame(typ, data)
	}
}

// tokenBucket is the per-connection rate limiter (SHIELD.md §9.3).
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

// take removes one token; when empty it returns the wait until one is
// available.
func (b *tokenBucket) take(now time.Time) (bool, time.Duration) {
	if b.rate <= 0 {
		return true, 0
	}
	b.tokens += now.Sub(b.last).Seconds() * b.rate
	if b.tokens > b.burst {
		b.tokens = b.burst
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}
