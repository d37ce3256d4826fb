package e2e

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func data(t testing.TB, resp frame) frame {
	t.Helper()
	return frame(mustObj(t, resp, "payload.data"))
}

func TestCommandStatus(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	c := dial(t, s, dialOpts{query: url.Values{"client_type": {"service"}, "screen_name": {"svc"}}})
	room := uniq("st")
	c.join(room, "c")
	resp := c.mustOK("status", nil)
	if resp.str("payload.message") != "Server status retrieved" {
		t.Errorf("message = %q", resp.str("payload.message"))
	}
	d := data(t, resp)
	srv := frame(mustObj(t, d, "server"))
	if srv.str("service") != "arqonbus" || srv.str("version") != c.welcome.str("payload.server_version") || srv.str("protocol") != "1.0" ||
		srv.str("environment") != "development" || srv.num("uptime_seconds") < 0 {
		t.Errorf("status server = %v", srv)
	}
	cl := frame(mustObj(t, d, "client"))
	want := map[string]any{"client_id": c.id(), "client_type": "service", "screen_name": "svc", "subject": nil, "role": "user",
		"admin": false, "tenant_id": nil, "subscriptions": []string{room + ":c"}}
	for k, v := range want {
		if got, ok := cl[k]; !ok || !jsonEq(got, v) {
			t.Errorf("status client.%s = %v, want %v", k, got, v)
		}
	}
	if !reTimestamp.MatchString(cl.str("connected_at")) {
		t.Errorf("connected_at = %q", cl.str("connected_at"))
	}
	ten := frame(mustObj(t, d, "tenant"))
	for _, k := range []string{"clients", "rooms", "channels"} {
		if ten.num(k) < 1 {
			t.Errorf("status tenant.%s = %v", k, ten[k])
		}
	}
	if !jsonEq(d["storage"], map[string]any{"backend": "memory", "mode": "degraded", "healthy": true, "degraded": false}) {
		t.Errorf("status storage = %v", d["storage"])
	}
}

func TestCommandPing(t *testing.T) {
	t.Parallel()
	c := dial(t, defaultServer(t), dialOpts{})
	resp := c.mustOK("ping", nil)
	d := data(t, resp)
	if resp.str("payload.message") != "Pong" || d["pong"] != true || d.str("client_id") != c.id() || !reTimestamp.MatchString(d.str("server_time")) {
		t.Errorf("ping = %v", resp)
	}
	if v, ok := d["latency_ms"]; !ok || v != nil {
		t.Errorf("latency_ms without a timestamp = %v (present %v), want null", v, ok)
	}
	ts := time.Now().UTC().Add(-time.Second).Format(time.RFC3339Nano)
	c.send(map[string]any{"id": "arq_pt", "type": "command", "command": "ping", "timestamp": ts})
	resp, _ = c.readPair("arq_pt", "ping")
	if l := data(t, resp).num("latency_ms"); l < 500 || l > 60000 {
		t.Errorf("latency_ms with a timestamp 1 s old = %v", data(t, resp)["latency_ms"])
	}
}

