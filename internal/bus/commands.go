package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/casil"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/storage"
)

// ArgDoc documents one command argument for `help` (PROTOCOL.md §6.6).
type ArgDoc struct {
	Name        string `json:"name"`
	Required    bool   `json:"required"`
	Description string `json:"description"`
}

// ClientInfo is the read-only view of a connection given to command
// extensions.
type ClientInfo struct {
	ID       string
	Tenant   string // "" is the default tenant
	Subject  string
	Admin    bool
	Operator bool
}

// Info returns the client's identity.
func (c *Client) Info() ClientInfo {
	return ClientInfo{ID: c.id, Tenant: c.tenant.id, Subject: c.subject, Admin: c.admin, Operator: c.operator}
}

// Call is one command invocation.
type Call struct {
	Client   ClientInfo
	Name     string
	Args     protocol.Args
	Envelope *protocol.Envelope
	Received time.Time
}

// Result is a command outcome. Code is empty on success.
type Result struct {
	Message string
	Data    any
	Code    string
}

// Fail builds an error result.
func Fail(code, message string) Result { return Result{Code: code, Message: message} }

// Invalid builds a VALIDATION_ERROR result from a detail.
func Invalid(detail string) Result {
	return Result{Code: protocol.CodeValidation, Message: "Validation error: " + detail}
}

// Command is a command definition. Built-in commands and extensions (op.*)
// share it.
type Command struct {
	Name        string
	Aliases     []string
	Description string
	Args        []ArgDoc
	AdminOnly   bool
	// DenyMessage is the AUTHORIZATION_ERROR text for AdminOnly commands.
	DenyMessage string
	// Feature, when set, gates the command (stage 2 of PROTOCOL.md §6.3):
	// it returns a FEATURE_DISABLED message while the feature is off.
	Feature func(name string) (enabled bool, message string)
	// Inspect names the args key CASIL inspects (op.store.set, op.cron.schedule).
	Inspect string
	Run     func(ctx context.Context, call *Call) Result

	run func(c *Client, call *Call) (Result, bool) // built-ins; true when the pair was already sent
}

// Extension adds commands and lifecycle hooks (operators, CASIL commands).
type Extension struct {
	Commands     []Command
	OnDisconnect func(ClientInfo)
	OnShutdown   func()
	// OnMessage runs after a client message was routed and acked (webhooks);
	// frame is the delivery frame and must not be modified.
	OnMessage func(sender ClientInfo, room, channel string, frame []byte)
}

func (s *Server) register(cmd Command) {
	c := cmd
	s.commands[c.Name] = &c
	for _, a := range c.Aliases {
		s.aliases[a] = c.Name
	}
}

func (s *Server) lookupCommand(name string) *Command {
	if cmd, ok := s.commands[name]; ok {
		return cmd
	}
	if canon, ok := s.aliases[name]; ok {
		return s.commands[canon]
	}
	return nil
}

// handleCommand runs the dispatch stages of PROTOCOL.md §6.3 and sends the
// response/command_response pair.
func (s *Server) handleCommand(c *Client, env *protocol.Envelope, now time.Time) {
	start := time.Now()
	name := env.Command
	cmd := s.lookupCommand(name)
	label := "unknown"
	var res Result
	sent := false
	switch {
	case cmd == nil:
		res = Fail(protocol.CodeUnknownCommand, "Unknown command: "+name)
	default:
		label = cmd.Name
		res, sent = s.runCommand(c, cmd, env, now)
	}
	if !sent {
		if cmd != nil {
			name = cmd.Name
		}
		if res.Code == "casil-blocked" {
			return
		}
		s.sendResult(c, env, name, res)
	}
	s.metrics.CommandSeconds.WithLabelValues(label).Observe(time.Since(start).Seconds())
	c.noteActivity("command", "", "", name)
}

