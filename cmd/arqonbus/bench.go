package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bench"
)

func init() {
	commands["bench"] = command{"Load generator: fan-out, connections, strict storage, Shield (loopback only)", runBench}
}

// Bounds of CLI.md §11.
const (
	benchMaxDuration = 10 * time.Minute
	benchMaxConns    = 20000
	benchMaxRate     = 1_000_000
	benchMaxPayload  = 1_000_000
)

const (
	defaultShieldURL = "ws://127.0.0.1:4000/ws"
	defaultNATSURL   = "nats://127.0.0.1:4222"
	envNATSURL       = "NATS_URL"
)

// benchOptions are the parsed flags of `arqonbus bench`.
type benchOptions struct {
	scenario                          string
	wsURL, httpURL, token             string
	shieldURL, natsURL                string
	natsSet                           bool
	rooms, subs, pubs, payload, conns int
	rates                             []float64
	warmup, duration, drain, hold     time.Duration
	batch, json                       bool
	serverPID                         int
	metricsURL                        string
}

// parseBenchArgs parses and validates the flags (every check that needs no
// network). help is true for --help; err is a usage error.
func parseBenchArgs(args []string) (*clientFlags, *benchOptions, bool, error) {
	f := newClientFlags("bench", "Drives running services on this host with a measured workload and reports offered vs delivered\n"+
		"messages/s, latency percentiles from each message's intended send time, drops, errors and, with\n"+
		"--server-pid or --metrics-url, the server's CPU and RSS. Scenarios: fanout (default), connect,\n"+
		"strict, shield. Every target must be a loopback address. The default server limits are below what\n"+
		"load needs: run the bus with ARQONBUS_RATE_LIMIT_PER_SECOND=0 (and ARQONBUS_MAX_CONNECTIONS raised).")
	o := &benchOptions{scenario: bench.ScenarioFanout, rooms: 10, subs: 100, pubs: 1, payload: 200, conns: 1000,
		rates: []float64{10}, warmup: 3 * time.Second, duration: 10 * time.Second, drain: 2 * time.Second, hold: 10 * time.Second}
	f.custom("scenario", "", func(s string) error {
		switch s {
		case bench.ScenarioFanout, bench.ScenarioConnect, bench.ScenarioStrict, bench.ScenarioShield:
			o.scenario = s
			return nil
		}
		return errors.New("must be fanout, connect, strict or shield")
	}, flagDoc{arg: "NAME", def: "fanout", usage: "Workload: fanout, connect, strict or shield"})
	f.str(&o.wsURL, "ws-url", "", defaultWSURL, envWSURL, "URL", "Bus WebSocket URL")
	f.str(&o.httpURL, "http-url", "", defaultHTTPURL, envHTTPURL, "URL", "Bus ops API base URL (strict checks /status)")
	f.str(&o.token, "token", "jwt", "", envJWT, "TOKEN", "Bearer token for every connection; shield mints one from JWT_SECRET when unset")
	f.str(&o.shieldURL, "shield-url", "", defaultShieldURL, "", "URL", "Shield WebSocket URL")
	f.custom("nats-url", "", func(s string) error { o.natsURL, o.natsSet = s, true; return nil },
		flagDoc{arg: "URL", def: defaultNATSURL, env: envNATSURL, usage: "NATS server; when given, shield also measures arrivals on in.t.<tenant>.raw"})
	o.natsURL = defaultNATSURL
	if v, ok := envValue(envNATSURL); ok {
		o.natsURL, o.natsSet = v, true
	}
	intFlag := func(p *int, name, def, usage string, lo, hi int) {
		f.custom(name, "", func(s string) error {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("invalid value %q (an integer from %d to %d)", s, lo, hi)
			}
			*p = n
			return nil
		}, flagDoc{arg: "N", def: def, usage: usage})
	}
	durFlag := func(p *time.Duration, name, def, usage string, positive bool) {
		f.custom(name, "", func(s string) error {
			d, err := parseDuration(s)
			switch {
			case err != nil:
				return err
			case positive && d <= 0:
				return errors.New("must be greater than 0")
			case d > benchMaxDuration:
				return fmt.Errorf("must be at most %v", benchMaxDuration)
			}
			*p = d
			return nil
		}, flagDoc{arg: "DURATION", def: def, usage: usage})
	}
	intFlag(&o.rooms, "rooms", "10", "Rooms, one channel each", 1, benchMaxConns)
	intFlag(&o.subs, "subs", "100", "Subscribers per room, publishers included", 2, benchMaxConns)
	intFlag(&o.pubs, "pubs", "1", "Publishers per room, drawn from that room's subscribers (<= --subs)", 1, benchMaxConns)
	f.custom("rate", "", func(s string) error {
		var rates []float64
		for _, p := range strings.Split(s, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || !(v > 0) || v > benchMaxRate {
				return fmt.Errorf("invalid rate %q (messages/s per publisher, > 0 and <= %d; a comma list runs one step each)", p, benchMaxRate)
			}
			rates = append(rates, v)
		}
		o.rates = rates
		return nil
	}, flagDoc{arg: "R[,R...]", def: "10", usage: "Messages/s per publisher; a comma list runs one step per value"})
	intFlag(&o.payload, "payload", "200", fmt.Sprintf("Payload size in bytes (at least %d)", bench.MinPayload), bench.MinPayload, benchMaxPayload)
	durFlag(&o.warmup, "warmup", "3s", "Unmeasured warm-up per step", false)
	durFlag(&o.duration, "duration", "10s", "Measured time per step (<= 10m)", true)
	durFlag(&o.drain, "drain", "2s", "Wait after a step for in-flight deliveries before counting drops", false)
	intFlag(&o.conns, "conns", "1000", "Connections for connect and shield (<= 20000)", 1, benchMaxConns)
	durFlag(&o.hold, "hold", "10s", "Hold time for connect", true)
	f.boolean(&o.batch, "batch", "Connect with batch=1 and send batched frames (PROTOCOL.md §2.2.1)")
	intFlag(&o.serverPID, "server-pid", "unset", "PID of the server on this host: CPU seconds and RSS are read from /proc", 1, 1<<30)
	f.str(&o.metricsURL, "metrics-url", "", "", "", "URL", "Prometheus endpoint of the server, e.g. http://127.0.0.1:8080/metrics")
	f.boolean(&o.json, "json", "Print one JSON object on stdout (the summary goes to stderr)")
	help, err := f.parse(args)
	if help || err != nil {
		return f, o, help, err
	}
	return f, o, false, o.check()
}