func TestCommandHelp(t *testing.T) {
	t.Parallel()
	c := dial(t, defaultServer(t), dialOpts{})
	resp := c.mustOK("help", nil)
	d := data(t, resp)
	list, _ := d["commands"].([]any)
	if d.num("count") != float64(len(list)) || resp.str("payload.message") != "ArqonBus commands help ("+strconv.Itoa(len(list))+" commands available)" {
		t.Errorf("help message %q, count %v, %d entries", resp.str("payload.message"), d["count"], len(list))
	}
	var names []string
	entries := map[string]frame{}
	for _, e := range list {
		m, _ := e.(map[string]any)
		f := frame(m)
		names = append(names, f.str("name"))
		entries[f.str("name")] = f
		for _, k := range []string{"name", "description", "args", "admin_only"} {
			if _, ok := f[k]; !ok {
				t.Errorf("help entry %v lacks %q", f, k)
			}
		}
		for k := range f {
			if k != "name" && k != "description" && k != "args" && k != "admin_only" && k != "aliases" {
				t.Errorf("help entry %s has unexpected key %q", f.str("name"), k)
			}
		}
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("help entries not sorted by name: %v", names)
	}
	for _, n := range []string{"status", "ping", "help", "join_channel", "leave_channel", "list_rooms", "list_channels", "channel_info",
		"create_channel", "delete_channel", "history", "op.history.get", "op.history.replay"} {
		if _, ok := entries[n]; !ok {
			t.Errorf("help lacks %q (has %v)", n, names)
		}
	}
	for _, alias := range []string{"history.get", "history.replay"} {
		if _, ok := entries[alias]; ok {
			t.Errorf("alias %q has its own help entry", alias)
		}
	}
	for name, admin := range map[string]bool{"create_channel": true, "delete_channel": true, "status": false, "history": false, "join_channel": false} {
		if e, ok := entries[name]; ok && e["admin_only"] != admin {
			t.Errorf("help %s admin_only = %v, want %v", name, e["admin_only"], admin)
		}
	}
	if e, ok := entries["op.history.get"]; ok && !jsonEq(e["aliases"], []string{"history.get"}) {
		t.Errorf("op.history.get aliases = %v", e["aliases"])
	}
	if e, ok := entries["join_channel"]; ok {
		var argNames []string
		args, _ := e["args"].([]any)
		for _, a := range args {
			m, _ := a.(map[string]any)
			argNames = append(argNames, asString(m["name"]))
			if _, ok := m["required"].(bool); !ok {
				t.Errorf("join_channel arg %v: required is not a boolean", m)
			}
		}
		if !jsonEq(argNames, []string{"room", "channel", "recover"}) {
			t.Errorf("join_channel args = %v, want room, channel, recover", argNames)
		}
	}
	if e, ok := entries["status"]; ok && !jsonEq(e["args"], []any{}) {
		t.Errorf("status args = %v, want []", e["args"])
	}

	one := c.mustOK("help", map[string]any{"command": "join_channel"})
	if one.str("payload.message") != "Help for command 'join_channel'" || !jsonEq(data(t, one)["command"], entries["join_channel"]) {
		t.Errorf("help join_channel = %v", one)
	}
	alias := c.mustOK("help", map[string]any{"command": "history.get"})
	if !jsonEq(data(t, alias)["command"], entries["op.history.get"]) {
		t.Errorf("help for an alias = %v", alias)
	}
	c.expectCmdError("help", map[string]any{"command": "nope"}, "NOT_FOUND", "Command 'nope' not found")
	c.expectCmdError("help", map[string]any{"command": 5}, "VALIDATION_ERROR", "Validation error: 'command' must be a string")
}