func (s *Server) runCommand(c *Client, cmd *Command, env *protocol.Envelope, now time.Time) (Result, bool) {
	if cmd.Feature != nil {
		if ok, msg := cmd.Feature(cmd.Name); !ok {
			return Fail(protocol.CodeFeatureDisabled, msg), false
		}
	}
	if cmd.AdminOnly && !c.admin {
		return Fail(protocol.CodeAuthorization, cmd.DenyMessage), false
	}
	args, err := protocol.ParseArgs(env.Args)
	if err != nil {
		return Invalid("'args' must be an object"), false
	}
	if cmd.Inspect != "" && s.opts.Casil != nil {
		if raw, ok := args[cmd.Inspect]; ok {
			probe := *env
			probe.Payload = raw
			if !s.inspect(c, &probe, casilKind(cmd.Name), casilTarget(args), env.Room, env.Channel) {
				return Result{Code: "casil-blocked"}, false
			}
			if !jsonEqual(probe.Payload, raw) {
				args[cmd.Inspect] = probe.Payload
			}
		}
	}
	call := &Call{Client: c.Info(), Name: cmd.Name, Args: args, Envelope: env, Received: now}
	return s.safeRun(c, cmd, call)
}

// safeRun turns a panicking command into an EXECUTION_ERROR result
// (PROTOCOL.md §6.3 stage 5) instead of a crashed process.
func (s *Server) safeRun(c *Client, cmd *Command, call *Call) (res Result, sent bool) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("command panicked", "command", cmd.Name, "client_id", call.Client.ID, "error", fmt.Sprint(r))
			res, sent = Fail(protocol.CodeExecutionError, "Execution error: internal failure"), false
		}
	}()
	if cmd.run != nil {
		return cmd.run(c, call)
	}
	return cmd.Run(context.Background(), call), false
}

// sendResult enqueues the response + command_response pair as one unit.
func (s *Server) sendResult(c *Client, env *protocol.Envelope, name string, res Result) {
	status, result := "success", "ok"
	data := res.Data
	if res.Code != "" {
		status, result = "error", "error"
		s.countError(res.Code)
	}
	if data == nil {
		data = emptyObject
	}
	_, ts := serverTime()
	resp := protocol.Envelope{ID: protocol.NewID(), Timestamp: ts, Type: "response", Version: protocol.Version,
		Payload: mustJSON(map[string]any{"message": res.Message, "data": data}),
		Sender:  protocol.ServerSender, RequestID: env.ID, Status: status, ErrorCode: res.Code}
	ack := protocol.Envelope{ID: env.ID, Timestamp: ts, Type: "command_response", Version: protocol.Version,
		Payload: mustJSON(map[string]string{"result": result}), Sender: protocol.ServerSender,
		Command: name, RequestID: env.ID}
	c.enqueue(resp.AppendJSON(nil), ack.AppendJSON(nil))
}

func storageFailure(err error) Result {
	detail := err.Error()
	if errors.Is(err, storage.ErrUnavailable) {
		detail = "storage backend is unhealthy"
	}
	return Fail(protocol.CodeStorageUnavailable, "Storage unavailable: "+detail)
}

// target parses a room/channel argument pair (PROTOCOL.md §6.3, §4.4).
func target(a protocol.Args) (room, ch string, res *Result) {
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
	rr, cc, st, detail := protocol.ResolveTarget(r, n)
	switch st {
	case protocol.TargetOK:
		return rr, cc, nil
	case protocol.TargetInvalid:
		x := Invalid(detail)
		return "", "", &x
	default:
		x := Invalid("'room' and 'channel' are required")
		return "", "", &x
	}
}

