package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// loadErr loads and returns the configuration error text ("" when valid).
func loadErr(t *testing.T, cmd Command, args []string, env ...string) string {
	t.Helper()
	_, err := Load(cmd, args, env)
	if err == nil {
		return ""
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Load: %T %v, want *Errors", err, err)
	}
	return err.Error()
}

func mustLoad(t *testing.T, cmd Command, args []string, env ...string) *Config {
	t.Helper()
	c, err := Load(cmd, args, env)
	if err != nil {
		t.Fatalf("Load(%v, %q, %q): %v", cmd, args, env, err)
	}
	return c
}

func TestAdversarialValueTypes(t *testing.T) {
	const p = "Invalid configuration: "
	tests := []struct {
		name string
		env  string
		want string // "" = accepted
	}{
		{"bool yes", "ARQONBUS_COMPRESSION=YES", ""},
		{"bool off", "ARQONBUS_COMPRESSION=off", ""},
		{"bool bad", "ARQONBUS_COMPRESSION=maybe", p + `ARQONBUS_COMPRESSION: invalid boolean "maybe" (expected one of true, false, 1, 0, yes, no, on, off)`},
		{"int ok", "ARQONBUS_SERVER_PORT= 9200 ", ""},
		{"int bad", "ARQONBUS_SERVER_PORT=abc", p + `ARQONBUS_SERVER_PORT: invalid integer "abc"`},
		{"int separator", "ARQONBUS_MAX_CONNECTIONS=1_000", p + `ARQONBUS_MAX_CONNECTIONS: invalid integer "1_000"`},
		{"int plus", "ARQONBUS_MAX_CONNECTIONS=+5", p + `ARQONBUS_MAX_CONNECTIONS: invalid integer "+5"`},
		{"int range", "ARQONBUS_SERVER_PORT=70000", p + `ARQONBUS_SERVER_PORT: must be between 0 and 65535 (got 70000)`},
		{"int negative", "ARQONBUS_SERVER_PORT=-1", p + `ARQONBUS_SERVER_PORT: must be between 0 and 65535 (got -1)`},
		{"int huge", "ARQONBUS_SERVER_PORT=99999999999999999999999", p + `ARQONBUS_SERVER_PORT: must be between 0 and 65535 (got 99999999999999999999999)`},
		{"int open range", "ARQONBUS_RATE_LIMIT_BURST=0", p + `ARQONBUS_RATE_LIMIT_BURST: must be >= 1 (got 0)`},
		{"number ok", "ARQONBUS_RATE_LIMIT_PER_SECOND=2.5", ""},
		{"number bad", "ARQONBUS_RATE_LIMIT_PER_SECOND=fast", p + `ARQONBUS_RATE_LIMIT_PER_SECOND: invalid number "fast"`},
		{"number inf", "ARQONBUS_RATE_LIMIT_PER_SECOND=inf", p + `ARQONBUS_RATE_LIMIT_PER_SECOND: invalid number "inf"`},
		{"number range", "ARQONBUS_RATE_LIMIT_PER_SECOND=-0.5", p + `ARQONBUS_RATE_LIMIT_PER_SECOND: must be >= 0 (got -0.5)`},
		{"duration go", "ARQONBUS_PING_INTERVAL=1m30s", ""},
		{"duration seconds", "ARQONBUS_PING_INTERVAL=2.5", ""},
		{"duration bad", "ARQONBUS_PING_INTERVAL=soon", p + `ARQONBUS_PING_INTERVAL: invalid duration "soon" (use e.g. 500ms, 5s or a number of seconds)`},
		{"duration negative seconds", "ARQONBUS_PING_INTERVAL=-5", p + `ARQONBUS_PING_INTERVAL: invalid duration "-5" (use e.g. 500ms, 5s or a number of seconds)`},
		{"duration range", "ARQONBUS_PING_INTERVAL=10m", p + `ARQONBUS_PING_INTERVAL: must be between 1s and 5m (got 10m)`},
		{"duration range low", "ARQONBUS_STORAGE_TIMEOUT=50ms", p + `ARQONBUS_STORAGE_TIMEOUT: must be between 100ms and 30s (got 50ms)`},
		{"enum case", "ARQONBUS_STORAGE_MODE=DEGRADED", ""},
		{"enum bad lists canonical only", "ARQONBUS_LOG_LEVEL=verbose", p + `ARQONBUS_LOG_LEVEL: invalid value "verbose" (expected one of: debug, info, warn, error)`},
		{"enum env alias", "ARQONBUS_ENVIRONMENT=Prod", ""},
		{"enum env bad", "ARQONBUS_ENVIRONMENT=qa", p + `ARQONBUS_ENVIRONMENT: invalid value "qa" (expected one of: development, staging, production)`},
		{"backend bad", "ARQONBUS_STORAGE_BACKEND=postgres", p + `Unsupported storage backend: postgres. Expected one of: memory, redis, valkey`},
		{"list json bad", "ARQONBUS_HTTP_CORS_ORIGINS=[1,2]", p + `ARQONBUS_HTTP_CORS_ORIGINS: invalid list (json: cannot unmarshal number into Go value of type string)`},
		{"regex bad", `ARQONBUS_CASIL_REDACTION_PATTERNS=["a(b"]`, p + `ARQONBUS_CASIL_REDACTION_PATTERNS: invalid regular expression "a(b": error parsing regexp: missing closing ): ` + "`a(b`"},
		{"glob bad", "ARQONBUS_CASIL_SCOPE_INCLUDE=science:*,[bad", p + `ARQONBUS_CASIL_SCOPE_INCLUDE: invalid glob "[bad"`},
		{"url bad scheme hides value", "ARQONBUS_REDIS_URL=http://user:hunter2@h:6379", p + `ARQONBUS_REDIS_URL: invalid URL (scheme must be redis or rediss)`},
		{"url not absolute", "ARQONBUS_OLLAMA_URL=localhost:11434", p + `ARQONBUS_OLLAMA_URL: invalid URL (scheme must be http or https)`},
		{"host bad", "ARQONBUS_SERVER_HOST=a b", p + `ARQONBUS_SERVER_HOST: invalid host "a b"`},
		{"host ipv6", "ARQONBUS_SERVER_HOST=::1", ""},
		{"empty is unset", "ARQONBUS_SERVER_PORT=   ", ""},
		{"persistence parsed", "ARQONBUS_ENABLE_PERSISTENCE=perhaps", p + `ARQONBUS_ENABLE_PERSISTENCE: invalid boolean "perhaps" (expected one of true, false, 1, 0, yes, no, on, off)`},
		{"omega room", "ARQONBUS_OMEGA_LAB_ROOM=bad room", p + `Tier-Omega lab_room must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`},
		{"omega channel", "ARQONBUS_OMEGA_LAB_CHANNEL=-x", p + `Tier-Omega lab_channel must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`},
		{"omega events", "ARQONBUS_OMEGA_MAX_EVENTS=0", p + `Tier-Omega max_events must be >= 1`},
		{"omega substrates", "ARQONBUS_OMEGA_MAX_SUBSTRATES=-3", p + `Tier-Omega max_substrates must be >= 1`},
		{"node id", "ARQONBUS_NODE_ID=node.1", p + `ARQONBUS_NODE_ID: invalid value "node.1" (must match [A-Za-z0-9_-]{1,64})`},
		{"nats url", "ARQONBUS_NATS_URL=nats://127.0.0.1:4222", p + `ARQONBUS_NATS_URL: multi-node mode is not available in this build`},
		{"nats url malformed", "ARQONBUS_NATS_URL=bogus", p + `ARQONBUS_NATS_URL: multi-node mode is not available in this build`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadErr(t, CommandServe, nil, tt.env); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParsedValues(t *testing.T) {
	c := mustLoad(t, CommandServe, nil,
		"ARQONBUS_PING_INTERVAL=2.5", "ARQONBUS_PING_TIMEOUT=1m30s",
		`ARQONBUS_CASIL_REDACTION_PATTERNS=["a{1,2}", "b"]`,
		"ARQONBUS_HTTP_CORS_ORIGINS= https://a.example , ,https://b.example ",
		"ARQONBUS_CASIL_REDACTION_PATHS=-",
		"ARQONBUS_LOG_LEVEL=WARNING", "ARQONBUS_STORAGE_BACKEND=redis_streams",
		"ARQONBUS_HISTORY_TTL=0")
	if c.Bus.PingInterval != 2500*time.Millisecond || c.Bus.PingTimeout != 90*time.Second {
		t.Errorf("durations: %v %v", c.Bus.PingInterval, c.Bus.PingTimeout)
	}
	if len(c.Bus.CASIL.RedactionPatterns) != 2 || c.Bus.CASIL.RedactionPatterns[0].String() != "a{1,2}" {
		t.Errorf("patterns: %v", c.Bus.CASIL.RedactionPatterns)
	}
	if strings.Join(c.Bus.HTTPCORSOrigins, "|") != "https://a.example|https://b.example" {
		t.Errorf("cors: %q", c.Bus.HTTPCORSOrigins)
	}
	if c.Bus.CASIL.RedactionPaths == nil || len(c.Bus.CASIL.RedactionPaths) != 0 {
		t.Errorf("'-' must be an explicitly empty list, got %#v", c.Bus.CASIL.RedactionPaths)
	}
	if c.LogLevel != "warn" || c.Bus.StorageBackend != "redis" || c.Bus.HistoryTTL != 0 {
		t.Errorf("level %q backend %q ttl %v", c.LogLevel, c.Bus.StorageBackend, c.Bus.HistoryTTL)
	}
	d := mustLoad(t, CommandServe, nil)
	if strings.Join(d.Bus.CASIL.RedactionPaths, ",") != "password,token,secret" || d.Bus.ServerPort != 9100 ||
		d.Bus.RateLimitPerSecond != 100 || d.Bus.StorageTimeout != 2*time.Second || !strings.HasPrefix(d.Bus.NodeID, "node_") || len(d.Bus.NodeID) != 17 {
		t.Errorf("defaults: %+v", d.Bus)
	}
}

func TestFlagBeatsEnvironment(t *testing.T) {
	c := mustLoad(t, CommandServe, []string{"--server-port", "9300", "-compression", "--log-level=debug"},
		"ARQONBUS_SERVER_PORT=9200", "ARQONBUS_COMPRESSION=false", "ARQONBUS_LOG_LEVEL=error")
	if c.Bus.ServerPort != 9300 || !c.Bus.Compression || c.LogLevel != "debug" {
		t.Errorf("port %d compression %v level %s", c.Bus.ServerPort, c.Bus.Compression, c.LogLevel)
	}
	if !c.Explicit["ARQONBUS_SERVER_PORT"] || c.Explicit["ARQONBUS_SERVER_HOST"] {
		t.Errorf("explicit: %v", c.Explicit)
	}
	c = mustLoad(t, CommandServe, []string{"--compression=false"}, "ARQONBUS_COMPRESSION=true")
	if c.Bus.Compression {
		t.Error("--compression=false must beat the environment")
	}
	c = mustLoad(t, CommandServe, nil, "ARQONBUS_SERVER_PORT=9200")
	if c.Bus.ServerPort != 9200 {
		t.Errorf("env port %d", c.Bus.ServerPort)
	}
}

func TestFlagErrorsNameTheFlag(t *testing.T) {
	got := loadErr(t, CommandServe, []string{"--server-port", "abc", "--compression=maybe"}, "ARQONBUS_SERVER_PORT=9200")
	want := `Invalid configuration: --server-port: invalid integer "abc"; --compression: invalid boolean "maybe" (expected one of true, false, 1, 0, yes, no, on, off)`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got = loadErr(t, CommandShield, []string{"--port=1"}, "ARQON_SHIELD_PORT=x", "JWT_SECRET=0123456789abcdef0123456789abcdef")
	if got != "" {
		t.Errorf("a valid flag must hide an invalid environment value: %s", got)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--no-such-flag"}, {"--server-port"}, {"extra"}, {"--shield-port=1"}} {
		_, err := Load(CommandServe, args, nil)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: got %T %v, want *UsageError", args, err, err)
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}} {
		if _, err := Load(CommandShield, args, nil); !errors.Is(err, ErrHelp) {
			t.Errorf("%q: got %v, want ErrHelp", args, err)
		}
	}
	_, err := Load(CommandDev, []string{"--nats-port=abc"}, nil)
	var ue *UsageError
	if !errors.As(err, &ue) {
		t.Errorf("dev --nats-port abc: %v", err)
	}
	_, err = Load(CommandPreflight, []string{"--profile=qa"}, nil)
	if !errors.As(err, &ue) {
		t.Errorf("preflight --profile qa: %v", err)
	}
}

func TestAliases(t *testing.T) {
	c := mustLoad(t, CommandServe, nil, "ARQONBUS_MAX_HISTORY_SIZE=7", "ARQONBUS_ENABLE_TELEMETRY=no")
	if c.Bus.HistorySize != 7 || c.Bus.TelemetryEnabled {
		t.Errorf("history %d telemetry %v", c.Bus.HistorySize, c.Bus.TelemetryEnabled)
	}
	if n := countWarnings(c, WarnDeprecated); n != 2 {
		t.Errorf("deprecated warnings = %d, want 2: %v", n, c.Warnings)
	}
	w := c.Warnings[0]
	if w.Attrs[0].String() != "name=ARQONBUS_MAX_HISTORY_SIZE" || w.Attrs[1].String() != "replacement=ARQONBUS_HISTORY_SIZE" {
		t.Errorf("warning attrs %v", w.Attrs)
	}

	c = mustLoad(t, CommandServe, nil, "ARQONBUS_VALKEY_URL=redis://v:6379/2", "ARQONBUS_VALKEY_PORT=7000")
	if c.Bus.RedisURL != "redis://v:6379/2" || c.Bus.StorageBackend != "redis" || c.Bus.RedisPort != 7000 || len(c.Warnings) != 0 {
		t.Errorf("valkey alias: %q %q %d %v", c.Bus.RedisURL, c.Bus.StorageBackend, c.Bus.RedisPort, c.Warnings)
	}
	if !c.Explicit["ARQONBUS_REDIS_URL"] {
		t.Error("an alias makes its canonical variable explicit")
	}

	// Same value under both names is fine.
	mustLoad(t, CommandServe, nil, "ARQONBUS_HISTORY_SIZE=9", "ARQONBUS_MAX_HISTORY_SIZE=9")

	got := loadErr(t, CommandServe, nil, "ARQONBUS_HISTORY_SIZE=9", "ARQONBUS_MAX_HISTORY_SIZE=10",
		"ARQONBUS_VALKEY_URL=redis://a:1/0", "ARQONBUS_REDIS_URL=redis://b:1/0")
	want := "Invalid configuration: ARQONBUS_VALKEY_URL and ARQONBUS_REDIS_URL are both set with different values; " +
		"ARQONBUS_MAX_HISTORY_SIZE and ARQONBUS_HISTORY_SIZE are both set with different values"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Errors from an alias name the alias.
	if got := loadErr(t, CommandServe, nil, "ARQONBUS_VALKEY_PORT=x"); got != `Invalid configuration: ARQONBUS_VALKEY_PORT: invalid integer "x"` {
		t.Error(got)
	}
}

func countWarnings(c *Config, msg string) int {
	n := 0
	for _, w := range c.Warnings {
		if w.Message == msg {
			n++
		}
	}
	return n
}

func TestUnknownVariableWarning(t *testing.T) {
	c := mustLoad(t, CommandServe, nil, "ARQONBUS_SERVR_PORT=1", "ARQON_SHIELD_PROT=2", "ARQONBUS_DEBUG=1",
		"ARQONBUS_WS_URL=ws://x", "ARQONBUS_AUTH_JWT=t", "ARQON_OTHER=1", "HOME=/root", "JWT_SECRET=x")
	var names []string
	for _, w := range c.Warnings {
		if w.Message == WarnUnknown {
			names = append(names, w.Attrs[0].Value.String())
		}
	}
	if strings.Join(names, ",") != "ARQONBUS_DEBUG,ARQONBUS_SERVR_PORT,ARQON_SHIELD_PROT" {
		t.Errorf("unknown warnings for %v", names)
	}
}

func TestPersistenceIgnoredWithWarning(t *testing.T) {
	c := mustLoad(t, CommandServe, nil, "ARQONBUS_ENABLE_PERSISTENCE=false")
	if countWarnings(c, WarnPersistenceFlag) != 1 {
		t.Errorf("warnings %v", c.Warnings)
	}
}

func TestSecretFlagWarning(t *testing.T) {
	c := mustLoad(t, CommandServe, []string{"--auth-jwt-secret=s3cr3t-value-that-is-long-enough!!", "--redis-password=pw"})
	if countWarnings(c, WarnSecretFlag) != 2 {
		t.Errorf("warnings %v", c.Warnings)
	}
	for _, w := range c.Warnings {
		for _, a := range w.Attrs {
			if strings.Contains(a.Value.String(), "s3cr3t") || a.Value.String() == "pw" {
				t.Errorf("warning leaks the secret: %v", w)
			}
		}
	}
}

func TestMirrorRules(t *testing.T) {
	base := []string{"JWT_SECRET=0123456789abcdef0123456789abcdef"}
	bad := map[string]string{
		"a..b=1":     `"a..b=1": empty subject token`,
		"a.>.b=1":    `"a.>.b=1": '>' must be the last token`,
		"a.b*=1":     `"a.b*=1": wildcard must be a whole token`,
		"in.t.>=101": `"in.t.>=101": percent must be between 0 and 100`,
		"in.t.>":     `"in.t.>": missing '='`,
	}
	for in, want := range bad {
		got := loadErr(t, CommandShield, nil, append(base, "ARQON_SHIELD_MIRROR_RULES="+in)...)
		if got != "Invalid configuration: ARQON_SHIELD_MIRROR_RULES: invalid rule "+want {
			t.Errorf("%s: %s", in, got)
		}
	}
	c := mustLoad(t, CommandShield, nil, append(base, "ARQON_SHIELD_MIRROR_RULES=in.t.*.raw=10, in.t.>=2.5")...)
	cases := map[string]float64{"in.t.a.raw": 10, "in.t.a.b": 2.5}
	for subj, want := range cases {
		if got, ok := MirrorPercent(c.Shield.MirrorRules, subj); !ok || got != want {
			t.Errorf("%s: %v %v", subj, got, ok)
		}
	}
	if _, ok := MirrorPercent(c.Shield.MirrorRules, "in.t"); ok {
		t.Error("in.t.> must not match in.t")
	}
	if (MirrorRule{Pattern: "in.t.*"}).Matches("in.t.a.raw") {
		t.Error("in.t.* must not match in.t.a.raw")
	}
	d := mustLoad(t, CommandShield, nil, base...)
	if len(d.Shield.MirrorRules) != 1 || d.Shield.MirrorRules[0].String() != "in.t.>=0" {
		t.Errorf("default mirror rules %v", d.Shield.MirrorRules)
	}
}