// check validates flag combinations and URL shapes.
func (o *benchOptions) check() error {
	if o.pubs > o.subs {
		return errors.New("--pubs must not exceed --subs")
	}
	if o.scenario == bench.ScenarioFanout || o.scenario == bench.ScenarioStrict {
		if o.rooms*o.subs > benchMaxConns {
			return fmt.Errorf("--rooms x --subs is %d connections (at most %d)", o.rooms*o.subs, benchMaxConns)
		}
	}
	if o.scenario == bench.ScenarioShield && o.batch {
		return errors.New("--batch does not apply to shield (Shield frames hold one envelope each)")
	}
	if o.serverPID != 0 && o.metricsURL != "" {
		return errors.New("--server-pid and --metrics-url are exclusive")
	}
	for _, t := range o.targets() {
		if _, err := parseBaseURL(t.url, t.schemes...); err != nil {
			return fmt.Errorf("--%s: %v", t.flag, err)
		}
	}
	return nil
}

type benchTarget struct {
	flag, url string
	schemes   []string
}

// targets are the URLs the scenario will contact.
func (o *benchOptions) targets() []benchTarget {
	var t []benchTarget
	switch o.scenario {
	case bench.ScenarioShield:
		t = append(t, benchTarget{"shield-url", o.shieldURL, []string{"ws", "wss"}})
		if o.natsSet {
			for _, u := range strings.Split(o.natsURL, ",") {
				t = append(t, benchTarget{"nats-url", strings.TrimSpace(u), []string{"nats", "tls"}})
			}
		}
	case bench.ScenarioStrict:
		t = append(t, benchTarget{"ws-url", o.wsURL, []string{"ws", "wss"}}, benchTarget{"http-url", o.httpURL, []string{"http", "https"}})
	default:
		t = append(t, benchTarget{"ws-url", o.wsURL, []string{"ws", "wss"}})
	}
	if o.metricsURL != "" {
		t = append(t, benchTarget{"metrics-url", o.metricsURL, []string{"http", "https"}})
	}
	return t
}