func (s *Server) registerCommands() {
	s.commands = make(map[string]*Command)
	s.aliases = make(map[string]string)
	roomArg := ArgDoc{Name: "room", Required: true, Description: "Room name"}
	chArg := ArgDoc{Name: "channel", Required: true, Description: "Channel name (or room:channel)"}
	s.register(Command{Name: "status", Description: "Server and connection status", Args: []ArgDoc{}, run: s.cmdStatus})
	s.register(Command{Name: "ping", Description: "Round trip via the command path", Args: []ArgDoc{}, run: s.cmdPing})
	s.register(Command{Name: "help", Description: "List commands", Args: []ArgDoc{{Name: "command", Description: "Command to describe"}}, run: s.cmdHelp})
	s.register(Command{Name: "join_channel", Description: "Subscribe to a channel, optionally recovering missed messages",
		Args: []ArgDoc{roomArg, chArg, {Name: "recover", Description: "Recovery position {epoch, offset}"}}, run: s.cmdJoin})
	s.register(Command{Name: "leave_channel", Description: "Unsubscribe from a channel", Args: []ArgDoc{roomArg, chArg}, run: s.cmdLeave})
	s.register(Command{Name: "list_rooms", Description: "Rooms in the tenant", Args: []ArgDoc{}, run: s.cmdListRooms})
	s.register(Command{Name: "list_channels", Description: "Channels of a room", Args: []ArgDoc{roomArg}, run: s.cmdListChannels})
	s.register(Command{Name: "channel_info", Description: "Members and metadata of a channel", Args: []ArgDoc{roomArg, chArg}, run: s.cmdChannelInfo})
	s.register(Command{Name: "create_channel", Description: "Create a channel explicitly", AdminOnly: true,
		DenyMessage: "Only admin clients can create channels",
		Args:        []ArgDoc{roomArg, chArg, {Name: "description", Description: "Description (at most 256 characters)"}}, run: s.cmdCreate})
	s.register(Command{Name: "delete_channel", Description: "Delete an empty, non-hardcoded channel", AdminOnly: true,
		DenyMessage: "Only admin clients can delete channels", Args: []ArgDoc{roomArg, chArg}, run: s.cmdDelete})
	s.register(Command{Name: "history", Description: "Stored messages of a stream",
		Args: []ArgDoc{{Name: "room", Description: "Room (required for non-admins)"}, {Name: "channel", Description: "Channel"},
			{Name: "limit", Description: "1-1000, default 50"}, {Name: "since", Description: "Start time (inclusive)"},
			{Name: "until", Description: "End time (exclusive)"}, {Name: "after_offset", Description: "Forward paging offset; requires channel"}},
		run: s.cmdHistory})
	s.register(Command{Name: "op.history.get", Aliases: []string{"history.get"}, Description: "Windowed history",
		Args: []ArgDoc{{Name: "room", Description: "Room (required for non-admins)"}, {Name: "channel", Description: "Channel"},
			{Name: "limit", Description: "1-1000, default 100"}, {Name: "since", Description: "Start time"}, {Name: "until", Description: "End time"}},
		run: s.cmdOpHistoryGet})
	s.register(Command{Name: "op.history.replay", Aliases: []string{"history.replay"}, Description: "Replay a time window of history",
		Args: []ArgDoc{{Name: "from_ts", Required: true, Description: "Start time"}, {Name: "to_ts", Required: true, Description: "End time"},
			{Name: "room", Description: "Room (required for non-admins)"}, {Name: "channel", Description: "Channel"},
			{Name: "strict_sequence", Description: "Check metadata.sequence, default true"}, {Name: "limit", Description: "1-5000, default 1000"}},
		run: s.cmdOpHistoryReplay})
	for _, ext := range s.opts.Extensions {
		for _, cmd := range ext.Commands {
			s.register(cmd)
		}
	}
}

func (s *Server) cmdStatus(c *Client, call *Call) (Result, bool) {
	h := s.store.Health()
	rooms, chans := c.tenant.counts()
	c.tenant.mu.RLock()
	clients := c.tenant.clients
	c.tenant.mu.RUnlock()
	subs := c.subscriptionNames()
	sort.Strings(subs)
	data := map[string]any{
		"server": map[string]any{"service": "arqonbus", "version": versionString(), "protocol": protocol.Version,
			"uptime_seconds": s.Uptime().Seconds(), "environment": s.opts.Environment},
		"client": map[string]any{"client_id": c.id, "client_type": c.clientType, "screen_name": c.screenNameValue(),
			"subject": c.subjectValue(), "role": c.role, "admin": c.admin, "tenant_id": c.tenantID(),
			"subscriptions": subs, "connected_at": protocol.FormatTime(c.connectedAt)},
		"tenant":  map[string]any{"clients": clients, "rooms": rooms, "channels": chans},
		"storage": map[string]any{"backend": h.Backend, "mode": h.Mode, "healthy": h.Healthy, "degraded": h.Degraded},
	}
	return Result{Message: "Server status retrieved", Data: data}, false
}

