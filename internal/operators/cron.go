package operators

import (
	"context"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/casil"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// cronSpec is a validated op.cron.schedule request.
type cronSpec struct {
	room, channel string
	payload       json.RawMessage
	delay         float64
	interval      float64 // 0 when absent
	hasInterval   bool
	repeat        int
}

// parseCronArgs validates op.cron.schedule (PROTOCOL.md §7.3); the detail is
// "" when the arguments are valid.
func parseCronArgs(a protocol.Args) (cronSpec, string) {
	var s cronSpec
	room, _, d := a.String("room", false)
	if d != "" {
		return s, d
	}
	ch, _, d := a.String("channel", false)
	if d != "" {
		return s, d
	}
	r, c, st, detail := protocol.ResolveTarget(room, ch)
	switch st {
	case protocol.TargetOK:
		s.room, s.channel = r, c
	case protocol.TargetInvalid:
		return s, detail
	default:
		return s, "'room' and 'channel' are required"
	}
	payload, present, _ := a.Object("payload")
	if !present || payload == nil {
		return s, "'payload' must be an object"
	}
	s.payload = payload

	s.delay = 1.0
	if v, present, d := a.Number("delay_seconds"); d != "" {
		return s, d
	} else if present {
		if !(v > 0) {
			return s, "'delay_seconds' must be > 0"
		}
		if v > maxCronSeconds {
			return s, "'delay_seconds' must be <= 86400"
		}
		s.delay = v
	}
	if v, present, d := a.Number("interval_seconds"); d != "" {
		return s, d
	} else if present {
		if !(v >= minCronInterval) {
			return s, "'interval_seconds' must be >= 0.1"
		}
		if v > maxCronSeconds {
			return s, "'interval_seconds' must be <= 86400"
		}
		s.interval, s.hasInterval = v, true
	}
	s.repeat = 1
	if v, present, d := a.Int("repeat_count"); d != "" {
		return s, d
	} else if present {
		if v <= 0 {
			return s, "'repeat_count' must be > 0"
		}
		if v > maxCronRepeats {
			return s, "'repeat_count' must be <= 10000"
		}
		s.repeat = int(v)
	}
	if s.repeat > 1 && !s.hasInterval {
		return s, "'interval_seconds' is required when repeat_count > 1"
	}
	return s, ""
}

// cronJob is one scheduled job. It belongs to its connection and is never
// persisted.
type cronJob struct {
	spec    cronSpec
	id      string
	owner   string
	tenant  string
	created time.Time // wall clock, for created_at
	start   time.Time // monotonic reference for the firing schedule
	seq     uint64
	cancel  chan struct{}
	once    sync.Once
	// firing is held while a firing is published; wait takes it so that no
	// firing of a cancelled job is published after the cancel returns.
	firing sync.Mutex
}

func (j *cronJob) stop() { j.once.Do(func() { close(j.cancel) }) }

// wait returns once a firing in progress, if any, is published or dropped.
// After stop, no new firing starts. A firing never waits for a command or
// for OnDisconnect (Publish only enqueues to connections; a slow consumer is
// closed on its own goroutine), so this cannot deadlock with the firing it
// waits for; the wait is bounded by fire's 10 s publish timeout.
func (j *cronJob) wait() {
	j.firing.Lock()
	j.firing.Unlock()
}

func (j *cronJob) view(withOwner bool) map[string]any {
	var interval any
	if j.spec.hasInterval {
		interval = j.spec.interval
	}
	m := map[string]any{"job_id": j.id, "room": j.spec.room, "channel": j.spec.channel, "delay_seconds": j.spec.delay,
		"interval_seconds": interval, "repeat_count": j.spec.repeat, "created_at": protocol.FormatTime(j.created)}
	if withOwner {
		m["owner_client_id"] = j.owner
	}
	return m
}

// crons is the job registry; each job runs on its own goroutine.
type crons struct {
	o        *Operators
	mu       sync.Mutex
	jobs     map[string]*cronJob
	byTenant map[string]int
	seq      uint64
	stopped  bool
	wg       sync.WaitGroup
}

func newCrons(o *Operators) *crons {
	return &crons{o: o, jobs: make(map[string]*cronJob), byTenant: make(map[string]int)}
}

func (o *Operators) cronCommands() []bus.Command {
	return []bus.Command{
		{Name: "op.cron.schedule", Description: "Publish a message later, optionally repeatedly", Inspect: "payload",
			Args: []bus.ArgDoc{{Name: "room", Required: true, Description: "Room"}, {Name: "channel", Required: true, Description: "Channel (or room:channel)"},
				{Name: "payload", Required: true, Description: "Message payload (object)"},
				{Name: "delay_seconds", Description: "First firing delay, > 0 and <= 86400, default 1.0"},
				{Name: "interval_seconds", Description: "Interval between firings, 0.1-86400; required when repeat_count > 1"},
				{Name: "repeat_count", Description: "Number of firings, 1-10000, default 1"}},
			Run: o.crons.schedule},
		{Name: "op.cron.list", Description: "List cron jobs (admins see the whole tenant)", Args: []bus.ArgDoc{}, Run: o.crons.list},
		{Name: "op.cron.cancel", Description: "Cancel a cron job",
			Args: []bus.ArgDoc{{Name: "job_id", Required: true, Description: "Job id"}}, Run: o.crons.cancelCmd},
	}
}

func (cr *crons) schedule(_ context.Context, call *bus.Call) bus.Result {
	spec, d := parseCronArgs(call.Args)
	if d != "" {
		return bus.Invalid(d)
	}
	tenant := call.Client.Tenant
	cr.mu.Lock()
	if cr.stopped {
		cr.mu.Unlock()
		return bus.Fail(protocol.CodeExecutionError, "Execution error: server shutting down")
	}
	if cr.byTenant[tenant] >= maxCronJobs {
		cr.mu.Unlock()
		return bus.Fail(protocol.CodeLimitExceeded, "Cron job limit reached ("+strconv.Itoa(maxCronJobs)+")")
	}
	cr.seq++
	t := time.Now()
	j := &cronJob{spec: spec, id: "cron_" + protocol.RandomHex(6), owner: call.Client.ID, tenant: tenant,
		created: t.UTC(), start: t, seq: cr.seq, cancel: make(chan struct{})}
	cr.jobs[j.id] = j
	cr.byTenant[tenant]++
	cr.wg.Add(1)
	cr.mu.Unlock()
	go cr.run(j)
	return bus.Result{Message: "Cron job scheduled", Data: j.view(false)}
}

func (cr *crons) list(_ context.Context, call *bus.Call) bus.Result {
	cr.mu.Lock()
	var out []*cronJob
	for _, j := range cr.jobs {
		if j.tenant == call.Client.Tenant && (call.Client.Admin || j.owner == call.Client.ID) {
			out = append(out, j)
		}
	}
	cr.mu.Unlock()
	sort.Slice(out, func(i, k int) bool { return out[i].seq < out[k].seq })
	views := make([]map[string]any, 0, len(out))
	for _, j := range out {
		views = append(views, j.view(true))
	}
	return bus.Result{Message: "Cron jobs retrieved", Data: map[string]any{"jobs": views, "count": len(views)}}
}

func (cr *crons) cancelCmd(_ context.Context, call *bus.Call) bus.Result {
	id, _, d := call.Args.String("job_id", true)
	if d != "" {
		return bus.Invalid(d)
	}
	cr.mu.Lock()
	j := cr.jobs[id]
	if j == nil || j.tenant != call.Client.Tenant {
		cr.mu.Unlock()
		return bus.Result{Code: protocol.CodeNotFound, Message: "Cron job '" + id + "' not found", Data: map[string]any{"job_id": id}}
	}
	if j.owner != call.Client.ID && !call.Client.Admin {
		cr.mu.Unlock()
		return bus.Fail(protocol.CodeAuthorization, "Cannot cancel cron job owned by another client")
	}
	cr.removeLocked(j)
	cr.mu.Unlock()
	j.stop()
	j.wait() // "Cron job cancelled" is never followed by a firing of the job
	return bus.Result{Message: "Cron job cancelled", Data: map[string]any{"job_id": id}}
}

func (cr *crons) removeLocked(j *cronJob) {
	if cr.jobs[j.id] != j {
		return
	}
	delete(cr.jobs, j.id)
	if cr.byTenant[j.tenant]--; cr.byTenant[j.tenant] <= 0 {
		delete(cr.byTenant, j.tenant)
	}
}

// cancelOwner cancels the jobs of a connection that ended (PROTOCOL.md
// §3.10).
func (cr *crons) cancelOwner(clientID string) {
	cr.mu.Lock()
	var victims []*cronJob
	for _, j := range cr.jobs {
		if j.owner == clientID {
			victims = append(victims, j)
			cr.removeLocked(j)
		}
	}
	cr.mu.Unlock()
	for _, j := range victims {
		j.stop()
	}
	for _, j := range victims {
		j.wait()
	}
}

// stopAll cancels every job and waits until no firing is in progress.
func (cr *crons) stopAll() {
	cr.mu.Lock()
	cr.stopped = true
	victims := make([]*cronJob, 0, len(cr.jobs))
	for _, j := range cr.jobs {
		victims = append(victims, j)
		cr.removeLocked(j)
	}
	cr.mu.Unlock()
	for _, j := range victims {
		j.stop()
	}
	cr.wg.Wait()
}

// run fires the job on an absolute schedule: slot i is due at
// start + delay + (i-1)·interval, so lateness does not accumulate over
// iterations. When a firing ran so late (a stalled storage write, say) that
// later slots are already past, those slots are skipped and only the latest
// of them fires, at once: there is never a burst of catch-up firings.
// metadata.iteration is the slot number, so a receiver sees the skipped
// slots as a gap, and the job still ends with its last slot.
func (cr *crons) run(j *cronJob) {
	defer cr.wg.Done()
	defer func() {
		cr.mu.Lock()
		cr.removeLocked(j)
		cr.mu.Unlock()
	}()
	delay := seconds(j.spec.delay)
	interval := seconds(j.spec.interval)
	due := func(i int) time.Time { return j.start.Add(delay + time.Duration(i-1)*interval) }
	for i := 1; i <= j.spec.repeat; i++ {
		if late := time.Since(due(i)); late > 0 && interval > 0 {
			if skip := int(late / interval); skip > 0 {
				next := min(i+skip, j.spec.repeat)
				cr.o.log.Warn("cron slots skipped after a late firing", "job_id", j.id, "skipped", next-i)
				i = next
			}
		}
		t := time.NewTimer(time.Until(due(i)))
		select {
		case <-j.cancel:
			t.Stop()
			return
		case <-t.C:
		}
		j.firing.Lock()
		select {
		case <-j.cancel:
			j.firing.Unlock()
			return
		default:
		}
		cr.fire(j, i)
		j.firing.Unlock()
	}
}

func seconds(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}

// fire publishes one firing: a fresh message in the owner's tenant, inspected
// by CASIL, stored and delivered to every subscriber (owner included), with
// no ack and no webhook (PROTOCOL.md §7.3).
func (cr *crons) fire(j *cronJob, iteration int) {
	srv := cr.o.server()
	if srv == nil {
		return
	}
	meta, _ := json.Marshal(map[string]any{"cron_job_id": j.id, "iteration": iteration})
	env := &protocol.Envelope{ID: protocol.NewID(), Timestamp: protocol.FormatTime(time.Now()), Type: "message",
		Version: protocol.Version, Sender: "op-cron", Payload: j.spec.payload, Metadata: meta,
		Room: j.spec.room, Channel: j.spec.channel}
	if srv.InspectContent(bus.ClientInfo{ID: j.owner, Tenant: j.tenant}, env, casil.KindCron) {
		return // blocked: dropped, reported by the bus; the job continues
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := srv.Publish(ctx, j.tenant, j.spec.room, j.spec.channel, env); err != nil {
		cr.o.log.Warn("cron firing dropped", "job_id", j.id, "iteration", iteration, "error", publishErrorKind(err))
	}
}
