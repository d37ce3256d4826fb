package preflight

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// catalogOrder is PREFLIGHT.md §10 vector 9, verbatim.
var catalogOrder = []string{"pre.config", "pre.toolchain", "pre.build_clean", "pre.services", "bus.server_host",
	"bus.server_port", "bus.storage_mode", "bus.redis_url", "bus.redis_reachable", "bus.redis_durability",
	"bus.telemetry_addr", "bus.auth", "bus.admin_api_key", "shield.jwt_secret", "shield.jwt_secret_default",
	"shield.jwt_secret_strength", "shield.skip_validation", "shield.nats_url", "shield.nats_reachable",
	"shield.schema_strict", "shield.policy", "deps.ollama", "runtime.bus_health",
	"runtime.telemetry_connect", "runtime.shield_rejects_missing_token",
	"runtime.shield_routes_valid_token", "gate.deps", "gate.vet", "gate.unit", "gate.integration",
	"gate.e2e", "gate.regression", "gate.adversarial"}

// deadNATS points NATS at a closed port so no test depends on a NATS it did not start.
func deadNATS(t *testing.T) string { return "NATS_URL=nats://" + closedAddr(t) }

func TestVector01EmptyEnvironmentProduction(t *testing.T) {
	r := runJSON(t, nil, "--profile", "production", "--timeout", "500ms", "--nats-url", "nats://"+closedAddr(t))
	if r.code != ExitNoGo || r.report.Verdict != VerdictNoGo {
		t.Fatalf("exit %d verdict %s, want 1 no-go", r.code, r.report.Verdict)
	}
	expectStatus(t, r, map[string]Status{IDServerHost: StatusFail, IDServerPort: StatusFail,
		IDStorageMode: StatusFail, IDJWTSecret: StatusFail, IDNATSReach: StatusFail, IDServices: StatusFail})
	if !slices.Contains(r.report.FailConditions, "Missing JWT_SECRET or detected default secret value") {
		t.Errorf("fail conditions %v", r.report.FailConditions)
	}
	// shield.nats_url: --nats-url counts as explicitly set; without it, it fails.
	r = runJSON(t, nil, "--profile", "production", "--timeout", "500ms")
	expectStatus(t, r, map[string]Status{IDNATSURL: StatusFail})
}

func TestVector02EmptyEnvironmentDevelopment(t *testing.T) {
	r := runJSON(t, []string{deadNATS(t)}, "--profile", "development", "--timeout", "500ms")
	if r.code != ExitNoGo {
		t.Fatalf("exit %d, want 1", r.code)
	}
	expectStatus(t, r, map[string]Status{IDServerHost: StatusWarn, IDServerPort: StatusWarn,
		IDStorageMode: StatusWarn, IDJWTSecret: StatusFail, IDNATSReach: StatusWarn, IDServices: StatusWarn})
	fails, _ := 0, 0
	for _, c := range r.report.Checks {
		if c.Status == StatusFail {
			fails++
			if c.ID != IDJWTSecret {
				t.Errorf("%s fails in development: %s", c.ID, c.Detail)
			}
		}
	}
	if fails != 1 {
		t.Errorf("%d failing checks, want only shield.jwt_secret", fails)
	}
	// The profile aliases are accepted case-insensitively.
	if r := runJSON(t, []string{deadNATS(t)}, "--profile", "DEV", "--timeout", "200ms"); r.report.Profile != "development" {
		t.Errorf("--profile DEV gave %q", r.report.Profile)
	}
}

func TestVector03KnownDefaultSecret(t *testing.T) {
	for _, profile := range []string{"production", "development"} {
		r := runJSON(t, []string{"JWT_SECRET=arqon-dev-secret", deadNATS(t)}, "--profile", profile, "--timeout", "200ms")
		c := r.report.check(t, IDJWTDefault)
		if c.Status != StatusFail || c.Severity != SevBlocker {
			t.Errorf("%s: %s %s %q, want fail blocker", profile, c.Status, c.Severity, c.Detail)
		}
		if r.report.status(t, IDJWTSecret) != StatusOK {
			t.Errorf("%s: shield.jwt_secret %s", profile, r.report.status(t, IDJWTSecret))
		}
		if !slices.Contains(r.report.FailConditions, "Missing JWT_SECRET or detected default secret value") {
			t.Errorf("%s: fail conditions %v", profile, r.report.FailConditions)
		}
	}
}

