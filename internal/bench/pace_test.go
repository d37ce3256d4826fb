package bench

import (
	"testing"
	"time"
)

func TestPlanTimeline(t *testing.T) {
	// 100 msg/s, 1 s warm-up, 2 s window: ticks at 0, 10ms, 20ms, ...
	p := plan{t0: 0, start: int64(time.Second), end: int64(3 * time.Second), interval: float64(time.Second) / 100}
	if got := p.ticksIn(); got != 200 {
		t.Errorf("ticks in window %d, want 200", got)
	}
	if got := p.intended(150); got != int64(1500*time.Millisecond) {
		t.Errorf("tick 150 at %v", time.Duration(got))
	}
	// A phase offset shifts every tick but keeps the count.
	p.offset = float64(5 * time.Millisecond)
	if got, first := p.ticksIn(), p.intended(100); got != 200 || first != int64(1005*time.Millisecond) {
		t.Errorf("offset: %d ticks, tick 100 at %v", got, time.Duration(first))
	}
	// Fractional intervals do not drift: 3 msg/s over 3 s is 9 ticks.
	q := plan{start: 0, end: int64(3 * time.Second), interval: float64(time.Second) / 3}
	if got := q.ticksIn(); got != 9 {
		t.Errorf("fractional: %d ticks, want 9", got)
	}
	if got := q.intended(9); got != int64(3*time.Second) {
		t.Errorf("tick 9 at %v, want exactly 3s", time.Duration(got))
	}
}

func TestWindowMembership(t *testing.T) {
	var w *window
	if w.in(5) {
		t.Error("no window: nothing counts")
	}
	w = &window{start: 10, end: 20}
	for v, want := range map[int64]bool{9: false, 10: true, 19: true, 20: false} {
		if w.in(v) != want {
			t.Errorf("in(%d) = %v", v, !want)
		}
	}
}
