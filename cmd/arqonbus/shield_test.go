package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/shield"
)

// shieldBinary is the arqonbus binary that TestMain (client_test.go)
// builds once for the whole package.
func shieldBinary(t *testing.T) string {
	t.Helper()
	if cliBin == "" {
		t.Fatal("arqonbus binary not built")
	}
	return cliBin
}

// shieldEnv is a clean process environment plus the given variables, so
// the developer's own ARQON* variables cannot change the outcome.
func shieldEnv(vars ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH")}, vars...)
}

// shieldSecret is a 40-byte secret (SHIELD.md §16 setup).
const shieldSecret = "6f1c0d2a9be84c57a3e1f0d9c8b7a6954e3d2c1b"

// shieldRun runs arqonbus to completion and returns its output and status.
func shieldRun(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, shieldBinary(t), args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("arqonbus %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// shieldLastLine is the final non-empty line of s.
func shieldLastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// shieldFreePort returns a TCP port on 127.0.0.1 that nothing listens on.
func shieldFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

// SHIELD.md §16 vectors 1, 2 and 14 (startup part), §3.3 and §4.1 step 6:
// each refusal is exit 1 with one exact stderr line and nothing on stdout.
func TestShieldStartupRefusals(t *testing.T) {
	deadNATS := fmt.Sprintf("127.0.0.1:%d", shieldFreePort(t))
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"missing secret", nil,
			"arqonbus: Invalid configuration: JWT_SECRET must be configured for Shield startup"},
		{"blank secret", []string{"JWT_SECRET=   "},
			"arqonbus: Invalid configuration: JWT_SECRET must be configured for Shield startup"},
		{"known default secret", []string{"JWT_SECRET=arqon-dev-secret"},
			"arqonbus: Invalid configuration: JWT_SECRET is a known default value; configure a unique secret"},
		{"known default secret, other case", []string{"JWT_SECRET=ChangeMe"},
			"arqonbus: Invalid configuration: JWT_SECRET is a known default value; configure a unique secret"},
		{"weak secret in production", []string{"ARQONBUS_ENVIRONMENT=production", "JWT_SECRET=" + shieldSecret[:20]},
			"arqonbus: Invalid configuration: JWT_SECRET must be at least 32 bytes in staging/production (got 20)"},
		{"repeated secret in staging", []string{"ARQONBUS_ENVIRONMENT=staging", "JWT_SECRET=" + strings.Repeat("k", 40)},
			"arqonbus: Invalid configuration: JWT_SECRET must not be a single repeated character in staging/production"},
		{"skip validation in production, empty value", []string{"ARQONBUS_ENVIRONMENT=prod", "JWT_SECRET=" + shieldSecret, "JWT_SKIP_VALIDATION="},
			"arqonbus: Invalid configuration: JWT_SKIP_VALIDATION is not allowed in staging/production"},
		{"vector 2: weak secret and skip validation in production",
			[]string{"ARQONBUS_ENVIRONMENT=production", "JWT_SECRET=" + shieldSecret[:20], "JWT_SKIP_VALIDATION=false"},
			"arqonbus: Invalid configuration: JWT_SECRET must be at least 32 bytes in staging/production (got 20); " +
				"JWT_SKIP_VALIDATION is not allowed in staging/production"},
		{"vector 14: malformed mirror rule", []string{"JWT_SECRET=" + shieldSecret, "ARQON_SHIELD_MIRROR_RULES=in.t.=10"},
			`arqonbus: Invalid configuration: ARQON_SHIELD_MIRROR_RULES: invalid rule "in.t.=10": empty subject token`},
		{"NATS unreachable", []string{"JWT_SECRET=" + shieldSecret, "NATS_URL=nats://shield:s3cret-pw@" + deadNATS},
			"arqonbus: NATS unreachable at nats://shield:***@" + deadNATS + ": nats: no servers available for connection"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := shieldRun(t, shieldEnv(c.env...), "shield", "--port", "0", "--metrics-port", "0", "--log-format", "json")
			if code != 1 || stdout != "" || shieldLastLine(stderr) != c.want {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant last line:\n%s", code, stdout, stderr, c.want)
			}
			if strings.Contains(stderr, "s3cret-pw") || strings.Contains(stderr, shieldSecret) {
				t.Errorf("stderr leaks a secret:\n%s", stderr)
			}
			if strings.Contains(stderr, `"msg":"listening"`) {
				t.Errorf("a listener was opened:\n%s", stderr)
			}
		})
	}
}

