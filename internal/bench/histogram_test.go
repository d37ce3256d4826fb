package bench

import (
	"math"
	"sync"
	"testing"
	"time"
)

func TestHistogramBucketsBoundRelativeError(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 123456789, 1 << 40, maxValue} {
		i := bucketOf(v)
		hi := bucketHigh(i)
		if hi < v {
			t.Errorf("v=%d: bucket %d high %d is below the value", v, i, hi)
		}
		if i > 0 && bucketHigh(i-1) >= v {
			t.Errorf("v=%d: previous bucket %d already covers it", v, i-1)
		}
		if v < subCount && hi != v {
			t.Errorf("v=%d: small values must be exact, got %d", v, hi)
		}
		if v > 0 && float64(hi-v)/float64(v) > 1.0/subCount {
			t.Errorf("v=%d: bucket high %d is more than 1/%d above", v, hi, subCount)
		}
	}
	if bucketOf(math.MaxInt64) != numBuckets-1 {
		t.Errorf("huge values must clamp into the last bucket, got %d of %d", bucketOf(math.MaxInt64), numBuckets)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Count() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	// 1..10000 µs, once each.
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 5000 * time.Microsecond},
		{0.9, 9000 * time.Microsecond},
		{0.99, 9900 * time.Microsecond},
		{0.999, 9990 * time.Microsecond},
		{1, 10000 * time.Microsecond},
		{0, time.Microsecond},
	} {
		got := h.Quantile(tc.q)
		if got < tc.want || float64(got-tc.want) > float64(tc.want)/subCount {
			t.Errorf("q=%v: %v, want %v within +1/%d", tc.q, got, tc.want, subCount)
		}
	}
	if h.Max() != 10*time.Millisecond || h.Count() != 10000 {
		t.Errorf("max %v count %d", h.Max(), h.Count())
	}
}

func TestHistogramTailAndMerge(t *testing.T) {
	// 990 fast observations and 10 slow ones: p99 is fast, p99.9 is slow.
	var a, b Histogram
	for range 990 {
		a.Record(time.Millisecond)
	}
	for range 10 {
		b.Record(2 * time.Second)
	}
	a.Merge(&b)
	if a.Count() != 1000 || a.Max() != 2*time.Second {
		t.Fatalf("count %d max %v", a.Count(), a.Max())
	}
	if p := a.Quantile(0.99); p < time.Millisecond || p > time.Millisecond+time.Millisecond/subCount {
		t.Errorf("p99 %v, want 1ms", p)
	}
	if p := a.Quantile(0.999); p != 2*time.Second {
		t.Errorf("p99.9 %v, want 2s (capped by the exact max)", p)
	}
	// Negative durations (clock oddities) count as zero.
	var c Histogram
	c.Record(-time.Second)
	if c.Quantile(1) != 0 || c.Count() != 1 {
		t.Errorf("negative: %v %d", c.Quantile(1), c.Count())
	}
}

func TestHistogramConcurrentRecord(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	if h.Count() != 4000 || h.Max() != 3999*time.Microsecond {
		t.Errorf("count %d max %v", h.Count(), h.Max())
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i&0xfffff) * time.Microsecond)
	}
}
