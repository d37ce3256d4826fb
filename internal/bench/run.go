// Package bench is the load generator behind `arqonbus bench` (CLI.md §11):
// paced publishers that stamp each message with its intended send time, one
// reader goroutine per connection, log-linear latency histograms, and the
// server's CPU and RSS read from /proc or its metrics endpoint.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Scenarios (CLI.md §11).
const (
	ScenarioFanout  = "fanout"
	ScenarioConnect = "connect"
	ScenarioStrict  = "strict"
	ScenarioShield  = "shield"
)

// Config is one run. The command line validates it; Run trusts it.
type Config struct {
	Scenario  string
	WSURL     string // bus (fanout, strict, connect)
	ShieldURL string // shield
	NATSURL   string // shield, when UseNATS
	UseNATS   bool
	Token     string // bearer token; required by Shield
	Tenant    string // the token's tenant_id (Shield subject)

	Rooms, Subs, Pubs int
	Rates             []float64
	Payload           int
	Warmup, Duration  time.Duration
	Drain             time.Duration
	Conns             int
	Hold              time.Duration
	Batch             bool

	Probe  Probe          // nil: no server usage
	Params map[string]any // echoed in the report
	Log    io.Writer      // progress lines (stderr); nil for none
}

// dialConcurrency bounds parallel handshakes: enough to keep a 2-core
// server busy without queueing thousands of half-open sockets.
const dialConcurrency = 64

// maxLinesPerFrame caps a batched publish frame (JSON Lines).
const maxLinesPerFrame = 64

// shards spreads histogram and counter updates of concurrent readers over
// separate cache lines.
const shards = 8

// Run executes cfg and returns its report. An error means the run could not
// start (target unreachable, handshake refused); a run that saturates still
// returns a report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	r := &runner{cfg: cfg, base: time.Now()}
	rep := &Report{Scenario: cfg.Scenario, Params: cfg.Params}
	var err error
	switch cfg.Scenario {
	case ScenarioConnect:
		err = r.runConnect(ctx, rep)
	case ScenarioShield:
		err = r.runLoad(ctx, rep, true)
	default:
		err = r.runLoad(ctx, rep, false)
	}
	return rep, err
}

type runner struct {
	cfg     Config
	base    time.Time
	cur     atomic.Pointer[window]
	closing atomic.Bool
	errors  atomic.Uint64 // error frames and failed writes
	closed  atomic.Uint64 // connections the server closed or lost
	readers sync.WaitGroup
	clients []*client
}

// now is the generator clock: nanoseconds since the run began (monotonic).
func (r *runner) now() int64 { return int64(time.Since(r.base)) }

func (r *runner) logf(format string, a ...any) {
	if r.cfg.Log != nil {
		fmt.Fprintf(r.cfg.Log, "bench: "+format+"\n", a...)
	}
}

// window collects one step's measurements, keyed by intended send time.
type window struct {
	start, end int64
	shard      [shards]windowShard
	nats       Histogram
	natsCount  atomic.Uint64
}

type windowShard struct {
	delivered atomic.Uint64
	acks      atomic.Uint64
	hist      Histogram
	ackHist   Histogram
	_         [64]byte
}

func (w *window) in(stamp int64) bool { return w != nil && stamp >= w.start && stamp < w.end }

// client is one connection.
type client struct {
	ws    *websocket.Conn
	idx   int
	shard int
	pub   bool
	// fifo holds the intended times of Shield frames awaiting their
	// response (responses come in frame order, SHIELD.md §8.1).
	mu   sync.Mutex
	fifo []int64
}

func (c *client) push(stamp int64) {
	c.mu.Lock()
	c.fifo = append(c.fifo, stamp)
	c.mu.Unlock()
}

func (c *client) pop() (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.fifo) == 0 {
		return 0, false
	}
	v := c.fifo[0]
	c.fifo = c.fifo[1:]
	if len(c.fifo) == 0 {
		c.fifo = c.fifo[:0:0]
	}
	return v, true
}

