package bus

import (
	"net"
	"testing"
	"time"
)

// countingConn records each Write call; it stands in for a socket so the
// test can count system calls.
type countingConn struct {
	net.Conn
	writes [][]byte
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}
func (c *countingConn) SetWriteDeadline(time.Time) error { return nil }

func TestCoalescingConnSendsHeldFramesInOneWrite(t *testing.T) {
	raw := &countingConn{}
	c := &coalescingConn{Conn: raw}
	c.hold()
	for _, f := range []string{"frame1", "frame2", "frame3"} {
		if _, err := c.Write([]byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	if len(raw.writes) != 0 {
		t.Fatalf("%d writes reached the socket while held", len(raw.writes))
	}
	if err := c.flush(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if len(raw.writes) != 1 || string(raw.writes[0]) != "frame1frame2frame3" {
		t.Fatalf("flush wrote %q, want one write of the three frames in order", raw.writes)
	}
	if _, err := c.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if len(raw.writes) != 2 || string(raw.writes[1]) != "pong" {
		t.Fatalf("a write outside a hold must go straight to the socket, got %q", raw.writes)
	}
}
