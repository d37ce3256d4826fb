package bus

import "sync"

// sendQueue is a connection's bounded FIFO of encoded envelopes. It starts
// empty and grows by doubling, so an idle connection holds no queue storage
// (OPERATIONS.md §4.2 ARQONBUS_SEND_QUEUE_BYTES), and it is bounded both in
// envelopes and in bytes. Frames are shared, immutable byte slices: a
// broadcast is encoded once and the same slice is queued to every subscriber.
type sendQueue struct {
	mu       sync.Mutex
	buf      [][]byte // ring storage
	head     int
	n        int
	bytes    int
	maxItems int
	maxBytes int
	closed   bool
}

// push appends frames as one unit (a command's response pair must be
// contiguous, PROTOCOL.md §5.8). It reports whether the queue went from empty
// to non-empty (the writer must be woken) and false in ok when the frames do
// not fit (the caller closes the connection as a slow consumer).
func (q *sendQueue) push(frames ...[]byte) (wake, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, true
	}
	size := 0
	for _, f := range frames {
		size += len(f)
	}
	if q.n+len(frames) > q.maxItems || q.bytes+size > q.maxBytes {
		return false, false
	}
	wake = q.n == 0
	for _, f := range frames {
		if q.n == len(q.buf) {
			q.grow()
		}
		q.buf[(q.head+q.n)%len(q.buf)] = f
		q.n++
	}
	q.bytes += size
	return wake, true
}

func (q *sendQueue) grow() {
	size := len(q.buf) * 2
	if size == 0 {
		size = 4
	}
	nb := make([][]byte, size)
	for i := 0; i < q.n; i++ {
		nb[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf = nb
	q.head = 0
}

// drain moves queued frames into dst, stopping before maxBytes would be
// exceeded (at least one frame is always taken). It releases the ring storage
// once the queue is empty so that idle connections stay small.
func (q *sendQueue) drain(dst [][]byte, maxBytes int) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	total := 0
	for q.n > 0 {
		f := q.buf[q.head]
		if len(dst) > 0 && total+len(f)+1 > maxBytes {
			break
		}
		dst = append(dst, f)
		total += len(f) + 1
		q.buf[q.head] = nil
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		q.bytes -= len(f)
	}
	if q.n == 0 {
		q.head = 0
		if len(q.buf) > 64 {
			q.buf = nil
		}
	}
	return dst
}

func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// close discards queued frames and refuses later pushes.
func (q *sendQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.buf = nil
	q.n = 0
	q.bytes = 0
	q.mu.Unlock()
}
