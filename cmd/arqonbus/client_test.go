package main

// Black-box tests of the client commands (CLI.md §7–§10): they build the real
// binary once and run it against a real `arqonbus serve` on free ports.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// cliBin is the arqonbus binary built once by TestMain.
var cliBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "arqonbus-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	cliBin = filepath.Join(dir, "arqonbus")
	if out, err := exec.Command("go", "build", "-o", cliBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: cannot build arqonbus: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	stopSharedServers()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			return 1
		}
	}
	return code
}

// testSecret signs the tokens of the authenticated test server.
const testSecret = "cli-test-secret-0123456789abcdef0123"

// busServer is one running `arqonbus serve`.
type busServer struct {
	cmd             *exec.Cmd
	wsURL, httpURL  string
	exited          chan struct{}
	stderrMu        sync.Mutex
	stderr          bytes.Buffer
	stopOnce        sync.Once
	stderrCollected chan struct{}
}

// startBus starts `arqonbus serve` with vars added to a clean environment
// and waits for its listening lines.
func startBus(vars ...string) (*busServer, error) {
	cmd := exec.Command(cliBin, "serve", "--server-port", "0", "--http-port", "0", "--log-format", "json")
	cmd.Env = append(cleanEnv(), "ARQONBUS_TELEMETRY_ENABLED=false", "ARQONBUS_STORAGE_BACKEND=memory")
	cmd.Env = append(cmd.Env, vars...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &busServer{cmd: cmd, exited: make(chan struct{}), stderrCollected: make(chan struct{})}
	addrs := make(chan [2]string, 4)
	go func() {
		defer close(s.stderrCollected)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			s.stderrMu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.stderrMu.Unlock()
			var rec struct{ Msg, Component, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				addrs <- [2]string{rec.Component, rec.Addr}
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
	}()
	go func() {
		<-s.stderrCollected
		_ = cmd.Wait()
		close(s.exited)
	}()
	deadline := time.After(15 * time.Second)
	for s.wsURL == "" || s.httpURL == "" {
		select {
		case a := <-addrs:
			switch a[0] {
			case "bus":
				s.wsURL = "ws://" + a[1]
			case "http":
				s.httpURL = "http://" + a[1]
			}
		case <-s.exited:
			return nil, fmt.Errorf("serve exited early:\n%s", s.log())
		case <-deadline:
			s.stop()
			return nil, fmt.Errorf("serve did not listen in time:\n%s", s.log())
		}
	}
	return s, nil
}

func (s *busServer) log() string {
	s.stderrMu.Lock()
	defer s.stderrMu.Unlock()
	return s.stderr.String()
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 10 s).
func (s *busServer) stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// cleanEnv is the test's environment without any variable the client
// commands or the server read.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ARQONBUS_") || strings.HasPrefix(kv, "ARQON_") || strings.HasPrefix(kv, "JWT_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

var shared struct {
	mu         sync.Mutex
	open, auth *busServer
}

// openBus is a shared server with authentication off.
func openBus(t *testing.T) *busServer {
	t.Helper()
	return sharedBus(t, &shared.open)
}

// authBus is a shared server with authentication on, signed by testSecret.
func authBus(t *testing.T) *busServer {
	t.Helper()
	return sharedBus(t, &shared.auth, "ARQONBUS_ENABLE_AUTH=true", "ARQONBUS_AUTH_JWT_SECRET="+testSecret)
}

func sharedBus(t *testing.T, slot **busServer, vars ...string) *busServer {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if *slot == nil {
		s, err := startBus(vars...)
		if err != nil {
			t.Fatal(err)
		}
		*slot = s
	}
	return *slot
}

func stopSharedServers() {
	for _, s := range []*busServer{shared.open, shared.auth} {
		if s != nil {
			s.stop()
		}
	}
}

// result is one finished CLI run.
type result struct {
	stdout, stderr string
	code           int
}

// cli runs the binary with env (on top of a clean environment) and args.
func cli(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin, args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{stdout.String(), stderr.String(), code}
}

// wantFailure checks exit code 1, an empty stdout and one stderr line
// starting "arqonbus: " and containing want.
func (r result) wantFailure(t *testing.T, want string) {
	t.Helper()
	r.wantErrorLine(t, exitFailure, want)
}

// wantUsage checks exit code 2, an empty stdout and exactly one stderr line.
func (r result) wantUsage(t *testing.T, want string) {
	t.Helper()
	r.wantErrorLine(t, exitUsage, want)
}

func (r result) wantErrorLine(t *testing.T, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "arqonbus: ") || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr %q, want exactly one line starting 'arqonbus: '", r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q does not contain %q", r.stderr, want)
	}
}