func (o *benchOptions) params() map[string]any {
	p := map[string]any{"rates": o.rates, "payload": o.payload, "batch": o.batch,
		"warmup_s": o.warmup.Seconds(), "duration_s": o.duration.Seconds(), "drain_s": o.drain.Seconds()}
	switch o.scenario {
	case bench.ScenarioConnect:
		p = map[string]any{"conns": o.conns, "hold_s": o.hold.Seconds(), "rooms": o.rooms, "batch": o.batch}
	case bench.ScenarioShield:
		p["conns"] = o.conns
		delete(p, "batch")
	default:
		p["rooms"], p["subs"], p["pubs"] = o.rooms, o.subs, o.pubs
	}
	return p
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, o, help, err := parseBenchArgs(args)
	if code := finishParse(f, help, err, stdout, stderr); code >= 0 {
		return code
	}
	// Loopback only, before any connection is made (CLI.md §11).
	for _, t := range o.targets() {
		if err := bench.CheckLoopback(ctx, t.url); err != nil {
			return usageExit(stderr, "bench", fmt.Errorf("--%s: %v", t.flag, err))
		}
	}
	cfg := bench.Config{
		Scenario: o.scenario, WSURL: o.wsURL, ShieldURL: o.shieldURL, NATSURL: o.natsURL,
		UseNATS: o.natsSet, Token: strings.TrimSpace(o.token),
		Rooms: o.rooms, Subs: o.subs, Pubs: o.pubs, Rates: o.rates, Payload: o.payload,
		Warmup: o.warmup, Duration: o.duration, Drain: o.drain, Conns: o.conns, Hold: o.hold, Batch: o.batch,
		Params: o.params(), Log: stderr,
	}
	switch {
	case o.serverPID != 0:
		p := bench.PIDProbe{PID: o.serverPID}
		if _, err := p.Read(ctx); err != nil {
			return failExit(stderr, "bench: --server-pid %d: %v", o.serverPID, err)
		}
		cfg.Probe = p
	case o.metricsURL != "":
		p := bench.MetricsProbe{URL: o.metricsURL}
		if _, err := p.Read(ctx); err != nil {
			return failExit(stderr, "bench: --metrics-url: %v", err)
		}
		cfg.Probe = p
	}
	if o.scenario == bench.ScenarioStrict {
		if err := requireStrict(ctx, o.httpURL); err != nil {
			return failExit(stderr, "bench: %v", err)
		}
	}
	if o.scenario == bench.ScenarioShield {
		tok, tenant, err := shieldToken(cfg.Token)
		if err != nil {
			return failExit(stderr, "bench: %v", err)
		}
		cfg.Token, cfg.Tenant = tok, tenant
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil && !bench.IsInterrupted(err) {
		return failExit(stderr, "bench: %v", err)
	}
	if o.json {
		rep.WriteSummary(stderr)
		if werr := rep.WriteJSON(stdout); werr != nil {
			return failExit(stderr, "bench: write: %v", werr)
		}
	} else {
		rep.WriteSummary(stdout)
	}
	return exitOK
}

// requireStrict checks that the bus's /status reports storage.mode strict.
func requireStrict(ctx context.Context, base string) error {
	u, err := parseBaseURL(base, "http", "https")
	if err != nil {
		return err
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/status"
	obj, err := fetchObject(ctx, u, 5*time.Second)
	if err != nil {
		return err
	}
	var st struct {
		Storage struct {
			Mode string `json:"mode"`
		} `json:"storage"`
	}
	if err := json.Unmarshal(obj, &st); err != nil {
		return fmt.Errorf("strict: cannot read /status: %v", err)
	}
	if st.Storage.Mode != "strict" {
		return fmt.Errorf("strict: the bus reports storage.mode %q, want \"strict\" (start it with ARQONBUS_STORAGE_MODE=strict and Redis storage)", st.Storage.Mode)
	}
	return nil
}

// shieldToken returns the bearer token for Shield and its tenant: the given
// token, or one minted from JWT_SECRET (sub and tenant "bench", 1 h).
func shieldToken(tok string) (string, string, error) {
	if tok == "" {
		secret, ok := envValue(envJWTSecret)
		if !ok {
			return "", "", errors.New("shield needs --token (or ARQONBUS_AUTH_JWT), or JWT_SECRET to mint one")
		}
		now := time.Now().Unix()
		t, err := auth.Sign(auth.HS256, []byte(secret), map[string]any{"sub": "bench", "tenant_id": "bench", "iat": now, "exp": now + 3600})
		if err != nil {
			return "", "", err
		}
		return t, "bench", nil
	}
	tenant, err := tokenTenant(tok)
	if err != nil {
		return "", "", err
	}
	return tok, tenant, nil
}

// tokenTenant reads tenant_id from a JWT's claims without verifying it (the
// generator only needs the NATS subject; Shield verifies the token).
func tokenTenant(tok string) (string, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", errors.New("--token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errors.New("--token is not a JWT")
	}
	var c struct {
		Tenant string `json:"tenant_id"`
	}
	if json.Unmarshal(b, &c) != nil || !auth.ValidTenant(c.Tenant) {
		return "", errors.New("--token has no valid tenant_id claim (Shield requires one)")
	}
	return c.Tenant, nil
}
