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

// pushResult says what happened to a push.
type pushResult int

const (
	pushed     pushResult = iota
	pushedWake            // the queue went from empty to non-empty: wake the writer
	overflow              // the frames did not fit: the connection is a slow consumer
	refused               // the queue is closed or sealed: dropped silently
)

// push appends frames as one unit (a command's response pair must be
// contiguous, PROTOCOL.md §5.8). A unit larger than the byte budget is
// accepted when the queue is empty (a large history reply), so one big
// answer never costs the client its connection. An overflow fails the
// queue for good: nothing queued after a dropped frame may ever be sent,
// or a client could skip an offset without noticing (§5.8 rule 7).
func (q *sendQueue) push(frames ...[]byte) pushResult {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pushLocked(frames)
}

func (q *sendQueue) pushLocked(frames [][]byte) pushResult {
	if q.closed {
		return refused
	}
	size := 0
	for _, f := range frames {
		size += len(f)
	}
	if q.n+len(frames) > q.maxItems || (q.bytes+size > q.maxBytes && q.n > 0) {
		q.closed = true
		return overflow
	}
	wake := q.n == 0
	for _, f := range frames {
		if q.n == len(q.buf) {
			q.grow()
		}
		q.buf[(q.head+q.n)%len(q.buf)] = f
		q.n++
	}
	q.bytes += size
	if wake {
		return pushedWake
	}
	return pushed
}

// pushFinal appends the last frame the connection will ever get (the
// shutdown notice) and seals the queue in the same critical section, so no
// delivery can slip in behind it.
func (q *sendQueue) pushFinal(frame []byte) pushResult {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.pushLocked([][]byte{frame})
	q.closed = true
	return r
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

// close discards queued frames and refuses later pushes. A sealed queue
// (pushFinal) keeps its frames until the writer has drained them.
func (q *sendQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.buf = nil
	q.n = 0
	q.bytes = 0
	q.mu.Unlock()
}
