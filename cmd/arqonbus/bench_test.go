package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/bench"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// benchReport is the --json output of CLI.md §11.
type benchReport struct {
	Scenario string         `json:"scenario"`
	Params   map[string]any `json:"params"`
	Steps    []struct {
		Rate           float64 `json:"rate"`
		Offered        float64 `json:"offered_deliveries_per_s"`
		Delivered      float64 `json:"delivered_per_s"`
		DeliveredRatio float64 `json:"delivered_ratio"`
		Latency        struct {
			P50  float64 `json:"p50_ms"`
			P90  float64 `json:"p90_ms"`
			P99  float64 `json:"p99_ms"`
			P999 float64 `json:"p999_ms"`
			Max  float64 `json:"max_ms"`
		} `json:"latency"`
		Drops  uint64 `json:"drops"`
		Errors uint64 `json:"errors"`
		Server struct {
			CPUCores *float64 `json:"cpu_cores"`
			RSSBytes *int64   `json:"rss_bytes"`
		} `json:"server"`
		Published      uint64 `json:"published"`
		Unsent         uint64 `json:"unsent"`
		OfferedCount   uint64 `json:"offered_deliveries"`
		DeliveredCount uint64 `json:"delivered_deliveries"`
		Acks           *struct {
			Count uint64 `json:"count"`
		} `json:"acks"`
		NATS *struct {
			Count uint64 `json:"count"`
		} `json:"nats"`
		Connect *struct {
			Attempted int `json:"attempted"`
			Connected int `json:"connected"`
			Failures  int `json:"failures"`
		} `json:"connect"`
	} `json:"steps"`
}

// runBenchJSON runs bench with --json and decodes stdout.
func runBenchJSON(t *testing.T, env []string, args ...string) benchReport {
	t.Helper()
	r := cli(t, env, append([]string{"bench", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("bench exit %d\nstderr: %s", r.code, r.stderr)
	}
	var rep benchReport
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON value: %s", r.stdout)
	}
	if !strings.Contains(r.stderr, "scenario "+rep.Scenario) {
		t.Errorf("the summary should go to stderr with --json; stderr %q", r.stderr)
	}
	return rep
}

// saneLatency checks ordered, positive, bounded percentiles.
func saneLatency(t *testing.T, what string, p50, p90, p99, p999, max float64) {
	t.Helper()
	if !(p50 > 0 && p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max && max < 30_000) {
		t.Errorf("%s latency not sane: p50 %v p90 %v p99 %v p99.9 %v max %v", what, p50, p90, p99, p999, max)
	}
}

func TestBenchFanoutDeliversEveryMessage(t *testing.T) {
	s := openBus(t) // default rate limit (100/s) is plenty for 20 msg/s
	for _, batch := range []bool{false, true} {
		args := []string{"--ws-url", s.wsURL, "--rooms", "2", "--subs", "3", "--rate", "20,40",
			"--warmup", "300ms", "--duration", "1s", "--drain", "500ms", "--metrics-url", s.httpURL + "/metrics"}
		if batch {
			args = append(args, "--batch")
		}
		rep := runBenchJSON(t, nil, args...)
		if rep.Scenario != "fanout" || len(rep.Steps) != 2 || rep.Params["rooms"] != 2.0 || rep.Params["subs"] != 3.0 {
			t.Fatalf("batch=%v: report %+v", batch, rep)
		}
		for i, st := range rep.Steps {
			// 2 publishers (one per room) x 2 other subscribers each.
			if st.Published == 0 || st.Unsent != 0 {
				t.Errorf("batch=%v step %d: published %d, unsent %d", batch, i, st.Published, st.Unsent)
			}
			if st.OfferedCount == 0 || st.DeliveredCount != st.OfferedCount || st.DeliveredRatio != 1 || st.Drops != 0 || st.Errors != 0 {
				t.Errorf("batch=%v step %d: offered %d delivered %d ratio %v drops %d errors %d", batch, i,
					st.OfferedCount, st.DeliveredCount, st.DeliveredRatio, st.Drops, st.Errors)
			}
			// The measured window is 1 s: rate x publishers x (subs-1) deliveries.
			if want := st.Rate * 2 * 2; st.OfferedCount != uint64(want) || st.Offered != want {
				t.Errorf("batch=%v step %d: offered %d (%v/s), want %v", batch, i, st.OfferedCount, st.Offered, want)
			}
			if st.Acks == nil || st.Acks.Count != st.OfferedCount/2 {
				t.Errorf("batch=%v step %d: acks %+v, want one per message published in the window", batch, i, st.Acks)
			}
			saneLatency(t, "delivery", st.Latency.P50, st.Latency.P90, st.Latency.P99, st.Latency.P999, st.Latency.Max)
			if st.Server.CPUCores == nil || st.Server.RSSBytes == nil || *st.Server.RSSBytes <= 0 {
				t.Errorf("batch=%v step %d: server usage missing with --metrics-url", batch, i)
			}
		}
	}
}

func TestBenchServerUsageIsNullWithoutProbe(t *testing.T) {
	s := openBus(t)
	r := cli(t, nil, "bench", "--json", "--ws-url", s.wsURL, "--rooms", "1", "--subs", "2", "--rate", "10",
		"--warmup", "0", "--duration", "500ms", "--drain", "200ms")
	if r.code != 0 || !strings.Contains(r.stdout, `"server":{"cpu_cores":null,"rss_bytes":null}`) {
		t.Errorf("exit %d, stdout %s, stderr %s", r.code, r.stdout, r.stderr)
	}
}

func TestBenchHumanSummaryOnStdout(t *testing.T) {
	s := openBus(t)
	r := cli(t, nil, "bench", "--ws-url", s.wsURL, "--rooms", "1", "--subs", "2", "--rate", "10",
		"--warmup", "0", "--duration", "500ms", "--drain", "200ms")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "scenario fanout\n") || !strings.Contains(r.stdout, "latency ms: p50 ") {
		t.Errorf("exit %d, stdout %q", r.code, r.stdout)
	}
	if strings.Contains(r.stdout, "bench: ") {
		t.Errorf("progress lines belong on stderr: %q", r.stdout)
	}
}