// silentServer accepts TCP connections and never answers: every request to
// it times out. It returns its address.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// closedAddr is an address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestStatusAndVersionPrintSortedIndentedObjects(t *testing.T) {
	s := openBus(t)
	for _, tc := range []struct {
		cmd  string
		keys []string
	}{
		{"status", []string{"status", "service", "version", "timestamp", "uptime_seconds"}},
		{"version", []string{"service", "version", "protocol", "git_commit", "build_date", "go_version", "timestamp"}},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			// The flag beats the environment; a trailing / is ignored.
			r := cli(t, []string{"ARQONBUS_HTTP_URL=http://" + closedAddr(t)}, tc.cmd, "--http-url", s.httpURL+"/")
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			var obj map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &obj); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
			}
			for _, k := range tc.keys {
				if _, ok := obj[k]; !ok {
					t.Errorf("key %q missing from %s", k, r.stdout)
				}
			}
			if obj["service"] != "arqonbus" {
				t.Errorf("service = %v", obj["service"])
			}
			// Two-space indentation, keys sorted, final newline.
			want, _ := json.MarshalIndent(obj, "", "  ")
			if r.stdout != string(want)+"\n" {
				t.Errorf("output is not sorted/indented JSON:\n%s", r.stdout)
			}
			if !strings.HasPrefix(r.stdout, "{\n  \"") {
				t.Errorf("output does not start with a two-space indented key: %q", r.stdout[:10])
			}
		})
	}
	// The environment supplies the default URL.
	r := cli(t, []string{"ARQONBUS_HTTP_URL=  " + s.httpURL + "  "}, "version", "--timeout-seconds", "3")
	if r.code != 0 || !strings.Contains(r.stdout, `"protocol": "1.0"`) {
		t.Errorf("version with ARQONBUS_HTTP_URL: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestStatusErrors(t *testing.T) {
	down := "http://" + closedAddr(t)
	cli(t, nil, "status", "--http-url", down).wantFailure(t, "arqonbus: cannot reach "+down+"/status: ")

	silent := "http://user:hunter2@" + silentServer(t)
	r := cli(t, nil, "status", "--http-url", silent, "--timeout", "300ms")
	r.wantFailure(t, "timed out after 300ms")
	if strings.Contains(r.stderr, "hunter2") || !strings.Contains(r.stderr, "user:***@") {
		t.Errorf("password not redacted: %q", r.stderr)
	}

	// Non-2xx and non-object answers.
	mux := http.NewServeMux()
	mux.HandleFunc("/array/version", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "[1,2]") })
	mux.HandleFunc("/text/status", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	cli(t, nil, "version", "--http-url", base+"/missing").wantFailure(t, "arqonbus: HTTP 404 from "+base+"/missing/version")
	cli(t, nil, "version", "--http-url", base+"/array").wantFailure(t, "arqonbus: invalid JSON object from "+base+"/array/version")
	cli(t, nil, "status", "--http-url", base+"/text").wantFailure(t, "arqonbus: invalid JSON object from ")
}

func TestClientUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown flag", nil, []string{"status", "--bogus"}, "--bogus"},
		{"positional", nil, []string{"version", "extra"}, "unexpected positional argument"},
		{"bad timeout", nil, []string{"status", "--timeout", "soon"}, `--timeout: invalid duration "soon"`},
		{"zero timeout", nil, []string{"version", "--timeout-seconds", "0"}, "--timeout-seconds: must be greater than 0"},
		{"bad http url", nil, []string{"status", "--http-url", "ftp://x"}, "--http-url: invalid URL"},
		{"bad env url", []string{"ARQONBUS_HTTP_URL=not a url"}, []string{"status"}, "--http-url: invalid URL"},
		{"bad ws url", nil, []string{"tail", "--ws-url", "http://h:1"}, "--ws-url: invalid URL (scheme must be ws or wss)"},
		{"room without channel", nil, []string{"tail", "--room", "science"}, "--room needs --channel"},
		{"channel without room", nil, []string{"tail", "--channel", "general"}, "--channel needs --room"},
		{"conflicting room", nil, []string{"tail", "--room", "a", "--channel", "b:c"}, "Conflicting room"},
		{"bad room name", nil, []string{"tail", "--channel", "bad room:x"}, "Invalid room name"},
		{"send not object", nil, []string{"tail", "--send", "[1]"}, "--send: not a JSON object"},
		{"send bad json", nil, []string{"tail", "--send", "{"}, "--send: invalid JSON"},
		{"negative limit", nil, []string{"tail", "--limit", "-1"}, "--limit: invalid count"},
		{"bad header", nil, []string{"tail", "--header", "NoColon"}, `--header: expected "Key:Value"`},
		{"reserved header", nil, []string{"send", "--header", "Upgrade: x", "--command", "ping"}, "Upgrade is set by the WebSocket handshake"},
		{"send neither", nil, []string{"send"}, "nothing to send"},
		{"send both", nil, []string{"send", "--channel", "a:b", "--command", "ping"}, "not both"},
		{"send payload only", nil, []string{"send", "--payload", "{}"}, "--payload needs --room and --channel"},
		{"send args only", nil, []string{"send", "--args", "{}"}, "--command is required"},
		{"send bad payload", nil, []string{"send", "--channel", "a:b", "--payload", "{x}"}, "--payload: invalid JSON"},
		{"send args not object", nil, []string{"send", "--command", "ping", "--args", "3"}, "--args: not a JSON object"},
		{"raw with value", nil, []string{"tail", "--raw=maybe"}, "--raw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, tc.env, tc.args...)
			r.wantUsage(t, tc.want)
			if !strings.Contains(r.stderr, "arqonbus "+tc.args[0]+" --help") {
				t.Errorf("stderr %q does not point to --help", r.stderr)
			}
		})
	}
}

