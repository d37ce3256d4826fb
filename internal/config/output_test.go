package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/arqonbus/arqonbus/internal/redact"
)

func flagSetFor(cmd Command) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd.String(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestFlagNames(t *testing.T) {
	for _, tt := range []struct {
		cmd  Command
		name string
		want string
	}{
		{CommandServe, "ARQONBUS_SERVER_PORT", "server-port"},
		{CommandServe, "ARQONBUS_ENVIRONMENT", "environment"},
		{CommandShield, "ARQON_SHIELD_PORT", "port"},
		{CommandShield, "ARQON_SCHEMA_STRICT", "schema-strict"},
		{CommandShield, "JWT_SECRET", "jwt-secret"},
		{CommandShield, "NATS_URL", "nats-url"},
		{CommandShield, "POLICY_WASM_PATH", "policy-wasm-path"},
		{CommandShield, "JWT_SKIP_VALIDATION", ""},
		{CommandShield, "ARQONBUS_SERVER_PORT", ""},
		{CommandServe, "ARQONBUS_NATS_URL", "nats-url"},
		{CommandDev, "ARQONBUS_NATS_URL", ""},
		{CommandDev, "NATS_URL", "nats-url"},
		{CommandDev, "ARQON_SHIELD_MAX_CONNECTIONS", "shield-max-connections"},
		{CommandDev, "ARQONBUS_MAX_CONNECTIONS", "max-connections"},
		{CommandPreflight, "ARQONBUS_ENVIRONMENT", "profile"},
		{CommandPreflight, "ARQONBUS_SERVER_PORT", ""},
		{CommandServe, "ARQONBUS_WS_URL", ""},
		{CommandServe, "ARQONBUS_PREFLIGHT_INCIDENT_DIR", ""},
	} {
		if got := flagName(varsByName[tt.name], tt.cmd); got != tt.want {
			t.Errorf("%v %s: %q, want %q", tt.cmd, tt.name, got, tt.want)
		}
	}
	// Binding never panics on a duplicate name, for every command.
	for _, cmd := range []Command{CommandServe, CommandShield, CommandDev, CommandPreflight} {
		BindFlags(cmd, flagSetFor(cmd))
	}
}

func TestTableConsistency(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range vars {
		if seen[v.name] {
			t.Errorf("duplicate %s", v.name)
		}
		seen[v.name] = true
		if v.secret != redact.IsSecretName(v.name) {
			t.Errorf("%s: secret flag %v disagrees with OPERATIONS.md §4.14", v.name, v.secret)
		}
		if v.def != "" && v.scope != scopeClient {
			if _, msgs := parseValue(v, v.name, v.def); msgs != nil {
				t.Errorf("%s: default does not parse: %v", v.name, msgs)
			}
		}
	}
}

func TestSnapshotAndLogRedaction(t *testing.T) {
	secrets := []string{"bus-secret-value-0123456789abcdef", "admin-key-value-xyz", "redis-pass-qwe", "urlpass-zzz", goodSecret}
	env := []string{
		"ARQONBUS_AUTH_JWT_SECRET=" + secrets[0], "ARQONBUS_ENABLE_AUTH=true", "ARQONBUS_ADMIN_API_KEY=" + secrets[1],
		"ARQONBUS_REDIS_PASSWORD=" + secrets[2], "ARQONBUS_OLLAMA_URL=http://u:" + secrets[3] + "@o:11434/?token=" + secrets[3],
		"JWT_SECRET=" + secrets[4], "ARQONBUS_HISTORY_TTL=90s",
	}
	for _, cmd := range []Command{CommandServe, CommandDev, CommandPreflight} {
		c := mustLoad(t, cmd, nil, env...)
		snap := c.Snapshot()
		js, err := json.Marshal(snap)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).LogAttrs(t.Context(), slog.LevelInfo, "configuration loaded", c.LogAttrs()...)
		for _, s := range secrets {
			if strings.Contains(string(js), s) || strings.Contains(buf.String(), s) {
				t.Errorf("%v: secret %q leaked", cmd, s)
			}
		}
		if snap["ARQONBUS_AUTH_JWT_SECRET"] != "***" || snap["ARQONBUS_HISTORY_TTL"] != 90.0 || snap["ARQONBUS_PING_INTERVAL"] != 20.0 {
			t.Errorf("%v: snapshot %v %v", cmd, snap["ARQONBUS_AUTH_JWT_SECRET"], snap["ARQONBUS_HISTORY_TTL"])
		}
		if snap["ARQONBUS_OLLAMA_URL"] != "http://u:***@o:11434/?token=REDACTED" {
			t.Errorf("ollama url %v", snap["ARQONBUS_OLLAMA_URL"])
		}
		if !strings.Contains(buf.String(), `"ARQONBUS_ADMIN_API_KEY":"set"`) || !strings.Contains(buf.String(), `"ARQONBUS_PING_INTERVAL":"20s"`) {
			t.Errorf("log line %s", buf.String())
		}
	}
	c := mustLoad(t, CommandServe, nil)
	snap := c.Snapshot()
	if v, ok := snap["ARQONBUS_ADMIN_API_KEY"]; !ok || v != nil {
		t.Errorf("unset secret must be null, got %v", v)
	}
	if _, ok := snap["JWT_SECRET"]; ok {
		t.Error("serve's snapshot has no Shield variables")
	}
	sh := mustLoad(t, CommandShield, nil, "JWT_SECRET="+goodSecret, "NATS_URL=nats://user:pw@n:4222", "JWT_SKIP_VALIDATION=")
	ss := sh.Snapshot()
	if ss["JWT_SECRET"] != "***" || ss["JWT_SKIP_VALIDATION"] != true || ss["ARQON_SHIELD_JWT_LEEWAY"] != 5.0 {
		t.Errorf("shield snapshot %v", ss)
	}
	if u := ss["NATS_URL"].([]string); u[0] != "nats://user:***@n:4222" {
		t.Errorf("nats url %v", u)
	}
}

