package bus

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/storage"
)

// historyScope parses the room/channel arguments shared by the history
// commands. Non-admins must name a room (PROTOCOL.md §6.12, §9.2).
func historyScope(c *Client, a protocol.Args, denyMessage string) (room, ch string, res *Result) {
	r, _, d := a.String("room", false)
	if d != "" {
		x := Invalid(d)
		return "", "", &x
	}
	n, _, d := a.String("channel", false)
	if d != "" {
		x := Invalid(d)
		return "", "", &x
	}
	if r == "" && !strings.Contains(n, ":") && !c.admin {
		x := Fail(protocol.CodeAuthorization, denyMessage)
		return "", "", &x
	}
	switch {
	case r == "" && n == "":
		return "", "", nil
	case n == "" && !strings.Contains(r, ":"):
		if !protocol.ValidName(r) {
			x := Invalid("Invalid room name: " + r)
			return "", "", &x
		}
		return r, "", nil
	case r == "" && !strings.Contains(n, ":"):
		x := Invalid("'room' is required when 'channel' is given")
		return "", "", &x
	}
	rr, cc, st, detail := protocol.ResolveTarget(r, n)
	if st != protocol.TargetOK {
		x := Invalid(detail)
		return "", "", &x
	}
	return rr, cc, nil
}

// timeArg parses an optional timestamp argument.
func timeArg(a protocol.Args, name string) (time.Time, bool, *Result) {
	raw, ok := a[name]
	if !ok || string(raw) == "null" {
		return time.Time{}, false, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		x := Invalid("'" + name + "' must be an ISO8601 timestamp string")
		return time.Time{}, false, &x
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false, nil
	}
	t, ok := protocol.ParseTimestamp(s)
	if !ok {
		x := Invalid("'" + name + "' must be an ISO8601 timestamp string")
		return time.Time{}, false, &x
	}
	return t, true, nil
}

// limitArg parses an integer limit in [1, max].
func limitArg(a protocol.Args, def, max int) (int, *Result) {
	v, present, d := a.Int("limit")
	if d != "" {
		x := Invalid(d)
		return 0, &x
	}
	if !present {
		return def, nil
	}
	if v <= 0 {
		x := Invalid("'limit' must be > 0")
		return 0, &x
	}
	if v > int64(max) {
		x := Invalid("'limit' must be <= " + strconv.Itoa(max))
		return 0, &x
	}
	return int(v), nil
}

// window is the validated scope, limit and time range shared by `history`
// and `op.history.get` (PROTOCOL.md §6.12, §7.5).
type window struct {
	room, channel      string
	limit              int
	since, until       time.Time
	hasSince, hasUntil bool
}

func parseWindow(c *Client, a protocol.Args, defLimit int) (window, *Result) {
	var w window
	var bad *Result
	if w.room, w.channel, bad = historyScope(c, a, "Only admin clients can query global history; provide 'room'"); bad != nil {
		return w, bad
	}
	if w.limit, bad = limitArg(a, defLimit, 1000); bad != nil {
		return w, bad
	}
	if w.since, w.hasSince, bad = timeArg(a, "since"); bad != nil {
		return w, bad
	}
	if w.until, w.hasUntil, bad = timeArg(a, "until"); bad != nil {
		return w, bad
	}
	if w.hasSince && w.hasUntil && w.until.Before(w.since) {
		x := Invalid("'until' must be >= 'since'")
		return w, &x
	}
	return w, nil
}

// knownStreams lists the tenant's channels in scope of a room-wide or
// tenant-wide query (storage.Query.Known).
func knownStreams(t *tenant, room string) []string {
	var out []string
	for _, ch := range t.channelsSorted() {
		if room == "" || ch.room == room {
			out = append(out, ch.fullName())
		}
	}
	return out
}

// delivered turns stored entries into the envelopes as they were delivered.
func delivered(entries []storage.Entry) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(entries))
	for _, e := range entries {
		b, err := protocol.InjectStreamPosition(e.Envelope, e.Offset, e.Epoch)
		if err != nil {
			continue
		}
		out = append(out, b)
	}
	return out
}

