package protocol

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewIDFormatAndOrder(t *testing.T) {
	prev := ""
	for i := 0; i < 5000; i++ {
		id := NewID()
		if !serverIDRe.MatchString(id) || !ValidID(id) {
			t.Fatalf("bad id %q", id)
		}
		if id <= prev {
			t.Fatalf("not monotonic: %q after %q", id, prev)
		}
		prev = id
	}
}

func TestAppendIDTimeAndMonotonicity(t *testing.T) {
	// The time part encodes the millisecond: 2026-03-01T12:00:00Z.
	ts := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ms := uint64(ts.UnixMilli())
	var want [10]byte
	for k := 9; k >= 0; k-- {
		want[k] = crockford[ms&31]
		ms >>= 5
	}
	// Same millisecond and a clock that goes backwards still yield increasing ids.
	prev := ""
	for i, at := range []time.Time{ts.Add(time.Hour), ts.Add(time.Hour), ts, ts.Add(time.Hour + time.Millisecond)} {
		id := string(AppendID(nil, at))
		if id <= prev {
			t.Fatalf("step %d: %q after %q", i, id, prev)
		}
		prev = id
	}
	// A fresh later millisecond starts with its own time prefix. (Stay close
	// to the real clock: ids issued later in this process stay monotonic.)
	future := time.Now().Add(time.Second)
	id := string(AppendID(nil, future))
	fm := uint64(future.UnixMilli())
	for k := 9; k >= 0; k-- {
		want[k] = crockford[fm&31]
		fm >>= 5
	}
	if !strings.HasPrefix(id, "arq_"+string(want[:])) {
		t.Errorf("id %q does not start with time %s", id, want)
	}
}

func TestNewIDConcurrentUnique(t *testing.T) {
	const workers, each = 4, 2000
	var mu sync.Mutex
	seen := make(map[string]bool, workers*each)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]string, each)
			for i := range local {
				local[i] = NewID()
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				if seen[id] {
					t.Errorf("duplicate id %q", id)
				}
				seen[id] = true
			}
		}()
	}
	wg.Wait()
}

func TestOtherIdentifiers(t *testing.T) {
	clientRe := regexp.MustCompile(`^arq_client_[0-9a-f]{32}$`)
	epochRe := regexp.MustCompile(`^[0-9a-f]{16}$`)
	a, b := NewClientID(), NewClientID()
	if !clientRe.MatchString(a) || a == b {
		t.Errorf("client ids %q %q", a, b)
	}
	if e := NewEpoch(); !epochRe.MatchString(e) {
		t.Errorf("epoch %q", e)
	}
	if h := RandomHex(6); len(h) != 12 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Errorf("RandomHex(6) = %q", h)
	}
	if RandomHex(0) != "" {
		t.Error("RandomHex(0) not empty")
	}
}

// TestRegressionValidID pins an upstream defect (PROTOCOL.md §13.3, "Id
// format"): only arq_<int>_<int>_<6hex> was accepted, so documented ids such
// as arq_msg_001 were rejected, while signed numbers such as arq_-5_+3_ABCDEF
// passed.
func TestRegressionValidID(t *testing.T) {
	for _, s := range []string{
		"arq_1795735985497689027_3_cd88aa", "arq_01JNB8Z6W3K4N5P6Q7R8S9T0V1", "arq_msg_001", "arq_a", "arq_-_",
		"arq_" + strings.Repeat("Z", 124),
	} {
		if !ValidID(s) {
			t.Errorf("ValidID(%q) = false", s)
		}
	}
	for _, s := range []string{
		"msg-1", "ARQ_1", "arq_", "arq_a b", "arq_a+b", "arq_a.b", "arq_-5_+3_ABCDEF", "", "arq", "Arq_1", "arq_é",
		"arq_" + strings.Repeat("Z", 125), " arq_1", "arq_1\n",
	} {
		if ValidID(s) {
			t.Errorf("ValidID(%q) = true", s)
		}
	}
}