func TestCommandJoinLeave(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	c := dial(t, s, dialOpts{})
	other := dial(t, s, dialOpts{})
	room := uniq("jl")
	d := c.join(room, "c")
	if d["joined"] != true || d.num("member_count") != 1 || d.num("offset") != 0 {
		t.Errorf("first join = %v", d)
	}
	again := c.join(room, "c")
	if again["joined"] != false || again.str("epoch") != d.str("epoch") {
		t.Errorf("second join = %v", again)
	}
	d2 := other.mustOK("join_channel", map[string]any{"channel": room + ":c"})
	if v := data(t, d2); v.num("member_count") != 2 || v.str("room") != room || v.str("channel") != "c" {
		t.Errorf("compound join = %v", v)
	}
	if m := d2.str("payload.message"); m != "Joined channel '"+room+":c' successfully" {
		t.Errorf("join message %q", m)
	}

	for _, tc := range []struct {
		args map[string]any
		msg  string
	}{
		{map[string]any{}, "Validation error: 'room' and 'channel' are required"},
		{map[string]any{"room": room}, "Validation error: 'room' and 'channel' are required"},
		{map[string]any{"room": "bad room", "channel": "c"}, "Validation error: Invalid room name: bad room"},
		{map[string]any{"room": room, "channel": "c", "recover": "x"}, "Validation error: 'recover' must be an object"},
		{map[string]any{"room": room, "channel": "c", "recover": map[string]any{"epoch": 1, "offset": 0}}, "Validation error: 'recover.epoch' must be a string"},
		{map[string]any{"room": room, "channel": "c", "recover": map[string]any{"epoch": "e", "offset": -1}}, "Validation error: 'recover.offset' must be a non-negative integer"},
		{map[string]any{"room": room, "channel": "c", "recover": map[string]any{"epoch": "e", "offset": 1.5}}, "Validation error: 'recover.offset' must be a non-negative integer"},
		{map[string]any{"room": "x", "channel": "y:z"}, "Validation error: Conflicting room: 'x' vs 'y'"},
	} {
		c.expectCmdError("join_channel", tc.args, "VALIDATION_ERROR", tc.msg)
	}

	// Recovery edge cases: up to date, ahead of the top.
	ack := other.publish(room, "c", map[string]any{"n": 1})
	c.next()
	epoch := ack.str("metadata.epoch")
	r := c.mustOK("join_channel", map[string]any{"room": room, "channel": "c", "recover": map[string]any{"epoch": epoch, "offset": 1}})
	if v := data(t, r); v["recovered"] != true || !jsonEq(v["publications"], []any{}) || v["joined"] != false || v.num("offset") != 1 {
		t.Errorf("recover when up to date = %v", v)
	}
	r = c.mustOK("join_channel", map[string]any{"room": room, "channel": "c", "recover": map[string]any{"epoch": epoch, "offset": 5}})
	if v := data(t, r); v["recovered"] != false || !jsonEq(v["publications"], []any{}) {
		t.Errorf("recover ahead of the top = %v", v)
	}

	left := c.mustOK("leave_channel", map[string]any{"room": room, "channel": "c"})
	if !jsonEq(data(t, left), map[string]any{"room": room, "channel": "c", "left": true}) {
		t.Errorf("leave = %v", left)
	}
	notSub := c.mustOK("leave_channel", map[string]any{"room": room, "channel": "c"})
	if notSub.str("payload.message") != "Not subscribed to channel '"+room+":c'" || !jsonEq(data(t, notSub), map[string]any{"room": room, "channel": "c", "left": false}) {
		t.Errorf("second leave = %v", notSub)
	}
	c.expectCmdError("leave_channel", map[string]any{"room": room}, "VALIDATION_ERROR", "Validation error: 'room' and 'channel' are required")
	// After leaving, nothing more is delivered; the channel still exists.
	other.publish(room, "c", map[string]any{"n": 2})
	c.expectNone(quietWait)
	info := c.mustOK("channel_info", map[string]any{"room": room, "channel": "c"})
	if v := data(t, info); v.num("member_count") != 1 || v.num("offset") != 2 {
		t.Errorf("channel_info after leave = %v", v)
	}
}