func (s *Server) cmdPing(c *Client, call *Call) (Result, bool) {
	var latency any
	if !call.Envelope.ClientTime.IsZero() {
		latency = float64(call.Received.Sub(call.Envelope.ClientTime).Microseconds()) / 1000
	}
	return Result{Message: "Pong", Data: map[string]any{"pong": true, "client_id": c.id,
		"server_time": protocol.FormatTime(time.Now()), "latency_ms": latency}}, false
}

type helpEntry struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Args        []ArgDoc `json:"args"`
	AdminOnly   bool     `json:"admin_only"`
	Aliases     []string `json:"aliases,omitempty"`
}

func entryFor(cmd *Command) helpEntry {
	args := cmd.Args
	if args == nil {
		args = []ArgDoc{}
	}
	return helpEntry{Name: cmd.Name, Description: cmd.Description, Args: args, AdminOnly: cmd.AdminOnly, Aliases: cmd.Aliases}
}

func (s *Server) cmdHelp(c *Client, call *Call) (Result, bool) {
	name, present, d := call.Args.String("command", false)
	if d != "" {
		return Invalid(d), false
	}
	if present && name != "" {
		cmd := s.lookupCommand(name)
		if cmd == nil {
			return Fail(protocol.CodeNotFound, "Command '"+name+"' not found"), false
		}
		return Result{Message: "Help for command '" + cmd.Name + "'", Data: map[string]any{"command": entryFor(cmd)}}, false
	}
	names := make([]string, 0, len(s.commands))
	for n := range s.commands {
		names = append(names, n)
	}
	sort.Strings(names)
	entries := make([]helpEntry, 0, len(names))
	for _, n := range names {
		entries = append(entries, entryFor(s.commands[n]))
	}
	return Result{Message: "ArqonBus commands help (" + strconv.Itoa(len(entries)) + " commands available)",
		Data: map[string]any{"commands": entries, "count": len(entries)}}, false
}

