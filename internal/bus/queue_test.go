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
		wake, ok := q.push([]byte{byte(i)})
		if !ok {
			t.Fatalf("push %d refused", i)
		}
		if wake != (i == 0) {
			t.Fatalf("push %d: wake=%v, want wake only on empty -> non-empty", i, wake)
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
	if wake, _ := q.push([]byte("x")); !wake {
		t.Fatalf("push after drain must wake the writer")
	}
}

func TestSendQueueBoundsItemsAndBytes(t *testing.T) {
	q := sendQueue{maxItems: 3, maxBytes: 10}
	for i := 0; i < 3; i++ {
		if _, ok := q.push([]byte("a")); !ok {
			t.Fatalf("push %d refused below the item bound", i)
		}
	}
	if _, ok := q.push([]byte("a")); ok {
		t.Fatalf("fourth envelope accepted beyond SEND_QUEUE_SIZE=3")
	}
	q2 := sendQueue{maxItems: 100, maxBytes: 10}
	if _, ok := q2.push(bytes.Repeat([]byte("a"), 8)); !ok {
		t.Fatal("8 bytes refused under a 10-byte bound")
	}
	if _, ok := q2.push([]byte("abc")); ok {
		t.Fatal("push beyond SEND_QUEUE_BYTES accepted")
	}
}

func TestSendQueuePairIsAtomic(t *testing.T) {
	q := sendQueue{maxItems: 2, maxBytes: 100}
	q.push([]byte("x"))
	if _, ok := q.push([]byte("resp"), []byte("ack")); ok {
		t.Fatal("a response pair that does not fit must be refused as a unit")
	}
	if q.len() != 1 {
		t.Fatalf("half of a pair was queued: len=%d", q.len())
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
	if wake, ok := q.push([]byte("b")); wake || !ok {
		t.Fatalf("push on a closed queue: wake=%v ok=%v, want a silent no-op", wake, ok)
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