// fitReply trims a result so its reply stays within the connection's send
// budget (ARQONBUS_SEND_QUEUE_BYTES): a large window is answered with what
// fits and has_more, instead of an unbounded frame built in memory. keepNewest
// says which end of the oldest-to-newest window survives. It returns how many
// entries to keep from that end.
func (s *Server) fitReply(sizes []int, keepNewest bool) (keep int, truncated bool) {
	budget := s.opts.SendQueueBytes / 2 // leaves room for what is already queued
	total := 0
	for i := range sizes {
		j := i
		if keepNewest {
			j = len(sizes) - 1 - i
		}
		total += sizes[j] + 64
		if total > budget {
			return i, true
		}
	}
	return len(sizes), false
}

// trimEntries applies fitReply to stored entries.
func (s *Server) trimEntries(entries []storage.Entry, keepNewest bool) ([]storage.Entry, bool) {
	sizes := make([]int, len(entries))
	for i, e := range entries {
		sizes[i] = len(e.Envelope)
	}
	keep, truncated := s.fitReply(sizes, keepNewest)
	if keepNewest {
		return entries[len(entries)-keep:], truncated
	}
	return entries[:keep], truncated
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) cmdHistory(c *Client, call *Call) (Result, bool) {
	a := call.Args
	w, bad := parseWindow(c, a, 50)
	if bad != nil {
		return *bad, false
	}
	room, ch, limit := w.room, w.channel, w.limit
	q := storage.Query{Tenant: c.tenant.id, Room: room, Channel: ch, Since: w.since, Until: w.until, Limit: limit}
	if ch == "" {
		q.Known = knownStreams(c.tenant, room)
	}
	if raw, ok := a["after_offset"]; ok && string(raw) != "null" {
		v, _, d := a.Int("after_offset")
		if d != "" || v < 0 {
			return Invalid("'after_offset' must be a non-negative integer"), false
		}
		if ch == "" {
			return Invalid("'after_offset' requires 'channel'"), false
		}
		q.AfterOffset, q.HasAfter = uint64(v), true
	}
	ctx := context.Background()
	data := map[string]any{"room": nullable(room), "channel": nullable(ch), "limit": limit}
	if ch != "" {
		data["epoch"], data["offset"] = nil, 0
		if existing := c.tenant.lookup(room, ch); existing != nil {
			st, err := s.store.State(ctx, existing.key)
			if err != nil {
				return storageFailure(err), false
			}
			data["epoch"], data["offset"] = nullable(st.Epoch), st.Top
		}
	}
	res, err := s.store.History(ctx, q)
	if err != nil {
		return storageFailure(err), false
	}
	entries, truncated := s.trimEntries(res.Entries, !q.HasAfter)
	msgs := delivered(entries)
	res.HasMore = res.HasMore || truncated
	data["messages"] = msgs
	data["count"] = len(msgs)
	data["has_more"] = res.HasMore
	return Result{Message: "Retrieved " + strconv.Itoa(len(msgs)) + " messages", Data: data}, false
}

type historyEntry struct {
	Envelope        json.RawMessage `json:"envelope"`
	StoredAt        string          `json:"stored_at"`
	StorageMetadata map[string]any  `json:"storage_metadata"`
}

func (s *Server) windowEntries(entries []storage.Entry) []historyEntry {
	backend := s.store.Health().Backend
	if backend == "" {
		backend = "memory"
	}
	out := make([]historyEntry, 0, len(entries))
	for _, e := range entries {
		b, err := protocol.InjectStreamPosition(e.Envelope, e.Offset, e.Epoch)
		if err != nil {
			continue
		}
		out = append(out, historyEntry{Envelope: b, StoredAt: protocol.FormatTime(e.StoredAt),
			StorageMetadata: map[string]any{"backend": backend, "offset": e.Offset, "epoch": e.Epoch}})
	}
	return out
}

func timeOrNil(t time.Time, ok bool) any {
	if !ok {
		return nil
	}
	return protocol.FormatTime(t)
}