// cmdJoin subscribes the client (PROTOCOL.md §6.7). Registration, reading
// the top offset, recovery and enqueueing the result pair all happen under
// the channel's publish lock.
func (s *Server) cmdJoin(c *Client, call *Call) (Result, bool) {
	room, name, bad := target(call.Args)
	if bad != nil {
		return *bad, false
	}
	var rec struct {
		set    bool
		epoch  string
		offset uint64
	}
	if raw, present, d := call.Args.Object("recover"); d != "" {
		return Invalid("'recover' must be an object"), false
	} else if present {
		ra, err := protocol.ParseArgs(raw)
		if err != nil {
			return Invalid("'recover' must be an object"), false
		}
		ep, ok := ra["epoch"]
		var epoch string
		if !ok || json.Unmarshal(ep, &epoch) != nil {
			return Invalid("'recover.epoch' must be a string"), false
		}
		off, _, d := ra.Int("offset")
		if d != "" || off < 0 {
			return Invalid("'recover.offset' must be a non-negative integer"), false
		}
		if _, ok := ra["offset"]; !ok {
			return Invalid("'recover.offset' must be a non-negative integer"), false
		}
		rec.set, rec.epoch, rec.offset = true, epoch, uint64(off)
	}
	ctx := context.Background()
	if h := s.store.Health(); h.Mode == "strict" && !h.Healthy {
		return storageFailure(storage.ErrUnavailable), false
	}
	var ch *channel
	for {
		var err error
		ch, _, err = s.hub.channelFor(ctx, c.tenant, room, name, c.id, false, nil)
		if errors.Is(err, errChannelCap) {
			return Fail(protocol.CodeLimitExceeded, "Channel limit reached ("+strconv.Itoa(s.opts.MaxChannels)+")"), false
		} else if err != nil {
			return storageFailure(err), false
		}
		ch.mu.Lock()
		if !ch.deleted {
			break
		}
		ch.mu.Unlock() // deleted meanwhile: join its implicit re-creation
	}
	defer ch.mu.Unlock()
	c.subsMu.Lock()
	_, already := c.subs[ch.fullName()]
	n := len(c.subs)
	c.subsMu.Unlock()
	if !already && n >= s.opts.MaxSubscriptions {
		return Fail(protocol.CodeLimitExceeded, "Subscription limit reached ("+strconv.Itoa(s.opts.MaxSubscriptions)+")"), false
	}
	st, err := s.store.EnsureStream(ctx, ch.key)
	if err != nil {
		return storageFailure(err), false
	}
	data := map[string]any{"room": room, "channel": name}
	if rec.set {
		recovered, pubs, st2, err := s.recover(ctx, ch, rec.epoch, rec.offset)
		if err != nil {
			return storageFailure(err), false
		}
		st = st2
		data["recovered"] = recovered
		data["publications"] = pubs
	}
	joined := ch.addSub(c)
	ch.lastActive = time.Now()
	if joined {
		c.subsMu.Lock()
		c.subs[ch.fullName()] = ch
		c.subsMu.Unlock()
	}
	data["joined"] = joined
	data["member_count"] = len(ch.subs)
	data["epoch"] = st.Epoch
	data["offset"] = st.Top
	s.sendResult(c, call.Envelope, call.Name, Result{Message: "Joined channel '" + room + ":" + name + "' successfully", Data: data})
	return Result{}, true
}

// recover applies the rules of PROTOCOL.md §8.3; never a partial recovery.
// Caller holds ch.mu.
func (s *Server) recover(ctx context.Context, ch *channel, epoch string, o uint64) (bool, []json.RawMessage, storage.StreamState, error) {
	max := s.opts.RecoveryMaxPublications
	st, entries, err := s.store.ReadAfter(ctx, ch.key, o, max)
	if err != nil {
		return false, nil, st, err
	}
	none := []json.RawMessage{}
	if epoch != st.Epoch || o > st.Top || o+1 < st.Lowest || st.Top-o > uint64(max) || uint64(len(entries)) != st.Top-o {
		return false, none, st, nil
	}
	pubs := make([]json.RawMessage, 0, len(entries))
	total := 0
	for i, e := range entries {
		if e.Offset != o+uint64(i)+1 {
			return false, none, st, nil
		}
		b, err := protocol.InjectStreamPosition(e.Envelope, e.Offset, st.Epoch)
		if err != nil {
			return false, none, st, nil
		}
		total += len(b)
		if total > s.opts.MaxMessageSize {
			return false, none, st, nil
		}
		pubs = append(pubs, b)
	}
	return true, pubs, st, nil
}

func (s *Server) cmdLeave(c *Client, call *Call) (Result, bool) {
	room, name, bad := target(call.Args)
	if bad != nil {
		return *bad, false
	}
	full := room + ":" + name
	c.subsMu.Lock()
	ch := c.subs[full]
	if ch != nil {
		delete(c.subs, full)
		if c.defaultTarget == ch {
			c.defaultTarget = nil
		}
	}
	c.subsMu.Unlock()
	if ch == nil {
		return Result{Message: "Not subscribed to channel '" + full + "'", Data: map[string]any{"room": room, "channel": name, "left": false}}, false
	}
	ch.mu.Lock()
	ch.removeSub(c)
	ch.lastActive = time.Now()
	ch.mu.Unlock()
	return Result{Message: "Left channel '" + full + "' successfully", Data: map[string]any{"room": room, "channel": name, "left": true}}, false
}

