package preflight

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/shield"
)

// fakeBus serves /health and /ready like the bus's HTTP ops API
// (OPERATIONS.md §6.3) and a telemetry WebSocket that requires an
// operator-admin token and sends telemetry_connected (§7.1).
func fakeBus(t *testing.T, secret string) (httpURL, telemetryURL string) {
	t.Helper()
	ops := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			_, _ = w.Write([]byte(`{"status":"healthy","service":"arqonbus","timestamp":"2026-01-01T00:00:00.000Z"}`))
		case "/ready":
			_, _ = w.Write([]byte(`{"status":"ready","checks":{}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ops.Close)
	verifier, err := auth.NewVerifier(auth.Config{Algorithm: "HS256", Secret: []byte(secret), RequireExp: true})
	if err != nil {
		t.Fatal(err)
	}
	up := websocket.Upgrader{}
	tel := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _, err := auth.Locate(r, auth.Sources{Header: true})
		if err != nil {
			http.Error(w, `{"error":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		id, err := verifier.Verify(tok, time.Now())
		if err != nil || id.Role != "admin" || id.HasTenant {
			http.Error(w, `{"error":"Forbidden","details":"Operator admin role required"}`, http.StatusForbidden)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"event_type":"telemetry_connected","message":"Connected to ArqonBus telemetry"}`))
		_, _, _ = c.ReadMessage()
	}))
	t.Cleanup(tel.Close)
	return ops.URL, "ws" + strings.TrimPrefix(tel.URL, "http") + "/"
}

// startShield runs a real Shield gateway on free ports against nats.
func startShield(t *testing.T, natsURL, secret string) string {
	t.Helper()
	opts := shield.DefaultOptions()
	opts.JWTSecret, opts.NATSURL, opts.Port, opts.MetricsPort = secret, natsURL, 0, 0
	g, err := shield.New(opts, nil)
	if err != nil {
		t.Fatalf("shield.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-g.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("shield not ready")
	}
	return "ws://" + g.Addr() + "/ws"
}

func TestIntegrationVector12RuntimeChecks(t *testing.T) {
	ns := startNATS(t)
	httpURL, telURL := fakeBus(t, busSecret)
	shieldURL := startShield(t, natsURLOf(ns), strongSecret)
	env := append(goEnv(redisAddr(t), natsURLOf(ns)), "ARQONBUS_AUTH_JWT_SECRET="+busSecret)
	args := []string{"--runtime", "--timeout", "3s", "--bus-http-url", httpURL, "--telemetry-url", telURL, "--shield-url", shieldURL}
	r := runJSON(t, env, args...)
	expectStatus(t, r, map[string]Status{IDBusHealth: StatusOK, IDTelemetryWS: StatusOK, IDShieldNoTok: StatusOK, IDShieldRoute: StatusOK})
	if r.code != ExitGo {
		t.Errorf("exit %d", r.code)
	}

	// Shield stopped: both Shield checks fail, the others still pass, and
	// the runtime failure is an immediate-stop condition.
	dead := "ws://" + closedAddr(t) + "/ws"
	args[len(args)-1] = dead
	r = runJSON(t, env, args...)
	expectStatus(t, r, map[string]Status{IDBusHealth: StatusOK, IDTelemetryWS: StatusOK, IDShieldNoTok: StatusFail, IDShieldRoute: StatusFail})
	if c := r.report.check(t, IDShieldRoute); !strings.Contains(c.Detail, "step connect Shield") {
		t.Errorf("detail does not name the step: %q", c.Detail)
	}
	if r.code != ExitNoGo || len(r.report.FailConditions) == 0 {
		t.Errorf("exit %d conditions %v", r.code, r.report.FailConditions)
	}

	// A wrong JWT_SECRET: the handshake is refused and the step says so.
	env2 := setEnv(goEnv(redisAddr(t), natsURLOf(ns)), "JWT_SECRET", "another-secret-0123456789abcdefghijklmnop")
	args[len(args)-1] = shieldURL
	r = runJSON(t, env2, args...)
	if c := r.report.check(t, IDShieldRoute); c.Status != StatusFail || !strings.Contains(c.Detail, "HTTP 401") {
		t.Errorf("wrong secret: %s %q", c.Status, c.Detail)
	}
}

func TestRuntimeChecksAgainstNothing(t *testing.T) {
	dead := closedAddr(t)
	r := runJSON(t, []string{deadNATS(t), "ARQONBUS_ENABLE_AUTH=false"}, "--runtime", "--timeout", "300ms",
		"--bus-http-url", "http://"+dead, "--telemetry-url", "ws://"+dead+"/", "--shield-url", "ws://"+dead+"/ws")
	expectStatus(t, r, map[string]Status{IDBusHealth: StatusFail, IDTelemetryWS: StatusFail, IDShieldNoTok: StatusFail, IDShieldRoute: StatusFail})
	// Runtime checks never soften, even in development.
	r = runJSON(t, []string{deadNATS(t)}, "--profile", "development", "--runtime", "--timeout", "300ms",
		"--bus-http-url", "http://"+dead)
	if r.report.status(t, IDBusHealth) != StatusFail {
		t.Errorf("development: runtime.bus_health %s", r.report.status(t, IDBusHealth))
	}
}

func TestRuntimeShieldAcceptingWithoutTokenFails(t *testing.T) {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err == nil {
			c.Close()
		}
	}))
	defer srv.Close()
	res := shieldRejectsMissingToken(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", time.Second)
	if res.Status != StatusFail || !strings.Contains(res.Detail, "accepted an upgrade without a token") {
		t.Errorf("%s %q", res.Status, res.Detail)
	}
}

func TestDefaultRuntimeURLs(t *testing.T) {
	l, err := loadConfig(nil, []string{"ARQONBUS_HTTP_HOST=0.0.0.0", "ARQONBUS_HTTP_PORT=18080",
		"ARQONBUS_TELEMETRY_HOST=::", "ARQON_SHIELD_HOST=10.0.0.5", "ARQON_SHIELD_PORT=4001"})
	if err != nil {
		t.Fatal(err)
	}
	u := newRules(l).defaultURLs()
	if u.BusHTTP != "http://127.0.0.1:18080" || u.Telemetry != "ws://127.0.0.1:8081/" || u.Shield != "ws://10.0.0.5:4001/ws" {
		t.Errorf("%+v", u)
	}
}
