// Package e2e is the black-box end-to-end suite for `arqonbus serve`: it
// builds the real binary once, starts it on free ports and talks to it over
// real sockets only (PROTOCOL.md, OPERATIONS.md §6, §9, §10).
package e2e

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// binPath is the arqonbus binary built once by TestMain.
var binPath string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "arqonbus-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "arqonbus")
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		// Fuzzing exercises only the harness's parsers; no server is needed.
		binPath = filepath.Join(dir, "not-built")
		return m.Run()
	}
	if err := buildBinary(binPath); err != nil {
		// The suite must fail, not skip, while the binary does not build.
		fmt.Fprintln(os.Stderr, "e2e: FAIL: cannot build the arqonbus binary:", err)
		return 1
	}
	code := m.Run()
	stopSharedServers()
	httpClient.CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: goroutine leak in the test harness:", err)
			return 1
		}
	}
	return code
}

// buildBinary runs `go build -o out ./cmd/arqonbus` in the module root.
func buildBinary(out string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.Command("go", "build", "-o", out, "./cmd/arqonbus")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w\n%s", err, b)
	}
	return nil
}

// env is a server configuration: ARQONBUS_* variables added to a clean
// environment.
type env map[string]string

// server is one running `arqonbus serve` process.
type server struct {
	cmd      *exec.Cmd
	busAddr  string // host:port of the bus WebSocket listener
	httpAddr string // host:port of the HTTP ops API
	env      env

	mu    sync.Mutex
	lines []string // every stderr line so far

	stderrDone chan struct{}
	exited     chan struct{}
	exitCode   int

	stopOnce sync.Once
}

const startTimeout = 20 * time.Second

// baseEnv is applied to every server before the test's own variables.
var baseEnv = env{
	"ARQONBUS_TELEMETRY_ENABLED": "false",
	"ARQONBUS_STORAGE_BACKEND":   "memory",
}

// launch starts a server and waits for both `listening` lines.
func launch(vars env) (*server, error) {
	environ := make([]string, 0, len(os.Environ())+len(vars)+len(baseEnv))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ARQONBUS_") {
			environ = append(environ, kv)
		}
	}
	merged := env{}
	for k, v := range baseEnv {
		merged[k] = v
	}
	for k, v := range vars {
		merged[k] = v
	}
	for k, v := range merged {
		environ = append(environ, k+"="+v)
	}
	cmd := exec.Command(binPath, "serve", "--server-port", "0", "--http-port", "0", "--log-format", "json")
	cmd.Env = environ
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, env: merged, stderrDone: make(chan struct{}), exited: make(chan struct{})}
	addrs := make(chan [2]string, 4)
	go s.drain(stderr, addrs)
	go func() {
		<-s.stderrDone
		err := cmd.Wait()
		s.exitCode = cmd.ProcessState.ExitCode()
		_ = err
		close(s.exited)
	}()

	deadline := time.After(startTimeout)
	for s.busAddr == "" || s.httpAddr == "" {
		select {
		case a := <-addrs:
			switch a[0] {
			case "bus":
				s.busAddr = a[1]
			case "http":
				s.httpAddr = a[1]
			}
		case <-s.exited:
			return nil, fmt.Errorf("server exited with status %d before listening; stderr:\n%s", s.exitCode, s.logText())
		case <-deadline:
			s.kill()
			return nil, fmt.Errorf("no listening lines within %v; stderr:\n%s", startTimeout, s.logText())
		}
	}
	return s, nil
}