func TestClientHelp(t *testing.T) {
	for cmd, wants := range map[string][]string{
		"token":   {"--sub", "--role", "--tenant", "--ttl", "default 1h", "--alg", "default HS256", "--secret-file"},
		"status":  {"--http-url", "default http://127.0.0.1:8080", "env ARQONBUS_HTTP_URL", "--timeout", "default 5s", "--timeout-seconds"},
		"version": {"--http-url", "env ARQONBUS_HTTP_URL"},
		"tail": {"--ws-url", "default ws://127.0.0.1:9100", "env ARQONBUS_WS_URL", "--token TOKEN, --jwt TOKEN", "env ARQONBUS_AUTH_JWT",
			"--header", "--room", "--channel", "--limit", "--raw", "--send", "--timeout"},
		"send": {"--ws-url", "--token", "--header", "--room", "--channel", "--payload", "--command", "--args", "--timeout"},
	} {
		for _, h := range []string{"--help", "-h", "-help"} {
			// A secret in the environment is never shown by --help.
			r := cli(t, []string{"ARQONBUS_AUTH_JWT=tok-do-not-print"}, cmd, h)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("%s %s: exit %d, stderr %q", cmd, h, r.code, r.stderr)
			}
			for _, w := range wants {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("%s %s: help lacks %q:\n%s", cmd, h, w, r.stdout)
				}
			}
			if strings.Contains(r.stdout, "tok-do-not-print") {
				t.Errorf("%s --help shows the token from the environment", cmd)
			}
		}
	}
	r := cli(t, nil, "--help")
	for _, c := range []string{"token", "status", "version", "tail", "send"} {
		if !strings.Contains(r.stdout, "\n  "+c+" ") {
			t.Errorf("arqonbus --help does not list %s:\n%s", c, r.stdout)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"5s": 5 * time.Second, "500ms": 500 * time.Millisecond, "1m30s": 90 * time.Second,
		"5": 5 * time.Second, "0.5": 500 * time.Millisecond, " 2 ": 2 * time.Second, "0": 0,
	} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1s", "-1", "abc", "5 s", "0x10", "1e400", "NaN", "Inf", "1_0"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseHeader(t *testing.T) {
	k, v, err := parseHeader("x-trace-id:  abc def ")
	if err != nil || k != "X-Trace-Id" || v != "abc def" {
		t.Errorf("got %q %q %v", k, v, err)
	}
	if k, v, err := parseHeader("Authorization: Bearer a:b"); err != nil || k != "Authorization" || v != "Bearer a:b" {
		t.Errorf("got %q %q %v", k, v, err)
	}
	for _, in := range []string{"", ":v", "no colon", "bad name: v", "X: a\nb", "connection: close", "Sec-WebSocket-Key: x"} {
		if _, _, err := parseHeader(in); err == nil {
			t.Errorf("parseHeader(%q) accepted", in)
		} else if strings.Contains(err.Error(), in) && in != "" {
			t.Errorf("parseHeader(%q) error repeats the value: %v", in, err)
		}
	}
}

// FuzzParseDuration: never panics; an accepted value is non-negative and
// round-trips through its Go form.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"5s", "0.5", "1h2m", "-1", "9999999999999", "1e3", "+5", ".5", "5.", "1e-9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("parseDuration(%q) = %v < 0", s, d)
		}
		if back, err := parseDuration(d.String()); err != nil || back != d {
			t.Fatalf("%v does not round-trip: %v, %v", d, back, err)
		}
	})
}

// FuzzParseHeader: never panics; an accepted header is a valid name and a
// value without line breaks, so it cannot inject another header.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"X-A: b", "Authorization:Bearer x", ":", "a:b:c", "Host: h", "X:\r\nY: z", "ünï: v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, v, err := parseHeader(s)
		if err != nil {
			return
		}
		if k == "" || strings.ContainsAny(k, " :\r\n\t") || strings.ContainsAny(v, "\r\n") || reservedHeaders[k] {
			t.Fatalf("parseHeader(%q) accepted %q: %q", s, k, v)
		}
	})
}