func TestBenchConnect(t *testing.T) {
	s := openBus(t)
	rep := runBenchJSON(t, nil, "--scenario", "connect", "--ws-url", s.wsURL, "--conns", "50", "--rooms", "5", "--hold", "1s",
		"--metrics-url", s.httpURL+"/metrics")
	if len(rep.Steps) != 1 || rep.Steps[0].Connect == nil {
		t.Fatalf("report %+v", rep)
	}
	st := rep.Steps[0]
	if c := st.Connect; c.Attempted != 50 || c.Connected != 50 || c.Failures != 0 {
		t.Errorf("connect %+v", c)
	}
	saneLatency(t, "setup", st.Latency.P50, st.Latency.P90, st.Latency.P99, st.Latency.P999, st.Latency.Max)
	if st.Server.RSSBytes == nil {
		t.Error("server RSS missing")
	}
}

func TestBenchStrictRefusesNonStrictBus(t *testing.T) {
	s := openBus(t)
	r := cli(t, nil, "bench", "--scenario", "strict", "--ws-url", s.wsURL, "--http-url", s.httpURL, "--duration", "1s")
	r.wantFailure(t, `storage.mode "degraded"`)
}

func TestBenchStrict(t *testing.T) {
	addr := testutil.RedisAddr()
	testutil.RequireService(t, "redis", addr)
	s, err := startBus("ARQONBUS_STORAGE_BACKEND=redis", "ARQONBUS_STORAGE_MODE=strict", "ARQONBUS_REDIS_URL=redis://"+addr+"/0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	rep := runBenchJSON(t, nil, "--scenario", "strict", "--ws-url", s.wsURL, "--http-url", s.httpURL,
		"--rooms", "2", "--subs", "2", "--rate", "20", "--warmup", "200ms", "--duration", "1s", "--drain", "500ms")
	st := rep.Steps[0]
	if rep.Scenario != "strict" || st.DeliveredCount != st.OfferedCount || st.OfferedCount != 40 || st.Acks == nil || st.Acks.Count != 40 {
		t.Errorf("strict report %+v", rep)
	}
}

// startDev runs `arqonbus dev` on free ports and returns its KEY=value lines.
func startDev(t *testing.T) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, cliBin, "dev", "--server-port", "0", "--http-port", "0", "--telemetry-port", "0",
		"--shield-port", "0", "--shield-metrics-port", "0")
	cmd.Env = append(cleanEnv(), "ARQON_SHIELD_RATE_LIMIT_PER_SECOND=0")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	kv := map[string]string{}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("dev exited before READY")
			}
			if l == "READY" {
				go func() {
					for range lines {
					}
				}()
				return kv
			}
			if k, v, ok := strings.Cut(l, "="); ok {
				kv[k] = v
			}
		case <-deadline:
			t.Fatal("dev did not print READY")
		}
	}
}