func TestCommandListsAndChannelInfo(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	a := dial(t, s, dialOpts{query: url.Values{"screen_name": {"alice"}}})
	b := dial(t, s, dialOpts{query: url.Values{"client_type": {"dashboard"}}})

	rooms := a.mustOK("list_rooms", nil)
	want := map[string]any{"rooms": []any{
		map[string]any{"room": "integriguard", "channel_count": 2, "member_count": 0, "hardcoded": true},
		map[string]any{"room": "science", "channel_count": 7, "member_count": 0, "hardcoded": true},
	}, "count": 2}
	if rooms.str("payload.message") != "Found 2 rooms" || !jsonEq(data(t, rooms), want) {
		t.Errorf("list_rooms on a fresh server = %v", rooms)
	}

	a.join("lab", "x")
	b.join("lab", "x")
	a.join("science", "general")
	rooms = b.mustOK("list_rooms", nil)
	want = map[string]any{"rooms": []any{
		map[string]any{"room": "integriguard", "channel_count": 2, "member_count": 0, "hardcoded": true},
		map[string]any{"room": "lab", "channel_count": 1, "member_count": 2, "hardcoded": false},
		map[string]any{"room": "science", "channel_count": 7, "member_count": 1, "hardcoded": true},
	}, "count": 3}
	if rooms.str("payload.message") != "Found 3 rooms" || !jsonEq(data(t, rooms), want) {
		t.Errorf("list_rooms = %v", data(t, rooms))
	}

	chans := a.mustOK("list_channels", map[string]any{"room": "science"})
	d := data(t, chans)
	if chans.str("payload.message") != "Found 7 channels in room 'science'" || d.str("room") != "science" || d.num("count") != 7 {
		t.Errorf("list_channels science = %v", chans)
	}
	list, _ := d["channels"].([]any)
	var names []string
	for _, ch := range list {
		m := frame(ch.(map[string]any))
		names = append(names, m.str("channel"))
		if m["hardcoded"] != true || m.num("offset") != 0 || !reTimestamp.MatchString(m.str("created_at")) {
			t.Errorf("bootstrapped channel entry %v", m)
		}
		if _, ok := m["description"]; !ok {
			t.Errorf("channel entry without description key: %v", m)
		}
		wantMembers := 0.0
		if m.str("channel") == "general" {
			wantMembers = 1
		}
		if m.num("member_count") != wantMembers {
			t.Errorf("channel %s member_count = %v", m.str("channel"), m["member_count"])
		}
	}
	if !jsonEq(names, []string{"design", "execute", "explore", "general", "hypothesize", "interpret", "share"}) {
		t.Errorf("science channels = %v", names)
	}
	a.expectCmdError("list_channels", map[string]any{}, "VALIDATION_ERROR", "Validation error: 'room' is required")
	a.expectCmdError("list_channels", map[string]any{"room": "nope"}, "NOT_FOUND", "Room 'nope' not found")

	b.publish("lab", "x", map[string]any{"n": 1})
	a.next()
	info := a.mustOK("channel_info", map[string]any{"room": "lab", "channel": "x"})
	if info.str("payload.message") != "Channel info retrieved for 'lab:x'" {
		t.Errorf("channel_info message %q", info.str("payload.message"))
	}
	d = data(t, info)
	members := []map[string]any{
		{"client_id": a.id(), "client_type": "human", "screen_name": "alice", "subject": nil},
		{"client_id": b.id(), "client_type": "dashboard", "screen_name": nil, "subject": nil},
	}
	sort.Slice(members, func(i, j int) bool { return members[i]["client_id"].(string) < members[j]["client_id"].(string) })
	md := frame(mustObj(t, d, "metadata"))
	if d.str("room") != "lab" || d.str("channel") != "x" || d.num("member_count") != 2 || d["members_truncated"] != false ||
		!jsonEq(d["members"], members) || !reEpoch.MatchString(d.str("epoch")) || d.num("offset") != 1 || d.num("history_count") != 1 {
		t.Errorf("channel_info = %v", d)
	}
	if md["hardcoded"] != false || md["implicit"] != true || md["description"] != nil || md.str("created_by") != a.id() || !reTimestamp.MatchString(md.str("created_at")) {
		t.Errorf("channel_info metadata = %v", md)
	}
	g := data(t, a.mustOK("channel_info", map[string]any{"room": "science", "channel": "general"}))
	if gm := frame(mustObj(t, g, "metadata")); gm["hardcoded"] != true || gm.str("created_by") != "system" || gm["implicit"] != false {
		t.Errorf("science:general metadata = %v", gm)
	}
	a.expectCmdError("channel_info", map[string]any{"room": "lab", "channel": "nope"}, "NOT_FOUND", "Channel 'lab:nope' not found")
	a.expectCmdError("channel_info", map[string]any{"room": "lab"}, "VALIDATION_ERROR", "Validation error: 'room' and 'channel' are required")
}

