package telemetry

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Close codes and reasons (PROTOCOL.md §3.8, OPERATIONS.md §7.1).
const (
	closeGoingAway    = websocket.CloseGoingAway     // 1001
	closeTooBig       = websocket.CloseMessageTooBig // 1009
	closeInternal     = websocket.CloseInternalServerErr
	closeTryLater     = websocket.CloseTryAgainLater // 1013
	closeSlowConsumer = 4008

	reasonGoingAway    = "server shutting down"
	reasonTooBig       = "message too big"
	reasonKeepalive    = "keepalive timeout"
	reasonLimit        = "Connection limit reached"
	reasonSlowConsumer = "slow consumer"

	// writeTimeout bounds one socket write (OPERATIONS.md §4.2: a write
	// taking longer than 10 s is a slow consumer).
	writeTimeout = 10 * time.Second
	// closeLinger bounds the wait for the peer's close frame once ours has
	// been sent.
	closeLinger = 2 * time.Second
	// spareCap is the largest drained batch slice kept for reuse, so an idle
	// connection holds no large queue storage.
	spareCap = 64
)

// filter is a client's event filter; nil admits every event.
type filter map[string]struct{}

// client is one telemetry WebSocket connection. Its frames go through a
// bounded FIFO written by a writer goroutine that exists only while frames
// are pending; no lock is held during a socket write.
type client struct {
	srv    *Server
	conn   *websocket.Conn
	remote string
	filter atomic.Pointer[filter]

	mu        sync.Mutex
	pending   [][]byte // queued, not yet taken by the writer
	spare     [][]byte
	n         int // frames queued or being written
	bytes     int // bytes queued or being written
	writing   bool
	closed    bool // no more frames are accepted
	drainCode int  // close code to send once the queue is flushed (shutdown)

	closing  atomic.Bool
	sentCode atomic.Int32 // close code we sent, 0 if the peer closed

	// Keepalive state, owned by the timer callback.
	timer        *time.Timer
	awaitingPong bool
	pingSentAt   atomic.Int64
	lastPong     atomic.Int64
}

func (c *client) admits(eventType string) bool {
	f := c.filter.Load()
	if f == nil {
		return true
	}
	_, ok := (*f)[eventType]
	return ok
}

func (c *client) setFilter(events []string) {
	if len(events) == 0 {
		c.filter.Store(nil)
		return
	}
	f := make(filter, len(events))
	for _, e := range events {
		f[e] = struct{}{}
	}
	c.filter.Store(&f)
}

// enqueue queues one frame without blocking. A client whose queue is full is
// closed with 4008 and the frame is dropped for it.
func (c *client) enqueue(frame []byte) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	o := &c.srv.opts
	if c.n+1 > o.SendQueueSize || c.bytes+len(frame) > o.SendQueueBytes {
		c.closed = true
		c.pending = nil
		c.mu.Unlock()
		c.srv.goTracked(func() { c.closeWith(closeSlowConsumer, reasonSlowConsumer) })
		return false
	}
	c.pending = append(c.pending, frame)
	c.n++
	c.bytes += len(frame)
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		c.srv.goTracked(c.writeLoop)
	}
	return true
}

// kick starts the writer if frames are pending and none is running.
func (c *client) kick() {
	c.mu.Lock()
	start := !c.writing && len(c.pending) > 0
	if start {
		c.writing = true
	}
	c.mu.Unlock()
	if start {
		c.srv.goTracked(c.writeLoop)
	}
}

// closeAfterFlush stops accepting frames and closes with code once every
// queued frame has been written (graceful shutdown, OPERATIONS.md §10.2).
func (c *client) closeAfterFlush(code int) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.drainCode = code
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		c.srv.goTracked(c.writeLoop)
	}
}

// writeLoop writes queued frames until the queue is empty, then exits.
func (c *client) writeLoop() {
	for {
		c.mu.Lock()
		batch := c.pending
		if len(batch) == 0 || c.closing.Load() {
			c.writing = false
			code := c.drainCode
			c.pending = nil
			c.mu.Unlock()
			if code != 0 && !c.closing.Load() {
				c.closeWith(code, reasonGoingAway)
			}
			return
		}
		c.pending = c.spare[:0]
		c.spare = nil
		c.mu.Unlock()

		size := 0
		for _, f := range batch {
			if c.closing.Load() {
				break
			}
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := c.conn.WriteMessage(websocket.TextMessage, f); err != nil {
				c.mu.Lock()
				c.writing = false
				c.mu.Unlock()
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					c.closeWith(closeSlowConsumer, reasonSlowConsumer)
				} else {
					c.dropConn()
				}
				return
			}
			size += len(f)
		}
		clear(batch)
		c.mu.Lock()
		c.n -= len(batch)
		c.bytes -= size
		if cap(batch) <= spareCap {
			c.spare = batch[:0]
		}
		c.mu.Unlock()
	}
}

