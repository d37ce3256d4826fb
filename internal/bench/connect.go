package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// runConnect opens cfg.Conns subscribed connections (spread over cfg.Rooms
// rooms), measures the set-up rate and latency, then holds them idle for
// cfg.Hold and reads the server's CPU over the hold and its RSS at the end.
func (r *runner) runConnect(ctx context.Context, rep *Report) error {
	cfg := r.cfg
	runID := strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 36)
	urls := make([]string, cfg.Rooms)
	for room := range cfg.Rooms {
		q := url.Values{"room": {roomName(runID, room)}, "channel": {"c"}, "client_type": {"service"}}
		if cfg.Batch {
			q.Set("batch", "1")
		}
		u, err := target(cfg.WSURL, q)
		if err != nil {
			return err
		}
		urls[room] = u
	}
	header := http.Header{}
	if cfg.Token != "" {
		header.Set("Authorization", "Bearer "+cfg.Token)
	}
	base, okBase := r.probe(ctx)
	var setup Histogram
	r.logf("opening %d connections", cfg.Conns)
	start := time.Now()
	failures, firstErr := r.connectAll(ctx, cfg.Conns, dialer(1024), header, func(i int) string { return urls[i%cfg.Rooms] }, true, &setup)
	setupSecs := time.Since(start).Seconds()
	r.startReaders(false)
	defer r.closeAll()
	if ctx.Err() != nil {
		return errInterrupted
	}
	connected := cfg.Conns - failures
	if connected == 0 {
		return fmt.Errorf("no connection succeeded: %v", firstErr)
	}
	if failures > 0 {
		r.logf("%d connections failed (first: %v)", failures, firstErr)
	}
	cs := &ConnectStats{Attempted: cfg.Conns, Connected: connected, Failures: failures,
		SetupSeconds: round(setupSecs, 3), PerS: round(float64(connected)/setupSecs, 1), HoldSeconds: cfg.Hold.Seconds()}
	r.logf("%d connected in %.2fs; holding %v", connected, setupSecs, cfg.Hold)
	// Let the connection storm's garbage and bus events settle for a
	// moment before the idle measurement starts.
	settle := min(2*time.Second, cfg.Hold/4)
	if err := r.sleepUntil(ctx, r.now()+int64(settle)); err != nil {
		return errInterrupted
	}
	closed0 := r.closed.Load()
	u0, ok0 := r.probe(ctx)
	g0, _ := SelfUsage()
	m0, mErr0 := MachineBusy()
	hold := cfg.Hold - settle
	if err := r.sleepUntil(ctx, r.now()+int64(hold)); err != nil {
		return errInterrupted
	}
	u1, ok1 := r.probe(ctx)
	g1, _ := SelfUsage()
	m1, mErr1 := MachineBusy()
	st := Step{Errors: uint64(failures) + r.errors.Load(), Closed: r.closed.Load() - closed0, Seconds: hold.Seconds(),
		Latency: latencyOf(&setup), Connect: cs, GeneratorCPU: round((g1.CPUSeconds-g0.CPUSeconds)/hold.Seconds(), 3)}
	cs.StillOpen = connected - int(r.closed.Load())
	if ok0 && ok1 {
		cpu := u1.CPUSeconds - u0.CPUSeconds
		cores := round(cpu/hold.Seconds(), 4)
		rss := u1.RSSBytes
		st.Server = ServerUsage{CPUCores: &cores, RSSBytes: &rss}
		st.ServerCPUSeconds = &cpu
		if mErr0 == nil && mErr1 == nil {
			other := round(max(0, (m1-m0)-cpu-(g1.CPUSeconds-g0.CPUSeconds))/hold.Seconds(), 3)
			st.OtherCPU = &other
		}
		if okBase {
			b := base.RSSBytes
			per := round(float64(rss-b)/float64(connected), 1)
			cs.RSSBaselineBytes, cs.RSSPerConnBytes = &b, &per
		}
	}
	rep.Steps = append(rep.Steps, st)
	return nil
}