func TestCommandCreateDeleteChannel(t *testing.T) {
	t.Parallel()
	s := devAdminServer(t)
	admin := dial(t, s, dialOpts{})
	sub := dial(t, s, dialOpts{})
	room := uniq("cd")

	created := admin.mustOK("create_channel", map[string]any{"room": room, "channel": "x", "description": "  Lab X  "})
	d := data(t, created)
	if created.str("payload.message") != "Channel '"+room+":x' created successfully" || d["created"] != true || d.str("room") != room ||
		d.str("channel") != "x" || d.str("description") != "Lab X" || d.str("created_by") != admin.id() || !reTimestamp.MatchString(d.str("created_at")) {
		t.Errorf("create_channel = %v", created)
	}
	again := admin.mustOK("create_channel", map[string]any{"room": room, "channel": "x", "description": "changed"})
	d2 := data(t, again)
	if again.str("payload.message") != "Channel '"+room+":x' already exists" || d2["created"] != false || d2.str("description") != "Lab X" || d2.str("created_at") != d.str("created_at") {
		t.Errorf("create existing = %v", again)
	}
	admin.expectCmdError("create_channel", map[string]any{"room": room, "channel": "y", "description": strings.Repeat("d", 257)}, "VALIDATION_ERROR", "Validation error: 'description' must be at most 256 characters")
	admin.expectCmdError("create_channel", map[string]any{"room": room}, "VALIDATION_ERROR", "Validation error: 'room' and 'channel' are required")
	info := data(t, admin.mustOK("channel_info", map[string]any{"room": room, "channel": "x"}))
	if md := frame(mustObj(t, info, "metadata")); md["implicit"] != false || md["hardcoded"] != false || md.str("description") != "Lab X" {
		t.Errorf("explicit channel metadata = %v", md)
	}

	// delete_channel checks, in order.
	admin.expectCmdError("delete_channel", map[string]any{"room": room, "channel": "nope"}, "NOT_FOUND", "Channel '"+room+":nope' not found")
	admin.expectCmdError("delete_channel", map[string]any{"room": "science", "channel": "share"}, "CHANNEL_PROTECTED", "Channel 'science:share' is hardcoded and cannot be deleted")
	first := sub.join(room, "x")
	admin.publish(room, "x", map[string]any{"n": 1})
	admin.publish(room, "x", map[string]any{"n": 2})
	sub.next()
	sub.next()
	admin.expectCmdError("delete_channel", map[string]any{"room": room, "channel": "x"}, "CHANNEL_NOT_EMPTY", "Channel '"+room+":x' is not empty (members: 1)")
	sub.mustOK("leave_channel", map[string]any{"room": room, "channel": "x"})
	del := admin.mustOK("delete_channel", map[string]any{"room": room, "channel": "x"})
	if del.str("payload.message") != "Channel '"+room+":x' deleted successfully" ||
		!jsonEq(data(t, del), map[string]any{"room": room, "channel": "x", "deleted": true, "history_dropped": 2}) {
		t.Errorf("delete_channel = %v", del)
	}
	admin.expectCmdError("channel_info", map[string]any{"room": room, "channel": "x"}, "NOT_FOUND", "Channel '"+room+":x' not found")
	// Re-creation starts a new epoch at offset 1.
	ack := admin.publish(room, "x", map[string]any{"n": 3})
	if ack.num("metadata.offset") != 1 || ack.str("metadata.epoch") == first.str("epoch") {
		t.Errorf("after re-creation: ack metadata %v, old epoch %s", ack["metadata"], first.str("epoch"))
	}
	h := data(t, admin.mustOK("history", map[string]any{"room": room, "channel": "x"}))
	if h.num("count") != 1 {
		t.Errorf("history after delete and re-create = %v", h)
	}

	// Non-admins.
	plain := dial(t, defaultServer(t), dialOpts{})
	plain.expectCmdError("delete_channel", map[string]any{"room": "science", "channel": "general"}, "AUTHORIZATION_ERROR", "Only admin clients can delete channels")
}