func TestUsageText(t *testing.T) {
	u := Usage(CommandServe)
	for _, want := range []string{"--server-port INT", "(default 9100; env ARQONBUS_SERVER_PORT)", "--compression\n", "--redis-url URL"} {
		if !strings.Contains(u, want) {
			t.Errorf("serve usage lacks %q", want)
		}
	}
	d := Usage(CommandDev)
	for _, want := range []string{"--shield-port INT", "--nats-port", "--no-shield", "env ARQON_SHIELD_PORT", "(default true; env ARQONBUS_ENABLE_AUTH)"} {
		if !strings.Contains(d, want) {
			t.Errorf("dev usage lacks %q", want)
		}
	}
	if strings.Contains(Usage(CommandShield), "--server-port") {
		t.Error("shield usage lists bus flags")
	}
}

func TestConfigurationDocIsCurrent(t *testing.T) {
	const path = "../../docs/configuration.md"
	want := MarkdownReference()
	if os.Getenv("UPDATE_DOCS") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go generate ./internal/config)", err)
	}
	if string(got) != want {
		t.Errorf("docs/configuration.md is out of date; run: go generate ./internal/config")
	}
	for _, v := range vars {
		if !strings.Contains(want, "`"+v.name+"`") {
			t.Errorf("reference lacks %s", v.name)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("9100", "true", "5s", "in.t.>=5", "[\"a\"]", "redis://h:1/0")
	f.Add("-1", "maybe", "-5", "a..b=x", "[1", "::")
	f.Add("99999999999999999999", "", "1e400", "=", "-", "rediss://:pw@[::1]:1/0?token=x")
	f.Fuzz(func(t *testing.T, port, b, dur, mirror, list, u string) {
		env := []string{
			"ARQONBUS_SERVER_PORT=" + port, "ARQONBUS_COMPRESSION=" + b, "ARQONBUS_PING_INTERVAL=" + dur,
			"ARQON_SHIELD_MIRROR_RULES=" + mirror, "ARQONBUS_CASIL_REDACTION_PATTERNS=" + list,
			"ARQONBUS_CASIL_SCOPE_INCLUDE=" + list, "ARQONBUS_REDIS_URL=" + u, "NATS_URL=" + u,
			"ARQONBUS_RATE_LIMIT_PER_SECOND=" + dur, "JWT_SKIP_VALIDATION=" + b, "ARQONBUS_SERVER_HOST=" + port,
			"JWT_SECRET=" + list, "ARQONBUS_ENVIRONMENT=" + b, "ARQONBUS_OLLAMA_URL=" + u,
		}
		for _, cmd := range []Command{CommandServe, CommandShield, CommandDev, CommandPreflight} {
			c, err := Load(cmd, []string{"--log-level=" + b}, env)
			if err == nil {
				_ = c.Snapshot()
				_ = c.LogAttrs()
			} else if strings.Contains(err.Error(), ":pw@") {
				t.Fatalf("error echoes a URL password: %v", err)
			}
		}
	})
}