func (s *Server) cmdOpHistoryGet(c *Client, call *Call) (Result, bool) {
	w, bad := parseWindow(c, call.Args, 100)
	if bad != nil {
		return *bad, false
	}
	q := storage.Query{Tenant: c.tenant.id, Room: w.room, Channel: w.channel, Since: w.since, Until: w.until, Limit: w.limit}
	if w.channel == "" {
		q.Known = knownStreams(c.tenant, w.room)
	}
	res, err := s.store.History(context.Background(), q)
	if err != nil {
		return storageFailure(err), false
	}
	kept, _ := s.trimEntries(res.Entries, true)
	entries := s.windowEntries(kept)
	return Result{Message: "History window retrieved", Data: map[string]any{
		"entries": entries, "count": len(entries), "room": nullable(w.room), "channel": nullable(w.channel),
		"since": timeOrNil(w.since, w.hasSince), "until": timeOrNil(w.until, w.hasUntil), "limit": w.limit,
	}}, false
}

// boolArg parses a boolean with the CASIL coercions (JSON boolean, integer,
// or true/1/yes/on and false/0/no/off, case-insensitive).
func boolArg(a protocol.Args, name string, def bool) (bool, bool) {
	raw, ok := a[name]
	if !ok || string(raw) == "null" {
		return def, true
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false, false
	}
	switch x := v.(type) {
	case bool:
		return x, true
	case float64:
		if x != math.Trunc(x) {
			return false, false
		}
		return x != 0, true
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1", "yes", "on":
			return true, true
		case "false", "0", "no", "off":
			return false, true
		}
	}
	return false, false
}

func (s *Server) cmdOpHistoryReplay(c *Client, call *Call) (Result, bool) {
	start := time.Now()
	a := call.Args
	from, hasFrom, bad := timeArg(a, "from_ts")
	if bad != nil {
		return *bad, false
	}
	to, hasTo, bad := timeArg(a, "to_ts")
	if bad != nil {
		return *bad, false
	}
	if !hasFrom || !hasTo {
		return Invalid("'from_ts' and 'to_ts' are required"), false
	}
	if to.Before(from) {
		return Invalid("'to_ts' must be >= 'from_ts'"), false
	}
	room, ch, bad := historyScope(c, a, "Only admin clients can replay global history; provide 'room'")
	if bad != nil {
		return *bad, false
	}
	strict, ok := boolArg(a, "strict_sequence", true)
	if !ok {
		return Invalid("'strict_sequence' must be a boolean"), false
	}
	limit, bad := limitArg(a, 1000, 5000)
	if bad != nil {
		return *bad, false
	}
	// Oldest `limit` entries of the window: page forward from the start.
	q := storage.Query{Tenant: c.tenant.id, Room: room, Channel: ch, Since: from, Until: to, Limit: limit, HasAfter: true}
	if ch == "" {
		q.Known = knownStreams(c.tenant, room)
	}
	res, err := s.store.History(context.Background(), q)
	if err != nil {
		return storageFailure(err), false
	}
	kept, _ := s.trimEntries(res.Entries, false)
	entries := s.windowEntries(kept)
	if strict {
		var last int64
		seen := false
		for _, e := range entries {
			var env struct {
				Metadata map[string]json.RawMessage `json:"metadata"`
			}
			if json.Unmarshal(e.Envelope, &env) != nil {
				continue
			}
			raw, ok := env.Metadata["sequence"]
			if !ok || string(raw) == "null" {
				continue
			}
			var f float64
			if json.Unmarshal(raw, &f) != nil || f != math.Trunc(f) {
				return Invalid("metadata.sequence must be an integer for strict_sequence replay"), false
			}
			if seen && int64(f) < last {
				return Invalid("Sequence regression detected in replay window"), false
			}
			last, seen = int64(f), true
		}
	}
	return Result{Message: "History replay window retrieved", Data: map[string]any{
		"entries": entries, "count": len(entries), "room": nullable(room), "channel": nullable(ch),
		"from_ts": protocol.FormatTime(from), "to_ts": protocol.FormatTime(to), "strict_sequence": strict,
		"limit": limit, "latency_ms": float64(time.Since(start).Microseconds()) / 1000,
	}}, false
}