// A failure after logging is set up is logged as `startup failed` at ERROR
// with component shield before the stderr line (OPERATIONS.md §1).
func TestShieldStartupFailedLog(t *testing.T) {
	env := shieldEnv("JWT_SECRET="+shieldSecret, fmt.Sprintf("NATS_URL=nats://127.0.0.1:%d", shieldFreePort(t)))
	_, stderr, code := shieldRun(t, env, "shield", "--port", "0", "--metrics-port", "0", "--log-format", "json")
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if code != 1 || len(lines) < 2 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var entry struct{ Level, Msg, Component, Error string }
	if err := json.Unmarshal([]byte(lines[len(lines)-2]), &entry); err != nil {
		t.Fatalf("line before the error is not a JSON log line: %q", lines[len(lines)-2])
	}
	if entry.Level != "ERROR" || entry.Msg != "startup failed" || entry.Component != "shield" ||
		"arqonbus: "+entry.Error != lines[len(lines)-1] {
		t.Errorf("log %+v before %q", entry, lines[len(lines)-1])
	}
}

// In production the startup preflight runs before NATS or any listener is
// opened; its refusal is one unprefixed line (SHIELD.md §3.3, PREFLIGHT.md §7).
func TestShieldStartupPreflight(t *testing.T) {
	env := shieldEnv("ARQONBUS_ENVIRONMENT=production", "JWT_SECRET="+shieldSecret,
		fmt.Sprintf("NATS_URL=nats://127.0.0.1:%d", shieldFreePort(t)))
	stdout, stderr, code := shieldRun(t, env, "shield", "--port", "0", "--metrics-port", "0")
	last := shieldLastLine(stderr)
	if code != 1 || stdout != "" || !strings.HasPrefix(last, "Startup preflight failed: ") {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "arqonbus: ") || strings.Contains(stderr, `"msg":"configuration loaded"`) {
		t.Errorf("preflight refusal must be the only error line and come before Shield starts:\n%s", stderr)
	}
}

// CLI.md §2: help on stdout with exit 0, usage errors exit 2 with one line,
// a malformed configuration flag is a configuration error (exit 1).
func TestShieldCommandLine(t *testing.T) {
	stdout, stderr, code := shieldRun(t, shieldEnv(), "shield", "--help")
	if code != 0 || stderr != "" || !strings.Contains(stdout, "Usage: arqonbus shield") ||
		!strings.Contains(stdout, "--metrics-port") || !strings.Contains(stdout, "JWT_SECRET") {
		t.Errorf("--help: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	stdout, stderr, code = shieldRun(t, shieldEnv(), "shield", "--no-such-flag")
	if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "arqonbus: ") {
		t.Errorf("unknown flag: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	stdout, stderr, code = shieldRun(t, shieldEnv("JWT_SECRET="+shieldSecret), "shield", "--port", "abc")
	if code != 1 || stdout != "" || !strings.HasPrefix(shieldLastLine(stderr), "arqonbus: Invalid configuration: ") ||
		!strings.Contains(stderr, "--port") {
		t.Errorf("--port abc: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	stdout, _, code = shieldRun(t, shieldEnv(), "--help")
	if code != 0 || !strings.Contains(stdout, "shield") {
		t.Errorf("arqonbus --help does not list shield:\n%s", stdout)
	}
}

// shieldProcess is a running `arqonbus shield` whose JSON log lines are
// collected as they arrive.
type shieldProcess struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	lines  chan map[string]any
	mu     sync.Mutex
	raw    []string
	done   chan struct{} // closed when stderr reaches EOF
}

func startShieldProcess(t *testing.T, env []string, args ...string) *shieldProcess {
	t.Helper()
	p := &shieldProcess{lines: make(chan map[string]any, 256), done: make(chan struct{})}
	p.cmd = exec.Command(shieldBinary(t), append([]string{"shield"}, args...)...)
	p.cmd.Env = env
	p.cmd.Stdout = &p.stdout
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
			_ = p.cmd.Wait()
		}
	})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.raw = append(p.raw, sc.Text())
			p.mu.Unlock()
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case p.lines <- m:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	return p
}

// stderr returns every stderr line so far.
func (p *shieldProcess) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.raw, "\n")
}