func TestBenchShield(t *testing.T) {
	kv := startDev(t)
	env := []string{"JWT_SECRET=" + kv["JWT_SECRET"]}
	rep := runBenchJSON(t, env, "--scenario", "shield", "--shield-url", kv["SHIELD_WS_URL"], "--nats-url", kv["NATS_URL"],
		"--conns", "3", "--rate", "20", "--warmup", "200ms", "--duration", "1s", "--drain", "500ms")
	st := rep.Steps[0]
	// 3 connections x 20/s x 1 s, each acknowledged and seen on NATS.
	if st.OfferedCount != 60 || st.DeliveredCount != 60 || st.Errors != 0 || st.NATS == nil || st.NATS.Count != 60 {
		t.Errorf("shield report %+v (nats %+v)", st, st.NATS)
	}
	saneLatency(t, "ack", st.Latency.P50, st.Latency.P90, st.Latency.P99, st.Latency.P999, st.Latency.Max)
	// A token from the dev banner works too (its tenant is read from the claims).
	rep = runBenchJSON(t, nil, "--scenario", "shield", "--shield-url", kv["SHIELD_WS_URL"], "--token", kv["USER_TOKEN"],
		"--conns", "1", "--rate", "10", "--warmup", "0", "--duration", "500ms", "--drain", "300ms")
	if st := rep.Steps[0]; st.DeliveredCount != 5 || st.NATS != nil {
		t.Errorf("shield with --token: %+v", st)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--scenario", "flood"}, "--scenario: must be fanout, connect, strict or shield"},
		{[]string{"--duration", "11m"}, "--duration: must be at most 10m0s"},
		{[]string{"--duration", "0"}, "--duration: must be greater than 0"},
		{[]string{"--conns", "20001"}, "--conns: invalid value"},
		{[]string{"--rooms", "200", "--subs", "101"}, "--rooms x --subs is 20200 connections"},
		{[]string{"--subs", "3", "--pubs", "4"}, "--pubs must not exceed --subs"},
		{[]string{"--rate", "10,x"}, `--rate: invalid rate "x"`},
		{[]string{"--rate", "0"}, `--rate: invalid rate "0"`},
		{[]string{"--payload", "10"}, "--payload: invalid value"},
		{[]string{"--warmup", "soon"}, "--warmup: invalid duration"},
		{[]string{"--server-pid", "1", "--metrics-url", "http://127.0.0.1:1/metrics"}, "exclusive"},
		{[]string{"--scenario", "shield", "--batch"}, "--batch does not apply to shield"},
		{[]string{"--ws-url", "http://127.0.0.1:9100"}, "--ws-url: invalid URL"},
		{[]string{"--bogus"}, "flag provided but not defined"},
		{[]string{"extra"}, "unexpected positional argument"},
		// Loopback only: refused before any connection is made.
		{[]string{"--ws-url", "ws://192.0.2.1:9100"}, "--ws-url: target is not a loopback address"},
		{[]string{"--ws-url", "ws://[2001:db8::1]:9100"}, "--ws-url: target is not a loopback address"},
		{[]string{"--metrics-url", "http://192.0.2.1:8080/metrics"}, "--metrics-url: target is not a loopback address"},
		{[]string{"--scenario", "strict", "--http-url", "http://192.0.2.1:8080"}, "--http-url: target is not a loopback address"},
		{[]string{"--scenario", "shield", "--shield-url", "ws://192.0.2.1:4000/ws"}, "--shield-url: target is not a loopback address"},
		{[]string{"--scenario", "shield", "--nats-url", "nats://127.0.0.1:4222,nats://192.0.2.1:4222"}, "--nats-url: target is not a loopback address"},
		{[]string{"--ws-url", "ws://host.invalid:9100"}, "--ws-url: target is not a loopback address"},
	} {
		r := cli(t, nil, append([]string{"bench"}, tc.args...)...)
		r.wantUsage(t, tc.want)
	}
}

func TestBenchHelp(t *testing.T) {
	r := cli(t, nil, "bench", "--help")
	for _, want := range []string{"--scenario NAME", "--rate R[,R...]", "--server-pid", "--metrics-url", "env NATS_URL", "default 10s", "loopback"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.code != 0 || r.stderr != "" {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestBenchUnreachableTargetFails(t *testing.T) {
	r := cli(t, nil, "bench", "--ws-url", "ws://"+closedAddr(t), "--rooms", "1", "--subs", "2", "--duration", "1s")
	// Progress lines may precede the error line (CLI.md §2); it is the last.
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if r.code != exitFailure || r.stdout != "" || !strings.HasPrefix(last, "arqonbus: bench: ") || !strings.Contains(last, "2 of 2 connections failed") {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func FuzzParseBenchArgs(f *testing.F) {
	f.Add("--rate", "10,50.5", "--subs", "3")
	f.Add("--duration", "10m", "--pubs", "2")
	f.Add("--scenario", "shield", "--batch", "true")
	f.Add("--rooms", "200", "--conns", "-1")
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		_, o, help, err := parseBenchArgs([]string{a, b, c, d})
		if help || err != nil {
			return
		}
		if o.pubs > o.subs || o.duration <= 0 || o.duration > benchMaxDuration || o.conns > benchMaxConns || len(o.rates) == 0 || o.payload < bench.MinPayload {
			t.Fatalf("accepted out-of-bounds options %+v", o)
		}
		for _, r := range o.rates {
			if !(r > 0) || r > benchMaxRate {
				t.Fatalf("accepted rate %v", r)
			}
		}
	})
}