func TestCommandHistory(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	c := dial(t, s, dialOpts{})
	sub := dial(t, s, dialOpts{})
	room := uniq("hist")
	sub.join(room, "c")
	var live []frame
	for i := 1; i <= 3; i++ {
		c.publish(room, "c", map[string]any{"i": i})
		live = append(live, sub.next())
	}
	c.publish(room, "other", map[string]any{"i": 99})

	all := c.mustOK("history", map[string]any{"room": room, "channel": "c"})
	d := data(t, all)
	if all.str("payload.message") != "Retrieved 3 messages" || d.str("room") != room || d.str("channel") != "c" || d.str("epoch") != live[0].str("metadata.epoch") ||
		d.num("offset") != 3 || d.num("limit") != 50 || d.num("count") != 3 || d["has_more"] != false || !jsonEq(d["messages"], live) {
		t.Errorf("history = %v\nlive = %v", d, live)
	}
	newest := data(t, c.mustOK("history", map[string]any{"room": room, "channel": "c", "limit": 2}))
	if newest.num("count") != 2 || newest["has_more"] != true || !jsonEq(newest["messages"], live[1:]) {
		t.Errorf("history limit 2 = %v", newest)
	}
	paged := data(t, c.mustOK("history", map[string]any{"room": room, "channel": "c", "after_offset": 1, "limit": 1}))
	if paged.num("count") != 1 || paged["has_more"] != true || !jsonEq(paged["messages"], live[1:2]) {
		t.Errorf("history after_offset 1 limit 1 = %v", paged)
	}
	last := data(t, c.mustOK("history", map[string]any{"room": room, "channel": "c", "after_offset": 2}))
	if last.num("count") != 1 || last["has_more"] != false {
		t.Errorf("history after_offset 2 = %v", last)
	}
	roomWide := data(t, c.mustOK("history", map[string]any{"room": room}))
	if roomWide.num("count") != 4 {
		t.Errorf("room-wide history count = %v", roomWide["count"])
	}
	for _, k := range []string{"epoch", "offset"} {
		if _, ok := roomWide[k]; ok {
			t.Errorf("room-wide history carries %q", k)
		}
	}
	future := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	past := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	if n := data(t, c.mustOK("history", map[string]any{"room": room, "channel": "c", "since": future})).num("count"); n != 0 {
		t.Errorf("history since the future: count %v", n)
	}
	if n := data(t, c.mustOK("history", map[string]any{"room": room, "channel": "c", "since": past, "until": future})).num("count"); n != 3 {
		t.Errorf("history in [past, future): count %v", n)
	}
	missing := data(t, c.mustOK("history", map[string]any{"room": room, "channel": "nope"}))
	if missing.num("count") != 0 || missing["epoch"] != nil || missing.num("offset") != 0 || !jsonEq(missing["messages"], []any{}) {
		t.Errorf("history of a missing channel = %v", missing)
	}
	for _, tc := range []struct {
		args map[string]any
		code string
		msg  string
	}{
		{map[string]any{}, "AUTHORIZATION_ERROR", "Only admin clients can query global history; provide 'room'"},
		{map[string]any{"room": room, "limit": 0}, "VALIDATION_ERROR", "Validation error: 'limit' must be > 0"},
		{map[string]any{"room": room, "limit": 1001}, "VALIDATION_ERROR", "Validation error: 'limit' must be <= 1000"},
		{map[string]any{"room": room, "limit": "5"}, "VALIDATION_ERROR", "Validation error: 'limit' must be a number"},
		{map[string]any{"room": room, "limit": 2.5}, "VALIDATION_ERROR", "Validation error: 'limit' must be an integer"},
		{map[string]any{"room": room, "since": "yesterday"}, "VALIDATION_ERROR", "Validation error: 'since' must be an ISO8601 timestamp string"},
		{map[string]any{"room": room, "since": future, "until": past}, "VALIDATION_ERROR", "Validation error: 'until' must be >= 'since'"},
		{map[string]any{"room": room, "after_offset": 1}, "VALIDATION_ERROR", "Validation error: 'after_offset' requires 'channel'"},
		{map[string]any{"room": room, "channel": "c", "after_offset": -1}, "VALIDATION_ERROR", "Validation error: 'after_offset' must be a non-negative integer"},
	} {
		c.expectCmdError("history", tc.args, tc.code, tc.msg)
	}
}