// dialer returns a WebSocket dialer; buffers are small for idle connections
// and the write buffer is pooled (only publishers write).
func dialer(readBuf int) *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   readBuf,
		WriteBufferSize:  4096,
		WriteBufferPool:  &sync.Pool{},
	}
}

// target builds a connection URL from base with extra query parameters.
func target(base string, q url.Values) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	if u.Path == "" {
		u.Path = "/ws"
	}
	v := u.Query()
	for k, vs := range q {
		v[k] = vs
	}
	u.RawQuery = v.Encode()
	return u.String(), nil
}

// dialErr describes a failed handshake without echoing URLs or tokens.
func dialErr(err error, resp *http.Response) error {
	if resp != nil {
		return fmt.Errorf("handshake refused: HTTP %d", resp.StatusCode)
	}
	return err
}

// connectAll opens n connections, urlFor(i) each, with at most
// dialConcurrency handshakes in flight. With welcome, each waits for the
// bus's welcome frame. setup records each connection's set-up time.
func (r *runner) connectAll(ctx context.Context, n int, d *websocket.Dialer, header http.Header,
	urlFor func(i int) string, welcome bool, setup *Histogram) (int, error) {
	r.clients = make([]*client, n)
	var next atomic.Int64
	var failures atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	workers := min(dialConcurrency, n)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				ws, resp, err := d.DialContext(ctx, urlFor(i), header)
				if err == nil && welcome {
					_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
					_, _, err = ws.ReadMessage()
					_ = ws.SetReadDeadline(time.Time{})
					if err != nil {
						ws.Close()
					}
				}
				if resp != nil && resp.Body != nil {
					resp.Body.Close()
				}
				if err != nil {
					failures.Add(1)
					errOnce.Do(func() { firstErr = dialErr(err, resp) })
					continue
				}
				if setup != nil {
					setup.Record(time.Since(t0))
				}
				r.clients[i] = &client{ws: ws, idx: i, shard: i % shards}
			}
		}()
	}
	wg.Wait()
	return int(failures.Load()), firstErr
}

// startReaders starts one reader goroutine per open connection.
func (r *runner) startReaders(shield bool) {
	for _, c := range r.clients {
		if c == nil {
			continue
		}
		r.readers.Add(1)
		go r.read(c, shield)
	}
}

// closeAll closes every connection and waits for the readers.
func (r *runner) closeAll() {
	r.closing.Store(true)
	for _, c := range r.clients {
		if c != nil {
			c.ws.Close()
		}
	}
	r.readers.Wait()
}

// read is a connection's reader: it reads whole frames into one reusable
// buffer, splits JSON Lines and classifies each envelope without decoding it.
func (r *runner) read(c *client, shield bool) {
	defer r.readers.Done()
	buf := make([]byte, 0, 4096)
	for {
		_, rd, err := c.ws.NextReader()
		if err != nil {
			if !r.closing.Load() {
				r.closed.Add(1)
			}
			return
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := rd.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				if !r.closing.Load() {
					r.closed.Add(1)
				}
				return
			}
		}
		now := r.now()
		w := r.cur.Load()
		frame := buf
		for len(frame) > 0 {
			var line []byte
			if i := indexNL(frame); i >= 0 {
				line, frame = frame[:i], frame[i+1:]
			} else {
				line, frame = frame, nil
			}
			if len(line) == 0 {
				continue
			}
			r.envelope(c, w, now, line, shield)
		}
	}
}