func TestVector04SkipValidationPresentEmpty(t *testing.T) {
	r := runJSON(t, []string{"JWT_SKIP_VALIDATION=", "JWT_SECRET=" + strongSecret, deadNATS(t)}, "--profile", "production", "--timeout", "200ms")
	c := r.report.check(t, IDSkipValid)
	if c.Status != StatusFail || c.Severity != SevBlocker {
		t.Fatalf("shield.skip_validation %s %s %q", c.Status, c.Severity, c.Detail)
	}
	if !slices.Contains(r.report.FailConditions, "JWT_SKIP_VALIDATION present in production environment") {
		t.Errorf("fail conditions %v", r.report.FailConditions)
	}
	// "false" is present too.
	r = runJSON(t, []string{"JWT_SKIP_VALIDATION=false", "JWT_SECRET=" + strongSecret, deadNATS(t)}, "--timeout", "200ms")
	if r.report.status(t, IDSkipValid) != StatusFail {
		t.Errorf("JWT_SKIP_VALIDATION=false: %s", r.report.status(t, IDSkipValid))
	}
	// Absent is ok.
	r = runJSON(t, []string{"JWT_SECRET=" + strongSecret, deadNATS(t)}, "--timeout", "200ms")
	if r.report.status(t, IDSkipValid) != StatusOK {
		t.Errorf("absent: %s", r.report.status(t, IDSkipValid))
	}
}

func TestVector05StrictWithoutRedisAddress(t *testing.T) {
	r := runJSON(t, []string{"ARQONBUS_STORAGE_MODE=strict", "ARQONBUS_STORAGE_BACKEND=redis", deadNATS(t)}, "--timeout", "200ms")
	c := r.report.check(t, IDRedisURL)
	if c.Status != StatusFail || !strings.Contains(c.Fix, "ARQONBUS_REDIS_URL=redis://host:6379/0") {
		t.Fatalf("bus.redis_url %s %q fix %q", c.Status, c.Detail, c.Fix)
	}
	if !slices.Contains(r.report.FailConditions, "Storage mode strict with Redis unavailable") {
		t.Errorf("fail conditions %v", r.report.FailConditions)
	}
	// Strict with the memory backend (no address, no backend) is the loader's refusal, owned by bus.redis_url.
	r = runJSON(t, []string{"ARQONBUS_STORAGE_MODE=strict", deadNATS(t)}, "--timeout", "200ms")
	if c := r.report.check(t, IDRedisURL); c.Status != StatusFail || c.Detail != "Storage mode 'strict' requires Redis backend (redis or valkey)" {
		t.Errorf("strict+memory: %s %q", c.Status, c.Detail)
	}
	if r.report.status(t, IDConfig) != StatusOK {
		t.Errorf("pre.config %s: the problem is owned by bus.redis_url", r.report.status(t, IDConfig))
	}
	// ARQONBUS_REDIS_HOST alone: backend inferred as redis, address present.
	r = runJSON(t, []string{"ARQONBUS_STORAGE_MODE=strict", "ARQONBUS_REDIS_HOST=db", deadNATS(t)}, "--timeout", "200ms")
	if c := r.report.check(t, IDRedisURL); c.Status != StatusOK || !strings.Contains(c.Detail, "backend redis") {
		t.Errorf("ARQONBUS_REDIS_HOST=db: %s %q", c.Status, c.Detail)
	}
}

func TestVector06StrictRedisClosedPortWithinTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	for _, profile := range []string{"production", "development"} {
		env := []string{"ARQONBUS_STORAGE_MODE=strict", "ARQONBUS_REDIS_URL=redis://:hunter2-password@" + closedAddr(t) + "/0",
			"ARQONBUS_OLLAMA_ENABLED=true", "ARQONBUS_OLLAMA_URL=http://" + closedAddr(t), deadNATS(t)}
		r := runJSON(t, env, "--profile", profile, "--timeout", timeout.String())
		c := r.report.check(t, IDRedisReach)
		if c.Status != StatusFail {
			t.Errorf("%s: bus.redis_reachable %s %q", profile, c.Status, c.Detail)
		}
		if !strings.HasPrefix(c.Detail, "Storage mode 'strict' requires a reachable Redis/Valkey at redis://:***@") {
			t.Errorf("%s: detail %q", profile, c.Detail)
		}
		want := StatusFail
		if profile == "development" {
			want = StatusWarn
		}
		if got := r.report.status(t, IDServices); got != want {
			t.Errorf("%s: pre.services %s, want %s", profile, got, want)
		}
		if r.elapsed >= 2*timeout {
			t.Errorf("%s: every dependency down took %v, want < %v", profile, r.elapsed, 2*timeout)
		}
	}
}

