package bus

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// coalescingConn lets the connection's writer put several WebSocket frames
// into one system call (PERFORMANCE-NOTES.md §3): while the writer holds it,
// writes are appended to a buffer, and flush sends them with one write.
// Outside a hold, writes go straight to the socket.
//
// Writes reach this type already serialised frame by frame by the WebSocket
// library (its write lock covers each whole frame), and net.Conn writes are
// atomic with respect to each other, so a control frame written from another
// goroutine (a pong, a ping, a close) lands between complete frames.
type coalescingConn struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	buf     []byte
}

var coalesceBufs = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.holding {
		c.buf = append(c.buf, p...)
		c.mu.Unlock()
		return len(p), nil
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// SetWriteDeadline is skipped while holding: nothing reaches the socket
// until flush, which sets the deadline for the one real write.
func (c *coalescingConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	holding := c.holding
	c.mu.Unlock()
	if holding {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

// hold starts buffering writes.
func (c *coalescingConn) hold() {
	c.mu.Lock()
	c.holding = true
	if c.buf == nil {
		c.buf = (*coalesceBufs.Get().(*[]byte))[:0]
	}
	c.mu.Unlock()
}

// flush stops buffering and writes what was buffered in one call, bounded by
// the write deadline.
func (c *coalescingConn) flush(deadline time.Time) error {
	c.mu.Lock()
	c.holding = false
	buf := c.buf
	c.buf = nil
	c.mu.Unlock()
	if len(buf) == 0 {
		c.release(buf)
		return nil
	}
	if err := c.Conn.SetWriteDeadline(deadline); err != nil {
		c.release(buf)
		return err
	}
	_, err := c.Conn.Write(buf)
	c.release(buf)
	return err
}

func (c *coalescingConn) release(buf []byte) {
	if buf == nil || cap(buf) > 256<<10 {
		return
	}
	buf = buf[:0]
	coalesceBufs.Put(&buf)
}

// hijacker wraps the ResponseWriter so that the upgraded connection is a
// coalescingConn.
type hijacker struct {
	http.ResponseWriter
	conn *coalescingConn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, rw, err := h.ResponseWriter.(http.Hijacker).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &coalescingConn{Conn: nc}
	return h.conn, rw, nil
}
