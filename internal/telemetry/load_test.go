package telemetry

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/bus"
)

// TestTenThousandEventsWithSlowAndFastClients is the test of OPERATIONS.md
// §7.5: 10,000 events with 50 slow and 50 fast telemetry clients, while the
// bus emits its own events concurrently. Every call returns, every event is
// acknowledged, the fast clients receive everything in order, and each slow
// client receives an in-order prefix followed by close 4008.
func TestTenThousandEventsWithSlowAndFastClients(t *testing.T) {
	const (
		events  = 10000
		fastN   = 50
		slowN   = 50
		burst   = 100
		busEvts = 2000
	)
	st := newStack(t, stackConfig{tel: func(o *Options) {
		o.SendQueueSize = 256
		o.MaxConnections = fastN + slowN + 1
	}})

	var wg sync.WaitGroup
	fail := make(chan string, fastN+slowN+2)

	// Fast clients read everything as it comes; they only want the load.
	fastGot := make([]atomic.Int64, fastN)
	for i := 0; i < fastN; i++ {
		c := st.dial(t)
		defer c.Close()
		send(t, c, `{"type":"subscribe","events":["load"]}`)
		readJSON(t, c)
		wg.Add(1)
		go func(i int, c *websocket.Conn) {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
			for n := 0; n < events; n++ {
				_, data, err := c.ReadMessage()
				if err != nil {
					fail <- "fast client " + strconv.Itoa(i) + ": " + err.Error()
					return
				}
				if s := jsonSeq(data); s != n {
					fail <- "fast client " + strconv.Itoa(i) + " got seq " + strconv.Itoa(s) + ", want " + strconv.Itoa(n)
					return
				}
				fastGot[i].Store(int64(n + 1))
			}
		}(i, c)
	}

	// Slow clients take 5 ms per frame while the load runs, and want every
	// event, bus events included.
	var loadDone atomic.Bool
	for i := 0; i < slowN; i++ {
		c := st.dial(t)
		defer c.Close()
		st.shrinkBuffers(t, c, 4096)
		wg.Add(1)
		go func(i int, c *websocket.Conn) {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
			next := 0
			for {
				_, data, err := c.ReadMessage()
				var ce *websocket.CloseError
				switch {
				case errors.As(err, &ce) && ce.Code == 4008 && ce.Text == "slow consumer":
					if next >= events {
						fail <- "slow client " + strconv.Itoa(i) + " received every event before its 4008"
					}
					return
				case err != nil:
					fail <- "slow client " + strconv.Itoa(i) + " ended with " + err.Error() + ", want close 4008"
					return
				}
				if s := jsonSeq(data); s >= 0 {
					if s != next {
						fail <- "slow client " + strconv.Itoa(i) + " got seq " + strconv.Itoa(s) + ", want " + strconv.Itoa(next)
						return
					}
					next++
				}
				if !loadDone.Load() {
					time.Sleep(5 * time.Millisecond)
				}
			}
		}(i, c)
	}

	sender := st.dial(t)
	defer sender.Close()
	send(t, sender, `{"type":"subscribe","events":["load"]}`) // acks only: its own events never come back
	readJSON(t, sender)
	var acks atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = sender.SetReadDeadline(time.Now().Add(60 * time.Second))
		for acks.Load() < events {
			_, data, err := sender.ReadMessage()
			if err != nil {
				fail <- "sender: " + err.Error()
				return
			}
			if string(data[:len(`{"type":"ack"`)]) != `{"type":"ack"` {
				fail <- "sender got " + string(data)
				return
			}
			acks.Add(1)
		}
	}()

	// The bus's own events arrive concurrently through OnEvent.
	var busDone sync.WaitGroup
	busDone.Add(1)
	go func() {
		defer busDone.Done()
		for i := 0; i < busEvts; i++ {
			st.tel.OnEvent(bus.Event{Type: "message_routed", Data: map[string]any{"messages": i}, Time: time.Now()})
		}
	}()

	failed := func() bool {
		select {
		case msg := <-fail:
			t.Error(msg)
			return true
		default:
			return false
		}
	}
	// Bursts keep the fast clients within their queue: a fast client is one
	// that keeps up, whatever the machine's speed.
	deadline := time.Now().Add(60 * time.Second)
	for sent := 0; sent < events; {
		for end := sent + burst; sent < end; sent++ {
			if err := sender.WriteMessage(websocket.TextMessage, []byte(`{"event_type":"load","payload":{"seq":`+strconv.Itoa(sent)+`}}`)); err != nil {
				t.Fatalf("send %d: %v", sent, err)
			}
		}
		for !caughtUp(&acks, fastGot, int64(sent)) {
			if failed() || time.Now().After(deadline) {
				t.Fatalf("stalled at %d events: %d acks", sent, acks.Load())
			}
			time.Sleep(time.Millisecond)
		}
	}
	busDone.Wait()
	loadDone.Store(true)
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(60 * time.Second):
		t.Fatal("clients did not finish")
	}
	for failed() {
	}
	if got := value(st.metrics.TelemetryEvents.WithLabelValues("accepted")); got != events {
		t.Fatalf("accepted = %v, want %d", got, events)
	}
}

func caughtUp(acks *atomic.Int64, fast []atomic.Int64, n int64) bool {
	if acks.Load() < n {
		return false
	}
	for i := range fast {
		if fast[i].Load() < n {
			return false
		}
	}
	return true
}
