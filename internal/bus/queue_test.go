package bus

import (
	"bytes"
	"testing"
)

func TestSendQueueKeepsOrderAndGrows(t *testing.T) {
	q := sendQueue{maxItems: 100, maxBytes: 1 << 20}
	if len(q.buf) != 0 {
		t.Fatalf("a new queue must hold no storage, has %d slots", len(q.buf))
	}
	for i := 0; i < 50; i++ {
		r := q.push([]byte{byte(i)})
		if want := map[bool]pushResult{true: pushedWake, false: pushed}[i == 0]; r != want {
			t.Fatalf("push %d = %v, want %v (wake only on empty -> non-empty)", i, r, want)
		}
	}
	got := q.drain(nil, 1<<20)
	if len(got) != 50 {
		t.Fatalf("drained %d frames, want 50", len(got))
	}
	for i, f := range got {
		if f[0] != byte(i) {
			t.Fatalf("frame %d out of order: %d", i, f[0])
		}
	}
	if q.len() != 0 {
		t.Fatalf("queue not empty after drain")
	}
	if r := q.push([]byte("x")); r != pushedWake {
		t.Fatalf("push after drain = %v, must wake the writer", r)
	}
}

func TestSendQueueBoundsItemsAndBytes(t *testing.T) {
	q := sendQueue{maxItems: 3, maxBytes: 10}
	for i := 0; i < 3; i++ {
		if r := q.push([]byte("a")); r == overflow || r == refused {
			t.Fatalf("push %d refused below the item bound", i)
		}
	}
	if r := q.push([]byte("a")); r != overflow {
		t.Fatalf("fourth envelope beyond SEND_QUEUE_SIZE=3: %v, want overflow", r)
	}
	q2 := sendQueue{maxItems: 100, maxBytes: 10}
	if r := q2.push(bytes.Repeat([]byte("a"), 8)); r != pushedWake {
		t.Fatal("8 bytes refused under a 10-byte bound")
	}
	if r := q2.push([]byte("abc")); r != overflow {
		t.Fatalf("push beyond SEND_QUEUE_BYTES = %v, want overflow", r)
	}
}

// TestRegressionQueueFailsForGoodAfterOverflow pins a fixed bug: after an
// overflow dropped a frame, a later smaller frame could still be queued, so
// a client could receive offset n+1 without n and recover past the gap.
func TestRegressionQueueFailsForGoodAfterOverflow(t *testing.T) {
	q := sendQueue{maxItems: 100, maxBytes: 60}
	q.push(bytes.Repeat([]byte("a"), 20))
	if r := q.push(bytes.Repeat([]byte("b"), 50)); r != overflow {
		t.Fatalf("50 bytes over a 60-byte budget = %v, want overflow", r)
	}
	if r := q.push([]byte("c")); r != refused {
		t.Fatalf("a frame after the dropped one = %v, want refused", r)
	}
}

func TestSendQueueAcceptsOneLargeUnitWhenEmpty(t *testing.T) {
	q := sendQueue{maxItems: 100, maxBytes: 10}
	if r := q.push(bytes.Repeat([]byte("h"), 100)); r != pushedWake {
		t.Fatalf("a large reply into an empty queue = %v, want accepted", r)
	}
	if r := q.push([]byte("x")); r != overflow {
		t.Fatalf("more frames behind an over-budget unit = %v, want overflow", r)
	}
}

func TestSendQueuePairIsAtomic(t *testing.T) {
	q := sendQueue{maxItems: 2, maxBytes: 100}
	q.push([]byte("x"))
	if r := q.push([]byte("resp"), []byte("ack")); r != overflow {
		t.Fatal("a response pair that does not fit must be refused as a unit")
	}
	if q.len() != 1 {
		t.Fatalf("half of a pair was queued: len=%d", q.len())
	}
}

func TestSendQueueFinalFrameIsLast(t *testing.T) {
	q := sendQueue{maxItems: 10, maxBytes: 100}
	q.push([]byte("m1"))
	q.pushFinal([]byte("notice"))
	if r := q.push([]byte("m2")); r != refused {
		t.Fatalf("a delivery after the shutdown notice = %v, want refused", r)
	}
	got := q.drain(nil, 100)
	if len(got) != 2 || string(got[1]) != "notice" {
		t.Fatalf("drained %q, want m1 then the notice", got)
	}
}

func TestSendQueueDrainRespectsByteCap(t *testing.T) {
	q := sendQueue{maxItems: 100, maxBytes: 1 << 20}
	for i := 0; i < 10; i++ {
		q.push(bytes.Repeat([]byte("a"), 100))
	}
	got := q.drain(nil, 350)
	if len(got) != 3 {
		t.Fatalf("drained %d frames under a 350-byte cap, want 3", len(got))
	}
	// A single frame larger than the cap is still taken alone.
	q2 := sendQueue{maxItems: 100, maxBytes: 1 << 20}
	q2.push(bytes.Repeat([]byte("a"), 1000))
	if got := q2.drain(nil, 10); len(got) != 1 {
		t.Fatalf("an oversized frame must be drained alone, got %d", len(got))
	}
}

func TestSendQueueClosedRefusesSilently(t *testing.T) {
	q := sendQueue{maxItems: 10, maxBytes: 100}
	q.push([]byte("a"))
	q.close()
	if r := q.push([]byte("b")); r != refused {
		t.Fatalf("push on a closed queue = %v, want refused", r)
	}
	if q.len() != 0 {
		t.Fatal("closed queue still holds frames")
	}
}

func TestSendQueueSteadyStateDoesNotAllocate(t *testing.T) {
	q := sendQueue{maxItems: 1024, maxBytes: 1 << 20}
	frame := []byte(`{"type":"message"}`)
	dst := make([][]byte, 0, 64)
	for i := 0; i < 8; i++ {
		q.push(frame)
	}
	dst = q.drain(dst[:0], 1<<16)
	allocs := testing.AllocsPerRun(1000, func() {
		for i := 0; i < 8; i++ {
			q.push(frame)
		}
		dst = q.drain(dst[:0], 1<<16)
	})
	if allocs != 0 {
		t.Fatalf("enqueue+drain allocates %.1f times per round; the delivery path must not allocate", allocs)
	}
}