// closeWith sends a close frame with code and reason, half-closes the TCP
// connection and lets the read loop wait (bounded) for the peer's close
// reply; the read loop then releases the connection. Safe to call many times
// and from any goroutine; it may block up to the write timeout behind a
// write in progress, so callers that must not block run it on a goroutine.
func (c *client) closeWith(code int, reason string) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.sentCode.Store(int32(code))
	c.mu.Lock()
	c.closed = true
	c.pending = nil
	c.mu.Unlock()
	deadline := time.Now().Add(time.Second)
	if code == closeSlowConsumer {
		// Behind the write in progress, so that a client that is merely
		// slow still reads the 4008 in order.
		deadline = time.Now().Add(writeTimeout)
	}
	if err := c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline); err != nil {
		c.dropConn()
		return
	}
	halfClose(c.conn.NetConn())
	_ = c.conn.SetReadDeadline(time.Now().Add(closeLinger))
}

// dropConn closes the TCP connection at once; the read loop ends.
func (c *client) dropConn() {
	c.closing.Store(true)
	_ = c.conn.NetConn().Close()
}

func halfClose(nc net.Conn) {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = nc.Close()
}

// readLoop handles the connection's frames in arrival order and cleans up
// when the connection ends.
func (c *client) readLoop() {
	defer c.cleanup()
	limit := int64(c.srv.opts.MaxEventSize)
	buf := make([]byte, 0, 512)
	for {
		_, r, err := c.conn.NextReader()
		if err != nil {
			return
		}
		buf, err = readLimited(buf[:0], r, limit)
		if errors.Is(err, errTooBig) {
			c.closeWith(closeTooBig, reasonTooBig)
			continue // drain until the peer's close reply or the linger deadline
		}
		if err != nil {
			return
		}
		if c.closing.Load() || c.srv.shutting.Load() {
			continue // frames received after the close or shutdown are discarded
		}
		c.srv.handleFrame(c, buf)
		if cap(buf) > 64<<10 {
			buf = make([]byte, 0, 512)
		}
	}
}

var errTooBig = errors.New("telemetry frame exceeds the size limit")

// readLimited appends the rest of r to dst, failing with errTooBig as soon as
// more than limit bytes arrive.
func readLimited(dst []byte, r io.Reader, limit int64) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if int64(len(dst)) > limit {
			return dst, errTooBig
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// cleanup runs once when the read loop ends.
func (c *client) cleanup() {
	c.closing.Store(true)
	if c.timer != nil {
		c.timer.Stop()
	}
	_ = c.conn.NetConn().Close()
	c.mu.Lock()
	c.closed = true
	c.pending = nil
	c.spare = nil
	c.mu.Unlock()
	s := c.srv
	s.unregister(c)
	code := "peer"
	if sent := c.sentCode.Load(); sent != 0 {
		code = strconv.Itoa(int(sent))
	}
	s.metrics.ConnectionCloses.WithLabelValues(code).Inc()
	s.log.Debug("telemetry client disconnected", "remote_addr", c.remote, "close_code", code)
}

// startKeepalive arms the ping timer (OPERATIONS.md §7.1: the bus's
// heartbeat settings). One AfterFunc timer alternates between sending a ping
// and checking that a pong arrived in time.
func (c *client) startKeepalive() {
	c.lastPong.Store(time.Now().UnixNano())
	c.conn.SetPongHandler(func(string) error {
		c.lastPong.Store(time.Now().UnixNano())
		return nil
	})
	c.timer = time.AfterFunc(c.srv.opts.PingInterval, c.keepalive)
}

func (c *client) keepalive() {
	if c.closing.Load() {
		return
	}
	o := &c.srv.opts
	if c.awaitingPong {
		c.awaitingPong = false
		if c.lastPong.Load() < c.pingSentAt.Load() {
			c.closeWith(closeInternal, reasonKeepalive)
			return
		}
		c.timer.Reset(max(o.PingInterval-o.PingTimeout, 0))
		return
	}
	now := time.Now()
	c.pingSentAt.Store(now.UnixNano())
	if err := c.conn.WriteControl(websocket.PingMessage, nil, now.Add(o.PingTimeout)); err != nil {
		// A write stuck behind a full socket is the write timeout's business
		// (4008); a dead socket ends the read loop. Try again later.
		c.timer.Reset(o.PingInterval)
		return
	}
	c.awaitingPong = true
	c.timer.Reset(o.PingTimeout)
}