func TestIntegrationVector07AllGood(t *testing.T) {
	ns := startNATS(t)
	r := runJSON(t, goEnv(redisAddr(t), natsURLOf(ns)), "--timeout", "2s")
	if r.code != ExitGo || r.report.Verdict != VerdictGo {
		for _, c := range r.report.Checks {
			if c.Status == StatusFail {
				t.Errorf("%s fails: %s", c.ID, c.Detail)
			}
		}
		t.Fatalf("exit %d verdict %s, want 0 go", r.code, r.report.Verdict)
	}
	expectStatus(t, r, map[string]Status{IDRedisReach: StatusOK, IDNATSReach: StatusOK, IDServices: StatusOK,
		IDBusAuth: StatusOK, IDJWTStrength: StatusOK, IDConfig: StatusOK})
	if r.report.Severity != nil || len(r.report.FailConditions) != 0 {
		t.Errorf("GO with severity %v and conditions %v", r.report.Severity, r.report.FailConditions)
	}
	// The shared Redis runs without AOF: durability only warns.
	if d := r.report.check(t, IDRedisDurable); d.Status != StatusOK && d.Status != StatusWarn {
		t.Errorf("bus.redis_durability %s", d.Status)
	}
	// --fail-on-warning turns warnings into NO-GO.
	r = runJSON(t, goEnv(redisAddr(t), natsURLOf(ns)), "--timeout", "2s", "--fail-on-warning")
	if r.code != ExitNoGo {
		t.Errorf("--fail-on-warning with warnings: exit %d", r.code)
	}
}

func TestVector08SchemaStrict(t *testing.T) {
	r := runJSON(t, []string{"ARQON_SCHEMA_STRICT=false", deadNATS(t)}, "--timeout", "200ms")
	if c := r.report.check(t, IDSchemaStrict); c.Status != StatusFail {
		t.Errorf("ARQON_SCHEMA_STRICT=false: %s", c.Status)
	}
	r = runJSON(t, []string{"ARQON_SCHEMA_STRICT=false", "ARQON_SCHEMA_STRICT_EXCEPTION=SEC-123", deadNATS(t)}, "--timeout", "200ms")
	if c := r.report.check(t, IDSchemaStrict); c.Status != StatusWarn || !strings.Contains(c.Detail, "SEC-123") {
		t.Errorf("with exception: %s %q", c.Status, c.Detail)
	}
}

func TestVector09CatalogOrderAndSkips(t *testing.T) {
	r := runJSON(t, []string{deadNATS(t)}, "--timeout", "200ms")
	if r.report.Schema != Schema || r.report.Verdict == "" {
		t.Fatalf("schema %q verdict %q", r.report.Schema, r.report.Verdict)
	}
	var ids []string
	for _, c := range r.report.Checks {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, catalogOrder) {
		t.Fatalf("check order\n got %v\nwant %v", ids, catalogOrder)
	}
	for _, c := range r.report.Checks[len(catalogOrder)-11:] {
		if c.Status != StatusSkip || c.Detail != "not requested" {
			t.Errorf("%s: %s %q, want skip \"not requested\"", c.ID, c.Status, c.Detail)
		}
	}
	// --component leaves the other side out, listed as not requested.
	r = runJSON(t, []string{deadNATS(t)}, "--timeout", "200ms", "--component", "bus")
	if c := r.report.check(t, IDJWTSecret); c.Status != StatusSkip || c.Detail != "not requested" {
		t.Errorf("--component bus: shield.jwt_secret %s %q", c.Status, c.Detail)
	}
	if len(r.report.Checks) != len(catalogOrder) {
		t.Errorf("%d checks with --component bus", len(r.report.Checks))
	}
}