func (s *Server) cmdListRooms(c *Client, call *Call) (Result, bool) {
	type roomInfo struct {
		Room         string `json:"room"`
		ChannelCount int    `json:"channel_count"`
		MemberCount  int    `json:"member_count"`
		Hardcoded    bool   `json:"hardcoded"`
	}
	var rooms []roomInfo
	members := map[*Client]struct{}{}
	flush := func(r *roomInfo) {
		if r != nil {
			r.MemberCount = len(members)
			rooms = append(rooms, *r)
		}
		clear(members)
	}
	var cur *roomInfo
	for _, ch := range c.tenant.channelsSorted() {
		if cur == nil || cur.Room != ch.room {
			flush(cur)
			cur = &roomInfo{Room: ch.room, Hardcoded: ch.room == bootRoomScience || ch.room == bootRoomIntegriguard}
		}
		cur.ChannelCount++
		ch.mu.Lock()
		for _, m := range ch.subs {
			members[m] = struct{}{}
		}
		ch.mu.Unlock()
	}
	flush(cur)
	if rooms == nil {
		rooms = []roomInfo{}
	}
	return Result{Message: "Found " + strconv.Itoa(len(rooms)) + " rooms", Data: map[string]any{"rooms": rooms, "count": len(rooms)}}, false
}

func (s *Server) cmdListChannels(c *Client, call *Call) (Result, bool) {
	room, _, d := call.Args.String("room", true)
	if d != "" {
		return Invalid(d), false
	}
	if !protocol.ValidName(room) {
		return Invalid("Invalid room name: " + room), false
	}
	ctx := context.Background()
	var list []map[string]any
	for _, ch := range c.tenant.channelsSorted() {
		if ch.room != room {
			continue
		}
		st, err := s.store.State(ctx, ch.key)
		if err != nil {
			return storageFailure(err), false
		}
		list = append(list, map[string]any{"channel": ch.name, "member_count": ch.memberCount(), "hardcoded": ch.hardcoded,
			"description": ch.description, "created_at": protocol.FormatTime(ch.createdAt), "offset": st.Top})
	}
	if list == nil {
		return Fail(protocol.CodeNotFound, "Room '"+room+"' not found"), false
	}
	return Result{Message: "Found " + strconv.Itoa(len(list)) + " channels in room '" + room + "'",
		Data: map[string]any{"room": room, "channels": list, "count": len(list)}}, false
}

func (s *Server) cmdChannelInfo(c *Client, call *Call) (Result, bool) {
	room, name, bad := target(call.Args)
	if bad != nil {
		return *bad, false
	}
	ch := c.tenant.lookup(room, name)
	if ch == nil {
		return Fail(protocol.CodeNotFound, "Channel '"+room+":"+name+"' not found"), false
	}
	st, err := s.store.State(context.Background(), ch.key)
	if err != nil {
		return storageFailure(err), false
	}
	ch.mu.Lock()
	members := make([]*Client, len(ch.subs))
	copy(members, ch.subs)
	ch.mu.Unlock()
	sort.Slice(members, func(i, j int) bool { return members[i].id < members[j].id })
	count := len(members)
	truncated := count > 1000
	if truncated {
		members = members[:1000]
	}
	list := make([]map[string]any, 0, len(members))
	for _, m := range members {
		list = append(list, map[string]any{"client_id": m.id, "client_type": m.clientType, "screen_name": m.screenNameValue(), "subject": m.subjectValue()})
	}
	var epoch any
	if st.Epoch != "" {
		epoch = st.Epoch
	}
	return Result{Message: "Channel info retrieved for '" + room + ":" + name + "'", Data: map[string]any{
		"room": room, "channel": name, "member_count": count, "members_truncated": truncated, "members": list,
		"metadata": channelMetadata(ch), "epoch": epoch, "offset": st.Top, "history_count": st.Count,
	}}, false
}

func channelMetadata(ch *channel) map[string]any {
	return map[string]any{"hardcoded": ch.hardcoded, "implicit": ch.implicit, "description": ch.description,
		"created_by": ch.createdBy, "created_at": protocol.FormatTime(ch.createdAt)}
}

