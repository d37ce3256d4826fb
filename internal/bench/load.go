package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// runLoad runs the fanout and strict workloads (shield false), or the
// Shield workload: connect, then one measured step per rate.
func (r *runner) runLoad(ctx context.Context, rep *Report, shield bool) error {
	cfg := r.cfg
	runID := strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 36)
	var n int
	var urlFor func(i int) string
	header := http.Header{}
	if cfg.Token != "" {
		header.Set("Authorization", "Bearer "+cfg.Token)
	}
	readBuf := 16 << 10
	if shield {
		n = cfg.Conns
		u, err := target(cfg.ShieldURL, nil)
		if err != nil {
			return err
		}
		urlFor = func(int) string { return u }
		readBuf = 4096
	} else {
		n = cfg.Rooms * cfg.Subs
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
		// Connection i is subscriber i/rooms of room i%rooms, so rooms
		// fill evenly while connecting.
		urlFor = func(i int) string { return urls[i%cfg.Rooms] }
	}
	r.logf("opening %d connections", n)
	failures, err := r.connectAll(ctx, n, dialer(readBuf), header, urlFor, !shield, nil)
	if failures > 0 {
		r.closeAll()
		if ctx.Err() != nil {
			return errInterrupted
		}
		return fmt.Errorf("%d of %d connections failed: %v", failures, n, err)
	}
	var pubs []*client
	for _, c := range r.clients {
		if shield || c.idx/cfg.Rooms < cfg.Pubs {
			c.pub = true
			pubs = append(pubs, c)
		}
	}
	r.startReaders(shield)
	defer r.closeAll()

	var natsConn *nats.Conn
	if shield && cfg.UseNATS {
		nc, err := nats.Connect(cfg.NATSURL, nats.Name("arqonbus-bench"), nats.Timeout(5*time.Second), nats.MaxReconnects(0))
		if err != nil {
			return fmt.Errorf("nats: %v", err)
		}
		natsConn = nc
		defer nc.Close()
		sub, err := nc.Subscribe("in.t."+cfg.Tenant+".raw", func(m *nats.Msg) {
			now := r.now()
			if stamp, ok := findStamp(m.Data); ok {
				if w := r.cur.Load(); w.in(stamp) {
					w.natsCount.Add(1)
					w.nats.Record(time.Duration(now - stamp))
				}
			}
		})
		if err != nil {
			return fmt.Errorf("nats: %v", err)
		}
		_ = sub.SetPendingLimits(-1, -1)
		if err := nc.Flush(); err != nil {
			return fmt.Errorf("nats: %v", err)
		}
	}

	perMsg := uint64(1) // deliveries a published message is worth
	if !shield {
		perMsg = uint64(cfg.Subs - 1)
	}
	for _, rate := range cfg.Rates {
		step, err := r.loadStep(ctx, pubs, rate, perMsg, shield, natsConn)
		if err != nil {
			return err
		}
		rep.Steps = append(rep.Steps, step)
	}
	return nil
}

// loadStep runs one rate step: warm-up, measured window, drain.
func (r *runner) loadStep(ctx context.Context, pubs []*client, rate float64, perMsg uint64, shield bool, nc *nats.Conn) (Step, error) {
	cfg := r.cfg
	interval := float64(time.Second) / rate
	t0 := r.now() + int64(20*time.Millisecond)
	base := plan{t0: t0, start: t0 + int64(cfg.Warmup), interval: interval}
	base.end = base.start + int64(cfg.Duration)
	base.cutoff = base.end + int64(cfg.Drain)
	w := &window{start: base.start, end: base.end}
	r.cur.Store(w)
	err0, closed0 := r.errors.Load(), r.closed.Load()
	r.logf("step rate %g/s per publisher (%d publishers): warm-up %v, measure %v", rate, len(pubs), cfg.Warmup, cfg.Duration)

	results := make([]pubResult, len(pubs))
	var offered uint64
	var wg sync.WaitGroup
	for i, c := range pubs {
		p := base
		// Spread publishers evenly over one interval.
		p.offset = interval * float64(i) / float64(len(pubs))
		offered += p.ticksIn()
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = r.publish(ctx, c, p, shield)
		}()
	}
	_ = r.sleepUntil(ctx, base.start)
	u0, ok0 := r.probe(ctx)
	g0, _ := SelfUsage()
	m0, mErr0 := MachineBusy()
	_ = r.sleepUntil(ctx, base.end)
	u1, ok1 := r.probe(ctx)
	g1, _ := SelfUsage()
	m1, mErr1 := MachineBusy()
	wg.Wait()
	if nc != nil {
		_ = nc.Flush()
	}
	if ctx.Err() == nil {
		_ = r.sleepUntil(ctx, r.now()+int64(cfg.Drain))
	}
	r.cur.Store(nil)
	time.Sleep(20 * time.Millisecond) // let readers finish the envelope in hand
	if ctx.Err() != nil {
		return Step{}, errInterrupted
	}

	secs := cfg.Duration.Seconds()
	var sent, published uint64
	for _, res := range results {
		sent += res.sentInWindow
		published += res.sent
	}
	var delivered, acks uint64
	hist, ackHist := &Histogram{}, &Histogram{}
	for i := range w.shard {
		s := &w.shard[i]
		delivered += s.delivered.Load()
		acks += s.acks.Load()
		hist.Merge(&s.hist)
		ackHist.Merge(&s.ackHist)
	}
	st := Step{
		Rate:         rate,
		Seconds:      secs,
		Published:    published,
		Unsent:       offered - sent,
		OfferedCount: offered * perMsg,
		Errors:       r.errors.Load() - err0,
		Closed:       r.closed.Load() - closed0,
		GeneratorCPU: round((g1.CPUSeconds-g0.CPUSeconds)/secs, 3),
		Acks:         &AckStats{Count: acks, PerS: round(float64(acks)/secs, 1), Latency: latencyOf(ackHist)},
	}
	if shield {
		// A Shield "delivery" is an acknowledged, published frame.
		delivered, hist = acks, ackHist
		if nc != nil {
			n := w.natsCount.Load()
			st.NATS = &AckStats{Count: n, PerS: round(float64(n)/secs, 1), Latency: latencyOf(&w.nats)}
		}
	}
	st.DeliveredCount = delivered
	st.Offered = round(float64(st.OfferedCount)/secs, 1)
	st.Delivered = round(float64(delivered)/secs, 1)
	if st.OfferedCount > 0 {
		st.DeliveredRatio = round(float64(delivered)/float64(st.OfferedCount), 6)
	}
	if exp := sent * perMsg; exp > delivered {
		st.Drops = exp - delivered
	}
	st.Latency = latencyOf(hist)
	if ok0 && ok1 {
		cpu := u1.CPUSeconds - u0.CPUSeconds
		cores := round(cpu/secs, 3)
		rss := u1.RSSBytes
		st.Server = ServerUsage{CPUCores: &cores, RSSBytes: &rss}
		st.ServerCPUSeconds = &cpu
		if mErr0 == nil && mErr1 == nil {
			other := round(max(0, (m1-m0)-cpu-(g1.CPUSeconds-g0.CPUSeconds))/secs, 3)
			st.OtherCPU = &other
		}
	}
	return st, nil
}