func indexNL(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

func (r *runner) envelope(c *client, w *window, now int64, line []byte, shield bool) {
	k, stamp, ok := parseEnvelope(line)
	if shield {
		// Every data frame gets exactly one response, in order.
		if k == kindOther || k == kindInvalid {
			return
		}
		stamp, ok = c.pop()
		if k == kindError {
			r.errors.Add(1)
			return
		}
		if k == kindAck && ok && w.in(stamp) {
			s := &w.shard[c.shard]
			s.acks.Add(1)
			s.ackHist.Record(time.Duration(now - stamp))
		}
		return
	}
	switch k {
	case kindMessage:
		if ok && w.in(stamp) {
			s := &w.shard[c.shard]
			s.delivered.Add(1)
			s.hist.Record(time.Duration(now - stamp))
		}
	case kindAck:
		if ok && w.in(stamp) {
			s := &w.shard[c.shard]
			s.acks.Add(1)
			s.ackHist.Record(time.Duration(now - stamp))
		}
	case kindError:
		r.errors.Add(1)
	}
}

// plan is one step's timeline, in generator-clock nanoseconds.
type plan struct {
	t0, start, end, cutoff int64
	interval               float64 // ns between a publisher's messages
	offset                 float64 // this publisher's phase
}

func (p plan) intended(k int) int64 { return p.t0 + int64(p.offset+float64(k)*p.interval) }

// ticksIn is the number of ticks whose intended time is in [start, end).
func (p plan) ticksIn() uint64 {
	var n uint64
	for k := 0; ; k++ {
		t := p.intended(k)
		if t >= p.end {
			return n
		}
		if t >= p.start {
			n++
		}
	}
}

// pubResult is one publisher's account of a step.
type pubResult struct {
	sentInWindow uint64
	sent         uint64
}

// publish sends c's messages on the fixed timeline p: each message carries
// its intended time, and a publisher that falls behind sends the backlog at
// once, still stamped with the intended times, so a stall shows up as
// latency instead of disappearing (no coordinated omission). It gives up on
// the backlog at p.cutoff.
func (r *runner) publish(ctx context.Context, c *client, p plan, shield bool) pubResult {
	var res pubResult
	buf := make([]byte, 0, 4096)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var seq uint64
	k := 0
	for {
		next := p.intended(k)
		if next >= p.end || ctx.Err() != nil {
			return res
		}
		now := r.now()
		if now >= p.cutoff {
			return res
		}
		if next > now {
			timer.Reset(time.Duration(next - now))
			select {
			case <-timer.C:
			case <-ctx.Done():
				return res
			}
			continue
		}
		lines := 0
		buf = buf[:0]
		for lines < maxLinesPerFrame {
			t := p.intended(k)
			if t > now || t >= p.end {
				break
			}
			if lines > 0 {
				buf = append(buf, '\n')
			}
			if shield {
				seq++
				buf = appendShieldMessage(buf, r.cfg.Payload, t, c.idx, seq)
				c.push(t)
			} else {
				buf = appendMessage(buf, r.cfg.Payload, t)
			}
			if t >= p.start {
				res.sentInWindow++
			}
			res.sent++
			lines++
			k++
			if !r.cfg.Batch {
				if err := c.ws.WriteMessage(websocket.TextMessage, buf); err != nil {
					r.errors.Add(1)
					return res
				}
				buf = buf[:0]
				lines = 0
			}
		}
		if lines > 0 {
			if err := c.ws.WriteMessage(websocket.TextMessage, buf); err != nil {
				r.errors.Add(1)
				return res
			}
		}
	}
}

// sleepUntil waits until generator time t (or ctx is done).
func (r *runner) sleepUntil(ctx context.Context, t int64) error {
	d := time.Duration(t - r.now())
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// probe reads the server's usage; ok is false without a probe or on error.
func (r *runner) probe(ctx context.Context) (Usage, bool) {
	if r.cfg.Probe == nil {
		return Usage{}, false
	}
	u, err := r.cfg.Probe.Read(ctx)
	if err != nil {
		r.logf("server usage unavailable: %v", err)
		return Usage{}, false
	}
	return u, true
}

// errInterrupted ends a run on SIGINT/SIGTERM; the steps so far are kept.
var errInterrupted = errors.New("interrupted")

// IsInterrupted reports whether Run stopped because its context ended.
func IsInterrupted(err error) bool { return errors.Is(err, errInterrupted) }

func roomName(run string, i int) string { return "bench-" + run + "-" + strconv.Itoa(i) }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
