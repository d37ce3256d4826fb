package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strconv"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go-redis and nats.go close their sockets asynchronously.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
	)
}

// strongSecret and busSecret are test secrets the leak scan looks for.
const (
	strongSecret = "s3cr3t-shield-0123456789abcdefghijklmnop"
	busSecret    = "b0s-secret-0123456789abcdefghijklmnopqrs"
	adminKey     = "adm1n-key-0123456789abcdefghijklmnopqrst"
)

// closedAddr returns a 127.0.0.1 address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// redisAddr is a live Redis for integration tests.
func redisAddr(t *testing.T) string {
	t.Helper()
	addr := testutil.RedisAddr()
	testutil.RequireService(t, "Redis", addr)
	return addr
}

// startNATS starts an embedded NATS server with JetStream.
func startNATS(t *testing.T) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// goEnv is a complete production environment that should be GO, given a
// live Redis and NATS.
func goEnv(redis, nats string) []string {
	return []string{
		"ARQONBUS_ENVIRONMENT=production",
		"ARQONBUS_SERVER_HOST=0.0.0.0",
		"ARQONBUS_SERVER_PORT=9100",
		"ARQONBUS_STORAGE_MODE=strict",
		"ARQONBUS_REDIS_URL=redis://" + redis + "/0",
		"ARQONBUS_TELEMETRY_HOST=127.0.0.1",
		"ARQONBUS_TELEMETRY_PORT=8081",
		"ARQONBUS_ENABLE_AUTH=true",
		"ARQONBUS_AUTH_JWT_SECRET=" + busSecret,
		"ARQONBUS_ADMIN_API_KEY=" + adminKey,
		"JWT_SECRET=" + strongSecret,
		"NATS_URL=" + nats,
	}
}

// result of one `arqonbus preflight` run.
type cliRun struct {
	code           int
	stdout, stderr string
	report         jsonReport
	elapsed        time.Duration
}

type jsonReport struct {
	Schema         string   `json:"schema"`
	Verdict        string   `json:"verdict"`
	Profile        string   `json:"profile"`
	Severity       *string  `json:"severity"`
	FailConditions []string `json:"fail_conditions"`
	Checks         []Result `json:"checks"`
	Incident       string   `json:"incident"`
}

func (j jsonReport) check(t *testing.T, id string) Result {
	t.Helper()
	for _, c := range j.Checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("check %s missing from report", id)
	return Result{}
}

func (j jsonReport) status(t *testing.T, id string) Status { return j.check(t, id).Status }

// runJSON runs preflight with --format json and decodes the report.
func runJSON(t *testing.T, env []string, args ...string) cliRun {
	t.Helper()
	r := runCLI(t, env, append([]string{"--format", "json"}, args...)...)
	if r.code == ExitUsage {
		return r
	}
	if err := json.Unmarshal([]byte(r.stdout), &r.report); err != nil {
		t.Fatalf("report is not JSON: %v\n%s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return r
}

func runCLI(t *testing.T, env []string, args ...string) cliRun {
	t.Helper()
	var out, errb bytes.Buffer
	start := time.Now()
	argv := append([]string{"arqonbus", "preflight"}, args...)
	code := Main(context.Background(), args, env, argv, &out, &errb)
	return cliRun{code: code, stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
}

func expectStatus(t *testing.T, r cliRun, want map[string]Status) {
	t.Helper()
	for id, st := range want {
		if got := r.report.status(t, id); got != st {
			t.Errorf("%s = %s (%s), want %s", id, got, r.report.check(t, id).Detail, st)
		}
	}
}

func natsURLOf(ns *natsserver.Server) string { return ns.ClientURL() }

func itoa(n int) string { return strconv.Itoa(n) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
