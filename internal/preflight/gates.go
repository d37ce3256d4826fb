package preflight

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// ModulePath is the module a source checkout must name (§9).
const ModulePath = "github.com/arqonbus/arqonbus"

// outputLimit is how much of a gate's output is kept (§9).
const outputLimit = 64 << 10

// Test categories by function name (docs/testing.md).
const (
	unitSkip        = "^(TestIntegration|TestRegression|TestAdversarial)"
	integrationRun  = "^TestIntegration"
	regressionRun   = "^TestRegression"
	adversarialRun  = "^(TestAdversarial|Fuzz)"
	e2ePackages     = "./e2e/..."
	cmdPackages     = "./cmd/..." // the command tests drive the built binary: e2e too
	envTestRedis    = "ARQON_TEST_REDIS_ADDR"
	envTestNATS     = "ARQON_TEST_NATS_URL"
	privateServices = "private Redis and NATS"
)

// isSourceCheckout reports whether dir holds a go.mod naming this module.
func isSourceCheckout(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == ModulePath
		}
	}
	return false
}

// gateEnv is the environment of a gate command: the process environment
// without any service or configuration variable of the preflight run
// (§9: gates never use the configured services), plus extra.
func gateEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if isSnapshotVar(k) || k == "GOFLAGS" || k == envTestRedis || k == envTestNATS {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// tailBuffer keeps the last outputLimit bytes written to it.
type tailBuffer struct {
	buf       []byte
	truncated bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > outputLimit {
		t.buf = append(t.buf[:0:0], t.buf[len(t.buf)-outputLimit:]...)
		t.truncated = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

// quoteArg quotes a shell word when needed, for the recorded command line.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$|&;()<>*?[]^{}") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func commandLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = quoteArg(a)
	}
	return strings.Join(q, " ")
}

// runCmd runs args in dir with env and returns its combined output tail.
func runCmd(ctx context.Context, dir string, env []string, args []string) (string, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir, cmd.Env = dir, env
	var tb tailBuffer
	cmd.Stdout, cmd.Stderr = &tb, &tb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return tb.String(), err
}

// failureSummary picks the lines that say what failed from go's output.
func failureSummary(out string) string {
	var picked []string
	for _, line := range strings.Split(out, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--- FAIL") || strings.HasPrefix(t, "FAIL\t") || strings.HasPrefix(t, "panic:") ||
			strings.Contains(t, "[build failed]") || strings.HasPrefix(t, "# ") {
			picked = append(picked, t)
		}
		if len(picked) == 8 {
			picked = append(picked, "…")
			break
		}
	}
	return strings.Join(picked, "; ")
}

type gateSpec struct {
	id       string
	commands [][]string
	services bool
}

func goList(ctx context.Context, dir string) ([]string, string, error) {
	out, err := runCmd(ctx, dir, gateEnv(), []string{"go", "list", "./..."})
	if err != nil {
		return nil, out, err
	}
	var pkgs []string
	for _, p := range strings.Fields(out) {
		if p == ModulePath+"/e2e" || strings.HasPrefix(p, ModulePath+"/e2e/") || strings.HasPrefix(p, ModulePath+"/cmd/") {
			continue
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, "", nil
}

// runGates runs the gates of §9 in order. It returns one result per gate ID.
func runGates(ctx context.Context, dir string) map[string]Result {
	res := map[string]Result{}
	ids := []string{IDGateDeps, IDGateVet, IDGateUnit, IDGateInteg, IDGateE2E, IDGateRegress, IDGateAdvers}
	abs, err := filepath.Abs(dir)
	if err == nil {
		dir = abs
	}
	if !isSourceCheckout(dir) {
		for _, id := range ids {
			res[id] = skip("not a source checkout: " + dir + " has no go.mod for module " + ModulePath)
		}
		return res
	}
	pkgs, out, err := goList(ctx, dir)
	unitCmd := append([]string{"go", "test", "-count=1", "-skip", unitSkip}, pkgs...)
	specs := []gateSpec{
		{IDGateDeps, [][]string{{"go", "mod", "verify"}, {"go", "build", "-mod=readonly", "./..."}}, false},
		{IDGateVet, [][]string{{"go", "vet", "./..."}}, false},
		{IDGateUnit, [][]string{unitCmd}, false},
		{IDGateInteg, [][]string{{"go", "test", "-count=1", "-run", integrationRun, "./..."}}, true},
		{IDGateE2E, [][]string{{"go", "test", "-count=1", e2ePackages, cmdPackages}}, true},
		{IDGateRegress, [][]string{{"go", "test", "-count=1", "-run", regressionRun, "./..."}}, false},
		{IDGateAdvers, [][]string{{"go", "test", "-count=1", "-run", adversarialRun, "./..."}}, true},
	}
	var svc *gateServices
	var svcErr error
	defer func() {
		if svc != nil {
			svc.stop()
		}
	}()
	for _, g := range specs {
		start := time.Now()
		var lines []string
		for _, c := range g.commands {
			lines = append(lines, commandLine(c))
		}
		cmdLine := strings.Join(lines, " && ")
		shown := cmdLine
		if g.id == IDGateUnit {
			shown = "go test -count=1 -skip '" + unitSkip + "' <" + strconv.Itoa(len(pkgs)) + " packages: ./... except ./e2e/... and ./cmd/...>"
		}
		if g.id == IDGateUnit && err != nil {
			r := fail("cannot list packages: go list ./... failed", "fix the build first (see gate.deps)")
			r.Command, r.Output = "go list ./...", out
			res[g.id] = r
			continue
		}
		env := gateEnv("GOFLAGS=", "CI=true")
		if g.services {
			if svc == nil && svcErr == nil {
				svc, svcErr = startPrivateServices(ctx)
			}
			if svcErr != nil {
				r := fail("cannot start the "+privateServices+" for this gate: "+errText(svcErr),
					"install redis-server (the gates start a private instance on a free port)")
				r.Command = cmdLine
				res[g.id] = r
				continue
			}
			env = append(env, envTestRedis+"="+svc.redisAddr, envTestNATS+"="+svc.natsURL)
		}
		var output strings.Builder
		var runErr error
		for _, c := range g.commands {
			o, err := runCmd(ctx, dir, env, c)
			output.WriteString(o)
			if err != nil {
				runErr = fmt.Errorf("`%s` failed: %w", commandLine(c), err)
				break
			}
		}
		r := ok("passed: " + shown)
		if runErr != nil {
			detail := runErr.Error()
			if s := failureSummary(output.String()); s != "" {
				detail += ": " + s
			}
			fix := "run the command from the checkout root, fix the failures, and run preflight --gates again"
			if g.id == IDGateDeps {
				fix = "restore go.sum / the module cache (go mod download) so that the build needs nothing outside go.mod"
			}
			r = fail(detail, fix)
		}
		r.Command = cmdLine
		tail := output.String()
		if len(tail) > outputLimit {
			tail = tail[len(tail)-outputLimit:]
		}
		r.Output = tail
		r.Duration = time.Since(start).Milliseconds()
		res[g.id] = r
	}
	return res
}

// gateServices are the Redis and NATS the service gates use (§9).
type gateServices struct {
	redis     *exec.Cmd
	redisAddr string
	nats      *natsserver.Server
	natsDir   string
	natsURL   string
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startPrivateServices(ctx context.Context) (*gateServices, error) {
	s := &gateServices{}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.redisAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server not found in PATH")
	}
	s.redis = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	var rout bytes.Buffer
	s.redis.Stdout, s.redis.Stderr = &rout, &rout
	if err := s.redis.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	if err := waitTCP(ctx, s.redisAddr, 5*time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("redis-server on %s did not start: %w", s.redisAddr, err)
	}
	s.natsDir, err = os.MkdirTemp("", "arqonbus-preflight-nats-")
	if err != nil {
		s.stop()
		return nil, err
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: s.natsDir, NoLog: true, NoSigs: true})
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	ns.Start()
	s.nats = ns
	if !ns.ReadyForConnections(5 * time.Second) {
		s.stop()
		return nil, errors.New("embedded NATS did not become ready")
	}
	s.natsURL = ns.ClientURL()
	return s, nil
}

func waitTCP(ctx context.Context, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *gateServices) stop() {
	if s.redis != nil && s.redis.Process != nil {
		_ = s.redis.Process.Kill()
		_ = s.redis.Wait()
	}
	if s.nats != nil {
		s.nats.Shutdown()
		s.nats.WaitForShutdown()
	}
	if s.natsDir != "" {
		_ = os.RemoveAll(s.natsDir)
	}
}