func TestVector10IncidentFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "incidents")
	env := []string{"JWT_SECRET=arqon-dev-secret", "ARQONBUS_AUTH_JWT_SECRET=" + busSecret,
		"ARQONBUS_REDIS_URL=redis://:" + adminKey + "@" + closedAddr(t) + "/0", deadNATS(t)}
	r := runJSON(t, env, "--timeout", "300ms", "--incident-dir", dir)
	if r.code != ExitNoGo {
		t.Fatalf("exit %d", r.code)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("incident dir: %v %v", err, st)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "incident-*"))
	if len(files) != 2 || r.report.Incident == "" || !slices.Contains(files, r.report.Incident) {
		t.Fatalf("files %v, report incident %q", files, r.report.Incident)
	}
	var in Incident
	for _, f := range files {
		st, _ := os.Stat(f)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, st.Mode())
		}
		b, _ := os.ReadFile(f)
		for _, s := range []string{busSecret, adminKey} {
			if strings.Contains(string(b), s) {
				t.Errorf("%s contains a secret", f)
			}
		}
		if strings.HasSuffix(f, ".json") {
			if err := jsonUnmarshal(b, &in); err != nil {
				t.Fatal(err)
			}
		}
	}
	if in.Commit.Binary == "" || len(in.Command.Argv) < 2 || in.Command.Argv[1] != "preflight" {
		t.Errorf("commit %q argv %v", in.Commit.Binary, in.Command.Argv)
	}
	if in.Environment.Vars["JWT_SECRET"] != "<set, 16 bytes>" || in.Environment.Vars["ARQONBUS_AUTH_JWT_SECRET"] != "<set, 40 bytes>" {
		t.Errorf("env snapshot %v", in.Environment.Vars)
	}
	if !strings.Contains(in.Environment.Vars["ARQONBUS_REDIS_URL"], ":***@") {
		t.Errorf("redis url in snapshot %q", in.Environment.Vars["ARQONBUS_REDIS_URL"])
	}
	if in.Severity == nil || *in.Severity != SevBlocker || !slices.Contains(in.Classification, ClassConfig) || len(in.Failing) == 0 {
		t.Errorf("severity %v classes %v failing %d", in.Severity, in.Classification, len(in.Failing))
	}
	for _, c := range in.Failing {
		if c.Class == "" || c.Severity == "" || c.Detail == "" {
			t.Errorf("incomplete failing check %+v", c)
		}
	}
	// A GO-less run without --always-record writes nothing extra; with it, a GO
	// run records too (checked here on a NO-GO, which always records).
	if r := runCLI(t, nil, "--incident-dir", "/proc/forbidden/x"); r.code != ExitUsage || !strings.HasPrefix(r.stderr, "arqonbus: ") {
		t.Errorf("uncreatable incident dir: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestVector13UnparsableValues(t *testing.T) {
	r := runJSON(t, []string{"ARQONBUS_RATE_LIMIT_BURST=abc", "JWT_SECRET=" + strongSecret, deadNATS(t)}, "--timeout", "200ms")
	c := r.report.check(t, IDConfig)
	if c.Status != StatusFail || c.Detail != `configuration invalid: ARQONBUS_RATE_LIMIT_BURST: invalid integer "abc"` {
		t.Errorf("pre.config %s %q", c.Status, c.Detail)
	}
	if len(r.report.Checks) != len(catalogOrder) || r.report.status(t, IDJWTSecret) != StatusOK {
		t.Errorf("other checks not reported with their own status")
	}
	r = runJSON(t, []string{"ARQONBUS_SERVER_PORT=abc", "JWT_SECRET=" + strongSecret, deadNATS(t)}, "--timeout", "200ms")
	if c := r.report.check(t, IDServerPort); c.Status != StatusFail || c.Detail != `ARQONBUS_SERVER_PORT: invalid integer "abc"` {
		t.Errorf("bus.server_port %s %q", c.Status, c.Detail)
	}
	if r.report.status(t, IDConfig) != StatusOK {
		t.Errorf("pre.config %s", r.report.status(t, IDConfig))
	}
	// Owned problems fail whatever the profile, and an unparsable profile variable is pre.config's.
	r = runJSON(t, []string{"ARQONBUS_SERVER_PORT=abc", deadNATS(t)}, "--profile", "development", "--timeout", "200ms")
	if r.report.status(t, IDServerPort) != StatusFail {
		t.Errorf("development: bus.server_port %s", r.report.status(t, IDServerPort))
	}
	r = runJSON(t, []string{"ARQONBUS_ENVIRONMENT=qa", "ARQONBUS_VALKEY_URL=ftp://x", deadNATS(t)}, "--timeout", "200ms")
	if r.report.status(t, IDConfig) != StatusFail || r.report.status(t, IDRedisURL) != StatusFail || r.report.Profile != "production" {
		t.Errorf("bad profile and alias: pre.config %s, bus.redis_url %s, profile %s",
			r.report.status(t, IDConfig), r.report.status(t, IDRedisURL), r.report.Profile)
	}
}

func TestVector14EphemeralPort(t *testing.T) {
	r := runJSON(t, []string{"ARQONBUS_SERVER_PORT=0", deadNATS(t)}, "--timeout", "200ms")
	if c := r.report.check(t, IDServerPort); c.Status != StatusWarn || !strings.Contains(c.Detail, "ephemeral port") {
		t.Errorf("bus.server_port %s %q", c.Status, c.Detail)
	}
}

func TestVector15AuthOff(t *testing.T) {
	for host, want := range map[string]Status{"0.0.0.0": StatusFail, "127.0.0.1": StatusWarn} {
		r := runJSON(t, []string{"ARQONBUS_ENABLE_AUTH=false", "ARQONBUS_SERVER_HOST=" + host, deadNATS(t)}, "--timeout", "200ms")
		if got := r.report.status(t, IDBusAuth); got != want {
			t.Errorf("host %s: bus.auth %s, want %s", host, got, want)
		}
	}
	// Auth on with a short or default secret fails in production.
	r := runJSON(t, []string{"ARQONBUS_ENABLE_AUTH=true", "ARQONBUS_AUTH_JWT_SECRET=short", deadNATS(t)}, "--timeout", "200ms")
	if r.report.status(t, IDBusAuth) != StatusFail {
		t.Errorf("short bus secret: %s", r.report.status(t, IDBusAuth))
	}
}

func TestVector16StrictRedisDownIsAlwaysAFailCondition(t *testing.T) {
	for _, profile := range []string{"production", "development"} {
		r := runJSON(t, []string{"ARQONBUS_STORAGE_MODE=strict", "ARQONBUS_REDIS_URL=redis://" + closedAddr(t) + "/0", deadNATS(t)},
			"--profile", profile, "--timeout", "300ms")
		if !slices.Contains(r.report.FailConditions, "Storage mode strict with Redis unavailable") {
			t.Errorf("%s: fail conditions %v", profile, r.report.FailConditions)
		}
	}
	// A softened warning never adds a condition: degraded mode with Redis down.
	r := runJSON(t, []string{"ARQONBUS_STORAGE_MODE=degraded", "ARQONBUS_REDIS_URL=redis://" + closedAddr(t) + "/0", deadNATS(t)},
		"--profile", "development", "--timeout", "300ms")
	if r.report.status(t, IDRedisReach) != StatusWarn || slices.Contains(r.report.FailConditions, "Storage mode strict with Redis unavailable") {
		t.Errorf("degraded: %s %v", r.report.status(t, IDRedisReach), r.report.FailConditions)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--format", "yaml"}, {"--timeout", "soon"}, {"--timeout", "0"}, {"--component", "db"},
		{"--bus-http-url", "ftp://x"}, {"--shield-url", "http://x/ws"}, {"--profile", "qa"}, {"--nope"}, {"extra"},
	} {
		r := runCLI(t, nil, args...)
		if r.code != ExitUsage || r.stdout != "" || !strings.HasPrefix(r.stderr, "arqonbus: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d stdout %q stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	r := runCLI(t, nil, "--help")
	if r.code != ExitGo || !strings.Contains(r.stdout, "--incident-dir") || !strings.Contains(r.stdout, "ARQONBUS_PREFLIGHT_INCIDENT_DIR") {
		t.Errorf("--help: exit %d\n%s", r.code, r.stdout)
	}
}