func TestCommandOpHistory(t *testing.T) {
	t.Parallel()
	s := defaultServer(t)
	c := dial(t, s, dialOpts{})
	sub := dial(t, s, dialOpts{})
	room := uniq("oph")
	sub.join(room, "c")
	var live []frame
	for i, seq := range []int{1, 2, 2} {
		c.send(map[string]any{"id": c.newID("seq"), "type": "message", "room": room, "channel": "c", "payload": map[string]any{"i": i}, "metadata": map[string]any{"sequence": seq}})
		c.next()
		live = append(live, sub.next())
	}

	for _, name := range []string{"op.history.get", "history.get"} {
		resp, _ := c.command(name, map[string]any{"room": room, "channel": "c"})
		d := data(t, resp)
		if resp.str("status") != "success" || resp.str("payload.message") != "History window retrieved" || d.num("count") != 3 || d.str("room") != room ||
			d.str("channel") != "c" || d["since"] != nil || d["until"] != nil || d.num("limit") != 100 {
			t.Errorf("%s = %v", name, resp)
			continue
		}
		entries, _ := d["entries"].([]any)
		for i, e := range entries {
			ef := frame(e.(map[string]any))
			if !jsonEq(ef["envelope"], live[i]) || !reTimestamp.MatchString(ef.str("stored_at")) ||
				!jsonEq(ef["storage_metadata"], map[string]any{"backend": "memory", "offset": i + 1, "epoch": live[0].str("metadata.epoch")}) {
				t.Errorf("%s entry %d = %v", name, i, ef)
			}
		}
	}
	two := data(t, c.mustOK("op.history.get", map[string]any{"room": room, "channel": "c", "limit": 2}))
	if entries, _ := two["entries"].([]any); len(entries) != 2 || !jsonEq(entries[0].(map[string]any)["envelope"], live[1]) {
		t.Errorf("op.history.get limit 2 = %v", two)
	}
	c.expectCmdError("op.history.get", map[string]any{"channel": "c"}, "AUTHORIZATION_ERROR", "Only admin clients can query global history; provide 'room'")
	c.expectCmdError("op.history.get", map[string]any{"room": room, "limit": 1001}, "VALIDATION_ERROR", "Validation error: 'limit' must be <= 1000")

	from := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	to := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	for _, name := range []string{"op.history.replay", "history.replay"} {
		resp, _ := c.command(name, map[string]any{"room": room, "channel": "c", "from_ts": from, "to_ts": to})
		d := data(t, resp)
		if resp.str("status") != "success" || resp.str("payload.message") != "History replay window retrieved" || d.num("count") != 3 ||
			!sameInstant(d.str("from_ts"), from) || !sameInstant(d.str("to_ts"), to) || d["strict_sequence"] != true || d.num("limit") != 1000 || d.num("latency_ms") < 0 {
			t.Errorf("%s = %v", name, resp)
		}
	}
	c.expectCmdError("op.history.replay", map[string]any{"room": room, "from_ts": from}, "VALIDATION_ERROR", "Validation error: 'from_ts' and 'to_ts' are required")
	c.expectCmdError("op.history.replay", map[string]any{"room": room, "from_ts": to, "to_ts": from}, "VALIDATION_ERROR", "Validation error: 'to_ts' must be >= 'from_ts'")
	c.expectCmdError("op.history.replay", map[string]any{"room": room, "from_ts": from, "to_ts": to, "limit": 5001}, "VALIDATION_ERROR", "Validation error: 'limit' must be <= 5000")
	c.expectCmdError("op.history.replay", map[string]any{"room": room, "from_ts": from, "to_ts": to, "strict_sequence": "maybe"}, "VALIDATION_ERROR", "Validation error: 'strict_sequence' must be a boolean")
	c.expectCmdError("op.history.replay", map[string]any{"from_ts": from, "to_ts": to}, "AUTHORIZATION_ERROR", "Only admin clients can replay global history; provide 'room'")

	// A sequence regression fails in strict mode and passes with strict off.
	c.send(map[string]any{"id": c.newID("seq"), "type": "message", "room": room, "channel": "c", "payload": map[string]any{}, "metadata": map[string]any{"sequence": 1}})
	c.next()
	c.expectCmdError("op.history.replay", map[string]any{"room": room, "channel": "c", "from_ts": from, "to_ts": to}, "VALIDATION_ERROR", "Validation error: Sequence regression detected in replay window")
	off, _ := c.command("op.history.replay", map[string]any{"room": room, "channel": "c", "from_ts": from, "to_ts": to, "strict_sequence": "OFF"})
	if off.str("status") != "success" || data(t, off).num("count") != 4 || data(t, off)["strict_sequence"] != false {
		t.Errorf("replay with strict_sequence OFF = %v", off)
	}
}

func TestCommandSubscriptionLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, env{"ARQONBUS_MAX_SUBSCRIPTIONS": "2"})
	c := dial(t, s, dialOpts{query: url.Values{"room": {"science"}, "channel": {"general"}}})
	c.join("science", "explore")
	c.expectCmdError("join_channel", map[string]any{"room": "science", "channel": "share"}, "LIMIT_EXCEEDED", "Subscription limit reached (2)")
	// Re-joining an existing subscription is not a new one.
	if d := c.join("science", "explore"); d["joined"] != false {
		t.Errorf("re-join = %v", d)
	}
}

func TestCommandChannelLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, env{"ARQONBUS_MAX_CHANNELS": "1", "ARQONBUS_DEV_ADMIN": "true"})
	c := dial(t, s, dialOpts{})
	c.publish("lab", "one", map[string]any{})
	c.expectCmdError("join_channel", map[string]any{"room": "lab", "channel": "two"}, "LIMIT_EXCEEDED", "Channel limit reached (1)")
	c.expectCmdError("create_channel", map[string]any{"room": "lab", "channel": "three"}, "LIMIT_EXCEEDED", "Channel limit reached (1)")
	c.send(map[string]any{"id": "arq_cap", "type": "message", "room": "lab", "channel": "four", "payload": map[string]any{}})
	c.expectError("LIMIT_EXCEEDED", "Channel limit reached (1)", "arq_cap")
	// Bootstrapped channels do not count.
	c.join("integriguard", "dashboard-events")
	c.publish("science", "design", map[string]any{})
}

// sameInstant reports whether two RFC 3339 strings name the same instant.
func sameInstant(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	return errA == nil && errB == nil && ta.Equal(tb)
}
