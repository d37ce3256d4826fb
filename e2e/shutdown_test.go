package e2e

import (
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"
)

// expectShutdownSequence checks that the last frame before the close is the
// server_shutdown notice and that the close is 1001.
func expectShutdownSequence(t *testing.T, c *wsClient) {
	t.Helper()
	ci, frames := c.expectClosed(15 * time.Second)
	if len(frames) == 0 {
		t.Errorf("no server_shutdown frame before the close (close %d %q)", ci.code, ci.text)
	} else {
		last := frames[len(frames)-1]
		if last.str("type") != "system" || last.str("sender") != "arqonbus" || !reServerID.MatchString(last.str("id")) ||
			!jsonEq(last["payload"], map[string]any{"event": "server_shutdown", "message": "Server shutting down"}) ||
			!jsonEq(last["args"], map[string]any{}) || !jsonEq(last["metadata"], map[string]any{}) {
			t.Errorf("last frame before close = %v, want the server_shutdown notice", last)
		}
	}
	if ci.code != 1001 || ci.text != "server shutting down" {
		t.Errorf("close = %d %q (%v), want 1001 \"server shutting down\"", ci.code, ci.text, ci.err)
	}
}

func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	t.Parallel()
	s := startServer(t, env{"ARQONBUS_SHUTDOWN_TIMEOUT": "5s"})
	room := uniq("bye")
	a := dial(t, s, dialOpts{query: url.Values{"room": {room}, "channel": {"c"}}})
	b := dial(t, s, dialOpts{query: url.Values{"batch": {"1"}}})
	c := dial(t, s, dialOpts{})
	// Frames queued before the signal come before the notice.
	c.publish(room, "c", map[string]any{"last": true})
	if f := a.next(); !jsonEq(f["payload"], map[string]any{"last": true}) {
		t.Fatalf("delivery = %v", f)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*wsClient{a, b, c} {
		expectShutdownSequence(t, cl)
	}
	if code := s.waitExit(15 * time.Second); code != 0 {
		t.Errorf("exit status = %d, want 0", code)
	}
	if !s.hasLogMsg("shutdown complete") {
		t.Errorf("log has no `shutdown complete` line:\n%s", tail(s.logText(), 20))
	}
}

func TestAdminShutdown(t *testing.T) {
	t.Parallel()
	s := startServer(t, env{"ARQONBUS_ADMIN_API_KEY": adminAPIKey, "ARQONBUS_SHUTDOWN_TIMEOUT": "5s"})
	a := dial(t, s, dialOpts{})
	status, f := httpJSON(t, s, "POST", "/admin/shutdown", nil, "")
	if status != 401 {
		t.Errorf("/admin/shutdown without key = %d %v", status, f)
	}
	status, f = httpJSON(t, s, "POST", "/admin/shutdown", http.Header{"X-Api-Key": {adminAPIKey}}, "")
	if status != 200 || !jsonEq(f, map[string]any{"status": "shutdown_initiated", "message": "Server shutdown initiated"}) {
		t.Errorf("/admin/shutdown = %d %v", status, f)
	}
	expectShutdownSequence(t, a)
	if code := s.waitExit(15 * time.Second); code != 0 {
		t.Errorf("exit status = %d, want 0", code)
	}
	if !s.hasLogMsg("shutdown complete") {
		t.Errorf("log has no `shutdown complete` line")
	}
}