// listening waits for the `listening` lines and returns the bound address
// per component.
func (p *shieldProcess) listening(t *testing.T) map[string]string {
	t.Helper()
	addrs := map[string]string{}
	timeout := time.After(20 * time.Second)
	for len(addrs) < 2 {
		select {
		case m := <-p.lines:
			if m["msg"] == "listening" {
				comp, _ := m["component"].(string)
				addrs[comp], _ = m["addr"].(string)
			}
		case <-p.done:
			t.Fatalf("shield exited before listening:\n%s", p.stderr())
		case <-timeout:
			t.Fatalf("no listening lines:\n%s", p.stderr())
		}
	}
	return addrs
}

// SHIELD.md §16 vector 6 end to end, then §4.3: SIGTERM drains and exits 0.
func TestShieldServesAndDrains(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	published, err := nc.SubscribeSync("in.t.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	p := startShieldProcess(t, shieldEnv("JWT_SECRET="+shieldSecret, "NATS_URL="+ns.ClientURL()),
		"--port", "0", "--metrics-port", "0", "--log-format", "json")
	addrs := p.listening(t)
	wsAddr, metricsAddr := addrs["shield"], addrs["shield-metrics"]
	if wsAddr == "" || metricsAddr == "" || wsAddr == metricsAddr {
		t.Fatalf("listening addresses %v", addrs)
	}

	resp, err := http.Get("http://" + metricsAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"ready"`) {
		t.Fatalf("/readyz: %d %s", resp.StatusCode, body)
	}

	token, err := auth.Sign("HS256", []byte(shieldSecret), map[string]any{
		"sub": "user-1", "tenant_id": "tenant-a", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+wsAddr+"/ws", http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	frame := `{"type":"message","id":"arq_msg_001","room":"science","channel":"general","payload":{"n":1}}`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	_, ack, err := ws.ReadMessage()
	if err != nil || string(ack) != `{"type":"ack","id":"arq_msg_001","subject":"in.t.tenant-a.raw"}` {
		t.Fatalf("ack: %s %v", ack, err)
	}
	msg, err := published.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "in.t.tenant-a.raw" || msg.Header.Get("Arqon-Tenant") != "tenant-a" ||
		msg.Header.Get("Arqon-Sub") != "user-1" || msg.Header.Get("Nats-Msg-Id") != "arq_msg_001" {
		t.Errorf("published %s %v", msg.Subject, msg.Header)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway || ce.Text != "server shutting down" {
		t.Errorf("client close on SIGTERM: %v", err)
	}
	<-p.done
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr())
	}
	logs := p.stderr()
	if !strings.Contains(logs, `"msg":"shutdown complete"`) {
		t.Errorf("no shutdown complete line:\n%s", logs)
	}
	if strings.Contains(logs, shieldSecret) || strings.Contains(logs, token) {
		t.Errorf("logs leak the secret or the token:\n%s", logs)
	}
	if p.stdout.Len() != 0 {
		t.Errorf("stdout is not empty: %q", p.stdout.String())
	}
}

// Every variable of SHIELD.md §3.2 reaches its shield.Options field.
func TestShieldOptionsMapping(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "user.creds")
	if err := os.WriteFile(creds, []byte("creds"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"ARQONBUS_ENVIRONMENT=staging",
		"JWT_SECRET=" + shieldSecret,
		"NATS_URL=nats://a:4222, tls://b:4443",
		"ARQON_SHIELD_NATS_CREDS=" + creds,
		"ARQON_SCHEMA_STRICT=false",
		"ARQON_SCHEMA_STRICT_EXCEPTION=TICKET-1",
		"ARQON_SCHEMA_DIR=" + dir,
		"POLICY_WASM_PATH=" + filepath.Join(dir, "p.wasm"),
		"ARQON_SHIELD_HOST=0.0.0.0",
		"ARQON_SHIELD_PORT=4100",
		"ARQON_SHIELD_METRICS_PORT=9190",
		"ARQON_SHIELD_ALLOW_QUERY_TOKEN=true",
		"ARQON_SHIELD_ALLOWED_ORIGINS=https://app.example.com,https://*.example.org",
		"ARQON_SHIELD_JWT_LEEWAY=1s",
		"ARQON_SHIELD_JWT_AUDIENCE=aud-1",
		"ARQON_SHIELD_JWT_ISSUER=iss-1",
		"ARQON_SHIELD_MAX_MESSAGE_SIZE=2048",
		"ARQON_SHIELD_MAX_CONNECTIONS=7",
		"ARQON_SHIELD_RATE_LIMIT_PER_SECOND=2.5",
		"ARQON_SHIELD_RATE_LIMIT_BURST=3",
		"ARQON_SHIELD_RATE_LIMIT_MAX_VIOLATIONS=4",
		"ARQON_SHIELD_MAX_VIOLATIONS=5",
		"ARQON_SHIELD_SEND_QUEUE_SIZE=32",
		"ARQON_SHIELD_PING_INTERVAL=2s",
		"ARQON_SHIELD_PING_TIMEOUT=3s",
		"ARQON_SHIELD_POLICY_TIMEOUT=7ms",
		"ARQON_SHIELD_POLICY_MEMORY_LIMIT=65537",
		"ARQON_SHIELD_JETSTREAM=true",
		"ARQON_SHIELD_PUBLISH_TIMEOUT=300ms",
		"ARQON_SHIELD_RETURN_PATH=false",
		"ARQON_SHIELD_WELCOME=true",
		"ARQON_SHIELD_MIRROR_RULES=in.t.*.raw=10,in.t.>=2.5",
		"ARQON_SHIELD_SHUTDOWN_TIMEOUT=4s",
	}
	cfg, err := config.Load(config.CommandShield, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	got := shieldOptions(cfg)
	want := shield.Options{
		Profile:                shield.ProfileStaging,
		JWTSecret:              shieldSecret,
		NATSURL:                "nats://a:4222,tls://b:4443",
		NATSCreds:              creds,
		SchemaStrict:           false,
		SchemaDir:              dir,
		PolicyPath:             filepath.Join(dir, "p.wasm"),
		Host:                   "0.0.0.0",
		Port:                   4100,
		MetricsPort:            9190,
		AllowQueryToken:        true,
		AllowedOrigins:         []string{"https://app.example.com", "https://*.example.org"},
		JWTLeeway:              time.Second,
		JWTAudience:            "aud-1",
		JWTIssuer:              "iss-1",
		MaxMessageSize:         2048,
		MaxConnections:         7,
		RateLimitPerSecond:     2.5,
		RateLimitBurst:         3,
		RateLimitMaxViolations: 4,
		MaxViolations:          5,
		SendQueueSize:          32,
		PingInterval:           2 * time.Second,
		PingTimeout:            3 * time.Second,
		PolicyTimeout:          7 * time.Millisecond,
		PolicyMemoryLimit:      131072, // rounded up to a multiple of 65536
		JetStream:              true,
		PublishTimeout:         300 * time.Millisecond,
		ReturnPath:             false,
		Welcome:                true,
		MirrorRules:            []shield.MirrorRule{{Pattern: "in.t.*.raw", Percent: 10}, {Pattern: "in.t.>", Percent: 2.5}},
		ShutdownTimeout:        4 * time.Second,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("options\n got %+v\nwant %+v", got, want)
	}

	// Guard against a field added to shield.Options but not mapped: every
	// field except the skip-validation pair (covered below) must differ
	// from its default in this configuration.
	def, gv := reflect.ValueOf(shield.DefaultOptions()), reflect.ValueOf(got)
	for i := range gv.NumField() {
		name := gv.Type().Field(i).Name
		if name == "SkipValidationSet" || name == "SkipValidation" {
			continue
		}
		if reflect.DeepEqual(gv.Field(i).Interface(), def.Field(i).Interface()) {
			t.Errorf("Options.%s keeps its default: the test or shieldOptions misses it", name)
		}
	}

	for _, c := range []struct {
		env           []string
		present, skip bool
	}{
		{nil, false, false},
		{[]string{"JWT_SKIP_VALIDATION="}, true, true},
		{[]string{"JWT_SKIP_VALIDATION=true"}, true, true},
		{[]string{"JWT_SKIP_VALIDATION=off"}, true, false},
	} {
		cfg, err := config.Load(config.CommandShield, nil, append([]string{"JWT_SECRET=" + shieldSecret}, c.env...))
		if err != nil {
			t.Fatal(err)
		}
		o := shieldOptions(cfg)
		if o.SkipValidationSet != c.present || o.SkipValidation != c.skip || o.Profile != shield.ProfileDevelopment {
			t.Errorf("%v: set=%v skip=%v profile=%s", c.env, o.SkipValidationSet, o.SkipValidation, o.Profile)
		}
	}
}
