package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// paddedPing returns a ping frame of exactly n bytes.
func paddedPing(t testing.TB, id string, n int) string {
	t.Helper()
	head := `{"type":"ping","id":"` + id + `","payload":{"pad":"`
	tail := `"}}`
	pad := n - len(head) - len(tail)
	if pad < 0 {
		t.Fatalf("frame size %d too small", n)
	}
	return head + strings.Repeat("p", pad) + tail
}

func TestAdversarialSizeLimitConfigured(t *testing.T) {
	t.Parallel()
	s := startServer(t, env{"ARQONBUS_MAX_MESSAGE_SIZE": "1024"})
	c := dial(t, s, dialOpts{})
	c.sendRaw(paddedPing(t, "arq_fits", 1024))
	if p := c.next(); p.str("type") != "pong" || p.str("request_id") != "arq_fits" {
		t.Errorf("1024-byte frame: got %v, want pong", p)
	}
	_ = c.trySendRaw(paddedPing(t, "arq_big", 1025))
	c.expectCloseCode(1009, "message too big")

	// Other clients are unaffected.
	other := dial(t, s, dialOpts{})
	other.send(map[string]any{"type": "ping", "id": "arq_other"})
	if p := other.next(); p.str("request_id") != "arq_other" {
		t.Errorf("other client: %v", p)
	}
	if v := metricValue(t, s, "arqonbus_connection_closes_total", `code="1009"`); v < 1 {
		t.Errorf("arqonbus_connection_closes_total{code=\"1009\"} = %v", v)
	}
}

// TestRegressionSlowConsumer: a subscriber that never reads is cut off with
// 4008 while another subscriber keeps receiving and the sender keeps getting
// acks.
//
// Regression (fixed in e138751 and 0d24aae): the slow consumer's connection
// lingered behind its stuck writer instead of being closed promptly.
func TestRegressionSlowConsumer(t *testing.T) {
	t.Parallel()
	s := startServer(t, env{
		"ARQONBUS_SEND_QUEUE_SIZE":       "16",
		"ARQONBUS_SEND_QUEUE_BYTES":      "65536",
		"ARQONBUS_RATE_LIMIT_PER_SECOND": "0",
		"ARQONBUS_HISTORY_SIZE":          "1",
	})
	room := uniq("slow")
	q := url.Values{"room": {room}, "channel": {"c"}}
	slow := dial(t, s, dialOpts{query: q, noReader: true, readBuffer: 4096})
	fast := dial(t, s, dialOpts{query: q})
	sender := dial(t, s, dialOpts{})

	payload := map[string]any{"blob": strings.Repeat("z", 32*1024)}
	const maxMessages = 1500
	sent := 0
	for sent < maxMessages {
		sent++
		ack := sender.publish(room, "c", payload)
		if ack.num("metadata.offset") != float64(sent) {
			t.Fatalf("ack %d = offset %v", sent, ack["metadata"])
		}
		if f := fast.next(); f.num("metadata.offset") != float64(sent) {
			t.Fatalf("fast subscriber frame %d = offset %v", sent, f["metadata"])
		}
		if sent%25 == 0 && metricValue(t, s, "arqonbus_connection_closes_total", `code="4008"`) >= 1 {
			break
		}
	}
	// Queue overflow must close at once; also allow the 10 s write-timeout
	// path before declaring failure.
	waitStart := time.Now()
	for deadline := waitStart.Add(12 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if metricValue(t, s, "arqonbus_connection_closes_total", `code="4008"`) >= 1 {
			break
		}
	}
	if waited := time.Since(waitStart); waited > time.Second {
		t.Errorf("queue overflow did not close the slow consumer: after %d messages of 32 KiB, 4008 was counted only %v later", sent, waited.Round(100*time.Millisecond))
	}
	if metricValue(t, s, "arqonbus_connection_closes_total", `code="4008"`) < 1 {
		t.Fatalf("slow consumer not closed after %d messages of 32 KiB; /metrics:\n%s", sent, metricLines(t, s, "arqonbus_connection_closes_total", "arqonbus_active_clients"))
	}
	// The sender and the fast subscriber are unaffected.
	for i := 0; i < 5; i++ {
		sent++
		sender.publish(room, "c", map[string]any{"after": i})
		if f := fast.next(); f.num("metadata.offset") != float64(sent) {
			t.Fatalf("fast subscriber after the cut: %v", f)
		}
	}
	// The slow client sees its frames in order, then the close.
	slow.startReader()
	ci, frames := slow.expectClosed(frameWait * 2)
	if ci.code != 0 && (ci.code != 4008 || ci.text != "slow consumer") {
		t.Errorf("slow consumer close = %d %q, want 4008 \"slow consumer\"", ci.code, ci.text)
	}
	if len(frames) == 0 || frames[0].str("payload.welcome") == "" {
		t.Fatalf("slow consumer frames do not start with the welcome")
	}
	for i, f := range frames[1:] {
		if f.num("metadata.offset") != float64(i+1) {
			t.Errorf("slow consumer frame %d has offset %v: live delivery must have no gap before the close", i+1, f["metadata"])
			break
		}
	}
	if ci.code == 0 {
		t.Logf("the close frame could not reach the blocked client (%v); 4008 confirmed by the metric", ci.err)
	}
}

// TestAdversarialRateLimitInvalidFramesAndNoClose: invalid frames consume tokens too,
// and MAX_VIOLATIONS=0 never closes (PROTOCOL.md §3.6).
func TestAdversarialRateLimitInvalidFramesAndNoClose(t *testing.T) {
	t.Parallel()
	s := startServer(t, env{"ARQONBUS_RATE_LIMIT_PER_SECOND": "0.01", "ARQONBUS_RATE_LIMIT_BURST": "2", "ARQONBUS_RATE_LIMIT_MAX_VIOLATIONS": "0"})
	c := dial(t, s, dialOpts{})
	c.sendRaw(`not json`)
	c.sendRaw(`[1]`)
	for i := 0; i < 6; i++ {
		c.sendRaw(fmt.Sprintf(`{"type":"ping","id":"arq_r%d"}`, i))
	}
	if f := c.next(); f.str("error_code") != "INVALID_JSON" {
		t.Errorf("frame 1 = %v, want INVALID_JSON", f)
	}
	c.expectValidation("-", "Envelope must be a JSON object")
	for i := 0; i < 6; i++ {
		c.expectError("RATE_LIMITED", "Rate limit exceeded", "-")
	}
	c.expectNone(quietWait)
	if v := metricValue(t, s, "arqonbus_rate_limited_total", ""); v != 6 {
		t.Errorf("arqonbus_rate_limited_total = %v, want 6", v)
	}
	if v := metricValue(t, s, "arqonbus_errors_total", `code="RATE_LIMITED"`); v != 6 {
		t.Errorf("arqonbus_errors_total{code=\"RATE_LIMITED\"} = %v, want 6", v)
	}
}
