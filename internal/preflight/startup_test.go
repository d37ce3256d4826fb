package preflight

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/arqonbus/arqonbus/internal/config"
)

func mustLoad(t *testing.T, cmd config.Command, env ...string) *config.Config {
	t.Helper()
	cfg, err := config.Load(cmd, nil, env)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return cfg
}

func TestVector11StartupRefusesWithoutCoreVariables(t *testing.T) {
	cfg := mustLoad(t, config.CommandServe, "ARQONBUS_ENVIRONMENT=production")
	if !StartupRequired(cfg) {
		t.Fatal("StartupRequired(production) = false")
	}
	err := Startup(cfg, "bus")
	if err == nil {
		t.Fatal("startup preflight passed")
	}
	msg := err.Error()
	want := "Startup preflight failed: Missing required environment variable in strict preflight: ARQONBUS_SERVER_HOST; " +
		"Missing required environment variable in strict preflight: ARQONBUS_SERVER_PORT; " +
		"Missing required environment variable in strict preflight: ARQONBUS_STORAGE_MODE"
	if !strings.HasPrefix(msg, want) || strings.Contains(msg, "\n") {
		t.Errorf("got  %q\nwant prefix %q", msg, want)
	}
}

func TestStartupRequired(t *testing.T) {
	if StartupRequired(mustLoad(t, config.CommandServe)) {
		t.Error("plain development start requires the startup preflight")
	}
	if !StartupRequired(mustLoad(t, config.CommandServe, "ARQONBUS_PREFLIGHT_STRICT=true")) {
		t.Error("ARQONBUS_PREFLIGHT_STRICT=true does not require it")
	}
	if !StartupRequired(mustLoad(t, config.CommandServe, "ARQONBUS_ENVIRONMENT=staging")) {
		t.Error("staging does not require it")
	}
}

func TestVector14StartupEphemeralPortOnlyWarns(t *testing.T) {
	cfg := mustLoad(t, config.CommandServe, "ARQONBUS_PREFLIGHT_STRICT=true", "ARQONBUS_SERVER_HOST=127.0.0.1",
		"ARQONBUS_SERVER_PORT=0", "ARQONBUS_STORAGE_MODE=degraded", "ARQONBUS_TELEMETRY_HOST=127.0.0.1", "ARQONBUS_TELEMETRY_PORT=0",
		"ARQONBUS_HTTP_PORT=0")
	var logs bytes.Buffer
	err := StartupContext(context.Background(), cfg, "bus", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("startup refused: %v", err)
	}
	if !strings.Contains(logs.String(), "ephemeral port") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("warnings not logged: %s", logs.String())
	}
}

func TestStartupStrictStorage(t *testing.T) {
	core := []string{"ARQONBUS_ENVIRONMENT=production", "ARQONBUS_SERVER_HOST=127.0.0.1", "ARQONBUS_SERVER_PORT=9100",
		"ARQONBUS_TELEMETRY_HOST=127.0.0.1", "ARQONBUS_TELEMETRY_PORT=8081", "ARQONBUS_STORAGE_MODE=strict"}
	dead := closedAddr(t)
	cfg := mustLoad(t, config.CommandServe, append(core, "ARQONBUS_REDIS_URL=redis://:pw-hunter2@"+dead+"/0")...)
	err := Startup(cfg, "bus")
	want := "Startup preflight failed: Storage mode 'strict' requires a reachable Redis/Valkey at redis://:***@" + dead + "/0: "
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("got %v\nwant prefix %q", err, want)
	}
	cfg = mustLoad(t, config.CommandServe, append(core, "ARQONBUS_STORAGE_BACKEND=redis")...)
	if err := Startup(cfg, "bus"); err == nil || err.Error() != "Startup preflight failed: Storage mode 'strict' requires ARQONBUS_REDIS_URL or ARQONBUS_REDIS_HOST" {
		t.Errorf("no address: %v", err)
	}
}

func TestStartupStrictInDevelopmentAppliesStagingRules(t *testing.T) {
	// Auth off on a public host: a warning in a development report, but the
	// strict startup preflight applies the staging rules and refuses.
	cfg := mustLoad(t, config.CommandServe, "ARQONBUS_PREFLIGHT_STRICT=true", "ARQONBUS_SERVER_HOST=0.0.0.0",
		"ARQONBUS_SERVER_PORT=9100", "ARQONBUS_STORAGE_MODE=degraded", "ARQONBUS_TELEMETRY_HOST=127.0.0.1", "ARQONBUS_TELEMETRY_PORT=8081")
	err := Startup(cfg, "bus")
	if err == nil || !strings.Contains(err.Error(), "authentication off") {
		t.Errorf("got %v", err)
	}
}

func TestStartupShield(t *testing.T) {
	ns := startNATS(t)
	base := []string{"ARQONBUS_ENVIRONMENT=production", "JWT_SECRET=" + strongSecret}
	cfg := mustLoad(t, config.CommandShield, append(base, "NATS_URL="+natsURLOf(ns))...)
	if err := Startup(cfg, "shield"); err != nil {
		t.Errorf("healthy shield refused: %v", err)
	}
	cfg = mustLoad(t, config.CommandShield, append(base, "NATS_URL=nats://"+closedAddr(t), "ARQON_SCHEMA_STRICT=false")...)
	err := Startup(cfg, "shield")
	if err == nil || !strings.HasPrefix(err.Error(), StartupPrefix+"NATS at nats://") || !strings.Contains(err.Error(), "; ARQON_SCHEMA_STRICT=false without an approved exception") {
		t.Errorf("got %v", err)
	}
	if Startup(cfg, "db") == nil {
		t.Error("unknown component accepted")
	}
}