func (s *Server) cmdCreate(c *Client, call *Call) (Result, bool) {
	room, name, bad := target(call.Args)
	if bad != nil {
		return *bad, false
	}
	desc, present, d := call.Args.String("description", false)
	if d != "" {
		return Invalid(d), false
	}
	if len([]rune(desc)) > 256 {
		return Invalid("'description' must be at most 256 characters"), false
	}
	var dp *string
	if present && desc != "" {
		dp = &desc
	}
	ctx := context.Background()
	ch, created, err := s.hub.channelFor(ctx, c.tenant, room, name, c.id, true, dp)
	if errors.Is(err, errChannelCap) {
		return Fail(protocol.CodeLimitExceeded, "Channel limit reached ("+strconv.Itoa(s.opts.MaxChannels)+")"), false
	} else if err != nil {
		return storageFailure(err), false
	}
	data := map[string]any{"room": room, "channel": name, "created": created, "description": ch.description,
		"created_at": protocol.FormatTime(ch.createdAt), "created_by": ch.createdBy}
	if !created {
		return Result{Message: "Channel '" + room + ":" + name + "' already exists", Data: data}, false
	}
	if _, err := s.store.EnsureStream(ctx, ch.key); err != nil {
		return storageFailure(err), false
	}
	return Result{Message: "Channel '" + room + ":" + name + "' created successfully", Data: data}, false
}

func (s *Server) cmdDelete(c *Client, call *Call) (Result, bool) {
	room, name, bad := target(call.Args)
	if bad != nil {
		return *bad, false
	}
	full := room + ":" + name
	ch := c.tenant.lookup(room, name)
	if ch == nil {
		return Fail(protocol.CodeNotFound, "Channel '"+full+"' not found"), false
	}
	if ch.hardcoded {
		return Fail(protocol.CodeChannelProtected, "Channel '"+full+"' is hardcoded and cannot be deleted"), false
	}
	ctx := context.Background()
	ch.mu.Lock()
	if ch.deleted || c.tenant.lookup(room, name) != ch {
		// Deleted (and perhaps re-created) since the lookup: this object is
		// stale and must not touch the stream that now has its name.
		ch.mu.Unlock()
		return Fail(protocol.CodeNotFound, "Channel '"+full+"' not found"), false
	}
	if n := len(ch.subs); n > 0 {
		ch.mu.Unlock()
		return Fail(protocol.CodeChannelNotEmpty, "Channel '"+full+"' is not empty (members: "+strconv.Itoa(n)+")"), false
	}
	dropped, err := s.store.DeleteStream(ctx, ch.key)
	if err != nil {
		ch.mu.Unlock()
		return storageFailure(err), false
	}
	if err := s.store.DeleteChannel(ctx, c.tenant.id, room, name); err != nil {
		ch.mu.Unlock()
		return storageFailure(err), false
	}
	ch.deleted = true
	s.hub.removeChannel(ch)
	ch.mu.Unlock()
	s.emitEvent(c.tenant, "channel_deleted", map[string]any{"room": room, "channel": name, "deleted_by": c.id})
	return Result{Message: "Channel '" + full + "' deleted successfully",
		Data: map[string]any{"room": room, "channel": name, "deleted": true, "history_dropped": dropped}}, false
}

// casilKind maps a command name to its CASIL kind.
func casilKind(name string) casil.Kind { return casil.Kind(name) }

// casilTarget is the room:channel a command's content is addressed to, or ""
// when it names none.
func casilTarget(a protocol.Args) string {
	r, _, _ := a.String("room", false)
	n, _, _ := a.String("channel", false)
	if rr, cc, st, _ := protocol.ResolveTarget(r, n); st == protocol.TargetOK {
		return rr + ":" + cc
	}
	return ""
}

func jsonEqual(a, b json.RawMessage) bool {
	return strings.TrimSpace(string(a)) == strings.TrimSpace(string(b))
}