// drain reads stderr until EOF, keeping every line and reporting the
// addresses of the `listening` lines.
func (s *server) drain(r io.Reader, addrs chan<- [2]string) {
	defer close(s.stderrDone)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		s.lines = append(s.lines, line)
		s.mu.Unlock()
		var rec struct {
			Msg       string `json:"msg"`
			Component string `json:"component"`
			Addr      string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" && rec.Addr != "" {
			select {
			case addrs <- [2]string{rec.Component, rec.Addr}:
			default:
			}
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// logText returns the stderr collected so far.
func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// hasLogMsg reports whether a JSON log line with this msg was written.
func (s *server) hasLogMsg(msg string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, line := range s.lines {
		var rec struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			return true
		}
	}
	return false
}

func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// signalStop sends SIGTERM and waits for the process to exit. It returns
// the exit status, or -1 if the process had to be killed after the wait.
func (s *server) signalStop(wait time.Duration) int {
	code := -1
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
			code = s.exitCode
		case <-time.After(wait):
			s.kill()
		}
	})
	if code == -1 {
		select {
		case <-s.exited:
			if s.exitCode >= 0 {
				code = s.exitCode
			}
		default:
		}
	}
	return code
}

// waitExit waits for the process to exit on its own and returns its status,
// or -1 after the timeout (the process is then killed).
func (s *server) waitExit(d time.Duration) int {
	select {
	case <-s.exited:
		return s.exitCode
	case <-time.After(d):
		s.stopOnce.Do(s.kill)
		return -1
	}
}

// startServer starts a dedicated server for one test and stops it when the
// test ends. On failure the server's stderr is attached to the test log.
func startServer(t testing.TB, vars env) *server {
	t.Helper()
	s, err := launch(vars)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		s.signalStop(15 * time.Second)
		if t.Failed() {
			t.Logf("server stderr (%v):\n%s", vars, tail(s.logText(), 60))
		}
	})
	return s
}

// tail returns the last n lines of text.
func tail(text string, n int) string {
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Shared servers: one per configuration whose state tests do not disturb
// (each test uses its own rooms or tenants there).
var (
	sharedMu      sync.Mutex
	sharedServers = map[string]*server{}
)

// shared returns the shared server named name, starting it on first use.
func shared(t testing.TB, name string, vars env) *server {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if s, ok := sharedServers[name]; ok {
		select {
		case <-s.exited:
			t.Fatalf("shared server %q has exited; stderr:\n%s", name, tail(s.logText(), 60))
		default:
		}
		return s
	}
	s, err := launch(vars)
	if err != nil {
		t.Fatalf("start shared server %q: %v", name, err)
	}
	sharedServers[name] = s
	return s
}

func stopSharedServers() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	for name, s := range sharedServers {
		if code := s.signalStop(15 * time.Second); code != 0 {
			fmt.Fprintf(os.Stderr, "e2e: shared server %q exited with %d; stderr tail:\n%s\n", name, code, tail(s.logText(), 40))
		}
	}
}

// Secrets and keys used by the shared configurations.
const (
	jwtSecret   = "e2e-test-secret-0123456789abcdef-XYZ"
	adminAPIKey = "e2e-admin-key-5f2b7c"
)

// defaultServer is the shared auth-off development server.
func defaultServer(t testing.TB) *server {
	return shared(t, "default", env{"ARQONBUS_ADMIN_API_KEY": adminAPIKey})
}

// authServer is the shared auth-on (HS256) development server.
func authServer(t testing.TB) *server {
	return shared(t, "auth", env{
		"ARQONBUS_ENABLE_AUTH":     "true",
		"ARQONBUS_AUTH_JWT_SECRET": jwtSecret,
	})
}

// devAdminServer is the shared auth-off server where every client is admin.
func devAdminServer(t testing.TB) *server {
	return shared(t, "devadmin", env{"ARQONBUS_DEV_ADMIN": "true"})
}

// uniq returns a name that is unique in this test run and valid as a room,
// channel or tenant name.
func uniq(prefix string) string {
	uniqMu.Lock()
	defer uniqMu.Unlock()
	uniqN++
	return fmt.Sprintf("%s-%d", prefix, uniqN)
}

var (
	uniqMu sync.Mutex
	uniqN  int
)

// goVersion is the toolchain that built both this test and the binary.
var goVersion = runtime.Version()
