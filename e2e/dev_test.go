package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// devStack is a running `arqonbus dev`.
type devStack struct {
	cmd    *exec.Cmd
	keys   map[string]string
	stderr *lockedWriter
	done   chan error
}

// lockedWriter collects a process's stderr while tests read it.
type lockedWriter struct {
	mu sync.Mutex
	w  bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func cleanEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ARQONBUS_") || strings.HasPrefix(kv, "ARQON_") || strings.HasPrefix(kv, "JWT_") || strings.HasPrefix(kv, "NATS_URL=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// startDev runs `arqonbus dev` on free ports and reads its KEY=value lines
// up to READY (CLI.md §5).
func startDev(t *testing.T) *devStack {
	t.Helper()
	cmd := exec.Command(binPath, "dev", "--server-port", "0", "--http-port", "0", "--telemetry-port", "0",
		"--shield-port", "0", "--shield-metrics-port", "0", "--nats-port", "0")
	cmd.Env = cleanEnviron()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &devStack{cmd: cmd, keys: map[string]string{}, stderr: &lockedWriter{}, done: make(chan error, 1)}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-d.done
		}
	})
	ready := make(chan error, 1)
	kv := regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=(.*)$`)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		seenReady := false
		for sc.Scan() {
			line := sc.Text()
			if seenReady {
				ready <- nil
				t.Errorf("dev printed %q on stdout after READY", line)
				continue
			}
			if line == "READY" {
				seenReady = true
				ready <- nil
				continue
			}
			if m := kv.FindStringSubmatch(line); m != nil {
				d.keys[m[1]] = m[2]
			}
		}
		if !seenReady {
			ready <- io.ErrUnexpectedEOF
		}
		d.done <- cmd.Wait()
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("dev exited before READY; stderr:\n%s", d.stderr.String())
		}
	case <-time.After(startTimeout):
		t.Fatalf("dev not READY within %v; stderr:\n%s", startTimeout, d.stderr.String())
	}
	return d
}

// run executes one CLI subcommand with the given environment additions.
func runCLI(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(cleanEnviron(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// TestDevStackReadmeTour is the README's tour driven through the CLI against
// `arqonbus dev`: tail subscribes, send publishes, tail receives it, history
// returns it, status answers, and SIGINT stops everything cleanly.
func TestDevStackReadmeTour(t *testing.T) {
	d := startDev(t)
	for _, k := range []string{"BUS_WS_URL", "TELEMETRY_WS_URL", "HTTP_URL", "SHIELD_WS_URL", "SHIELD_METRICS_URL",
		"NATS_URL", "JWT_SECRET", "ADMIN_TOKEN", "USER_TOKEN", "OPERATOR_TOKEN", "ADMIN_API_KEY"} {
		if d.keys[k] == "" {
			t.Errorf("dev did not print %s", k)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(d.keys["JWT_SECRET"]) {
		t.Errorf("JWT_SECRET is not 64 lowercase hex characters")
	}
	ws, httpURL := d.keys["BUS_WS_URL"], d.keys["HTTP_URL"]
	auth := "ARQONBUS_AUTH_JWT=" + d.keys["USER_TOKEN"]

	// Terminal 1: tail the channel.
	tail := exec.Command(binPath, "tail", "--ws-url", ws, "--channel", "science:general", "--raw", "--limit", "4", "--timeout", "15s")
	tail.Env = append(cleanEnviron(), auth)
	tailOut, err := tail.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var tailErr bytes.Buffer
	tail.Stderr = &tailErr
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(tailOut)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() map[string]any {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("tail ended early; stderr: %s", tailErr.String())
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("tail --raw printed a non-JSON line %q", l)
			}
			return m
		case <-time.After(15 * time.Second):
			t.Fatalf("tail printed nothing; stderr: %s", tailErr.String())
		}
		return nil
	}
	welcome := next()
	if p, _ := welcome["payload"].(map[string]any); p["welcome"] != "Connected to ArqonBus" || p["tenant_id"] != "dev" {
		t.Fatalf("tail's first frame = %v, want the welcome in tenant dev", welcome)
	}
	// The subscription is in place once the join result has been printed.
	if r := next(); r["type"] != "response" || r["status"] != "success" {
		t.Fatalf("tail's join result = %v", r)
	}

	// Terminal 2: send a message.
	out, errOut, code := runCLI(t, []string{auth}, "send", "--ws-url", ws, "--channel", "science:general", "--payload", `{"content":"hello from the tour"}`)
	if code != 0 || !strings.Contains(out, `"message_response"`) {
		t.Fatalf("send exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// tail joined with join_channel: its response pair comes before the message.
	msg := next()
	for msg["type"] == "response" || msg["type"] == "command_response" {
		msg = next()
	}
	if p, _ := msg["payload"].(map[string]any); msg["type"] != "message" || p["content"] != "hello from the tour" {
		t.Fatalf("tail received %v, want the tour message", msg)
	}
	if err := tail.Wait(); err != nil {
		t.Fatalf("tail --limit 4 did not exit cleanly: %v (%s)", err, tailErr.String())
	}

	// History returns it.
	out, errOut, code = runCLI(t, []string{auth}, "send", "--ws-url", ws, "--command", "history", "--args", `{"room":"science","channel":"general"}`)
	if code != 0 || !strings.Contains(out, "hello from the tour") || !strings.Contains(out, "Retrieved 1 messages") {
		t.Fatalf("history exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// Status over HTTP.
	out, errOut, code = runCLI(t, nil, "status", "--http-url", httpURL)
	var st map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st["service"] != "arqonbus" {
		t.Fatalf("status exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// Ctrl-C stops everything cleanly.
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("dev exited with %v after SIGINT; stderr:\n%s", err, tail2(d.stderr.String()))
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("dev did not exit within 30s of SIGINT")
	}
	if !strings.Contains(d.stderr.String(), "shutdown complete") {
		t.Fatalf("dev stderr lacks 'shutdown complete':\n%s", tail2(d.stderr.String()))
	}
	for _, secret := range []string{d.keys["JWT_SECRET"], d.keys["ADMIN_API_KEY"]} {
		if strings.Contains(d.stderr.String(), secret) {
			t.Fatalf("dev logged a secret on stderr")
		}
	}
}

func tail2(s string) string { return tail(s, 20) }
