package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Formats of server-assigned values (PROTOCOL.md §4.2, §4.3).
var (
	reServerID  = regexp.MustCompile(`^arq_[0-9A-HJKMNP-TV-Z]{26}$`)
	reClientID  = regexp.MustCompile(`^arq_client_[0-9a-f]{32}$`)
	reEpoch     = regexp.MustCompile(`^[0-9a-f]{16}$`)
	reTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
)

// Generous bounds for frames that must arrive, and the wait used to check
// that nothing arrives.
const (
	frameWait = 5 * time.Second
	quietWait = 400 * time.Millisecond
)

// frame is one decoded server envelope.
type frame map[string]any

// get walks a dotted path ("payload.data.offset") and reports whether it exists.
func (f frame) get(path string) (any, bool) {
	var cur any = map[string]any(f)
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[part]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// str returns the string at path, or "" when absent or not a string.
func (f frame) str(path string) string {
	v, _ := f.get(path)
	s, _ := v.(string)
	return s
}

// num returns the number at path, or -1 when absent or not a number.
func (f frame) num(path string) float64 {
	v, _ := f.get(path)
	n, ok := v.(float64)
	if !ok {
		return -1
	}
	return n
}

// String renders the frame for failure messages, shortened when large.
func (f frame) String() string {
	b, _ := json.Marshal(map[string]any(f))
	if len(b) > 600 {
		return fmt.Sprintf("%s…(%d bytes)", b[:600], len(b))
	}
	return string(b)
}

// closeInfo is how a connection ended, as seen by the client.
type closeInfo struct {
	code int    // close code, or 0 when no close frame was received
	text string // close reason
	err  error  // the read error
}

// dialOpts configures one bus connection.
type dialOpts struct {
	path         string // default "/ws"
	query        url.Values
	header       http.Header
	subprotocols []string
	token        string // sent as Authorization: Bearer
	noWelcome    bool   // do not read the welcome in dial
	noReader     bool   // never read from the socket (slow consumer)
	readBuffer   int    // SO_RCVBUF of the client socket when > 0
}

// wsClient is a test WebSocket client. A background goroutine reads every
// frame, so waits for frames never break the connection.
type wsClient struct {
	t        testing.TB
	conn     *websocket.Conn
	resp     *http.Response
	batch    bool // frames may hold several JSON Lines envelopes
	frames   chan frame
	closed   chan struct{}
	closeRes closeInfo
	welcome  frame
	readerOn bool

	writeMu sync.Mutex
	nextID  int
}

func wsURL(s *server, o dialOpts) string {
	path := o.path
	if path == "" {
		path = "/ws"
	}
	u := url.URL{Scheme: "ws", Host: s.busAddr, Path: path}
	if o.query != nil {
		u.RawQuery = o.query.Encode()
	}
	return u.String()
}

func dialer(o dialOpts) *websocket.Dialer {
	d := &websocket.Dialer{
		HandshakeTimeout: frameWait,
		Subprotocols:     o.subprotocols,
		ReadBufferSize:   64 * 1024,
	}
	if o.readBuffer > 0 {
		nd := &net.Dialer{}
		d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(o.readBuffer)
			}
			return c, nil
		}
		d.ReadBufferSize = 1024
	}
	return d
}

// tryDial opens a bus connection and returns the handshake response; on a
// refused handshake it returns the error and the response (with its body).
func tryDial(s *server, o dialOpts) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	for k, v := range o.header {
		h[k] = v
	}
	if o.token != "" {
		h.Set("Authorization", "Bearer "+o.token)
	}
	return dialer(o).Dial(wsURL(s, o), h)
}

// dial opens a bus connection, starts the reader and reads the welcome.
func dial(t testing.TB, s *server, o dialOpts) *wsClient {
	t.Helper()
	conn, resp, err := tryDial(s, o)
	if err != nil {
		status := 0
		body := ""
		if resp != nil {
			status = resp.StatusCode
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		t.Fatalf("dial %s: %v (HTTP %d %s)", wsURL(s, o), err, status, body)
	}
	c := &wsClient{t: t, conn: conn, resp: resp, frames: make(chan frame, 4096), closed: make(chan struct{})}
	c.batch = o.query.Get("batch") == "1" || o.query.Get("batch") == "true"
	for _, p := range o.subprotocols {
		if p == "arqonbus.v1.batch" {
			c.batch = true
		}
	}
	t.Cleanup(func() { c.close() })
	if !o.noReader {
		c.startReader()
	}
	if !o.noWelcome && !o.noReader {
		c.welcome = c.next()
		if c.welcome.str("payload.welcome") != "Connected to ArqonBus" {
			t.Fatalf("first frame is not the welcome: %v", c.welcome)
		}
	}
	return c
}

// startReader starts the goroutine that reads frames into c.frames.
func (c *wsClient) startReader() {
	if c.readerOn {
		return
	}
	c.readerOn = true
	go func() {
		defer close(c.closed)
		for {
			mt, data, err := c.conn.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					c.closeRes = closeInfo{code: ce.Code, text: ce.Text, err: err}
				} else {
					c.closeRes = closeInfo{err: err}
				}
				return
			}
			if mt != websocket.TextMessage {
				c.frames <- frame{"__problem": fmt.Sprintf("server sent a non-text frame (type %d): %q", mt, data)}
				continue
			}
			for _, f := range c.decode(data) {
				c.frames <- f
			}
		}
	}()
}

// decode splits one wire frame into envelopes (PROTOCOL.md §2.2, §2.2.1).
func (c *wsClient) decode(data []byte) []frame {
	parts := [][]byte{data}
	if c.batch {
		parts = bytes.Split(data, []byte("\n"))
	}
	out := make([]frame, 0, len(parts))
	for _, p := range parts {
		var f frame
		dec := json.NewDecoder(bytes.NewReader(p))
		if err := dec.Decode(&f); err != nil || f == nil || dec.More() {
			out = append(out, frame{"__problem": fmt.Sprintf("server frame is not exactly one JSON object: %q", p)})
			continue
		}
		if rest, _ := io.ReadAll(dec.Buffered()); len(bytes.TrimSpace(rest)) > 0 {
			out = append(out, frame{"__problem": fmt.Sprintf("trailing data in server frame: %q", p)})
			continue
		}
		if problem := checkCommonKeys(f); problem != "" {
			f["__problem"] = problem
		}
		out = append(out, f)
	}
	return out
}

// checkCommonKeys applies the outbound rules of PROTOCOL.md §4.6.
func checkCommonKeys(f frame) string {
	var problems []string
	for _, k := range []string{"id", "timestamp", "type", "version", "payload", "args", "metadata", "sender"} {
		if _, ok := f[k]; !ok {
			problems = append(problems, "missing key "+k)
		}
	}
	for _, k := range []string{"room", "channel", "to_client", "command", "request_id", "status", "error", "error_code"} {
		if v, ok := f[k]; ok && v == nil {
			problems = append(problems, "key "+k+" is null")
		}
	}
	if v, ok := f["version"]; ok && v != "1.0" {
		problems = append(problems, fmt.Sprintf("version is %v", v))
	}
	for _, k := range []string{"args", "metadata"} {
		if v, ok := f[k]; ok {
			if _, isObj := v.(map[string]any); !isObj {
				problems = append(problems, k+" is not an object")
			}
		}
	}
	if len(problems) == 0 {
		return ""
	}
	return strings.Join(problems, "; ")
}

// next returns the next envelope, failing the test after frameWait.
func (c *wsClient) next() frame {
	c.t.Helper()
	f, err := c.nextWithin(frameWait)
	if err != nil {
		c.t.Fatalf("%v", err)
	}
	return f
}

// nextWithin returns the next envelope or an error after d or on close.
func (c *wsClient) nextWithin(d time.Duration) (frame, error) {
	c.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case f := <-c.frames:
		if p, ok := f["__problem"]; ok {
			c.t.Errorf("malformed server frame: %v (%v)", p, f)
			delete(f, "__problem")
		}
		return f, nil
	case <-c.closed:
		// Frames read before the close are still queued.
		select {
		case f := <-c.frames:
			return f, nil
		default:
		}
		return nil, fmt.Errorf("connection closed while waiting for a frame: code %d %q (%v)", c.closeRes.code, c.closeRes.text, c.closeRes.err)
	case <-timer.C:
		return nil, fmt.Errorf("no frame within %v", d)
	}
}

// nextOfType skips frames of other types (used only where unrelated
// frames are allowed by the spec) and returns the first of type typ.
func (c *wsClient) nextOfType(typ string) frame {
	c.t.Helper()
	deadline := time.Now().Add(frameWait)
	for {
		f, err := c.nextWithin(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for a %q frame: %v", typ, err)
		}
		if f.str("type") == typ {
			return f
		}
	}
}

// expectNone fails if an envelope arrives within d.
func (c *wsClient) expectNone(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Errorf("unexpected frame: %v", f)
	case <-time.After(d):
	}
}

// expectClosed waits for the connection to end and returns how; frames
// that arrive before the close are returned too.
func (c *wsClient) expectClosed(d time.Duration) (closeInfo, []frame) {
	c.t.Helper()
	var got []frame
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case f := <-c.frames:
			got = append(got, f)
		case <-c.closed:
			for {
				select {
				case f := <-c.frames:
					got = append(got, f)
				default:
					return c.closeRes, got
				}
			}
		case <-timer.C:
			if len(got) > 3 {
				c.t.Fatalf("connection still open after %v (%d frames received, last %v)", d, len(got), got[len(got)-1])
			}
			c.t.Fatalf("connection still open after %v (frames: %v)", d, got)
			return closeInfo{}, got
		}
	}
}

// expectCloseCode waits for a close frame with this code and reason.
func (c *wsClient) expectCloseCode(code int, reason string) {
	c.t.Helper()
	ci, frames := c.expectClosed(frameWait)
	if ci.code != code || ci.text != reason {
		c.t.Errorf("close = %d %q (%v), want %d %q; frames before close: %v", ci.code, ci.text, ci.err, code, reason, frames)
	}
}

// id returns the client id announced in the welcome.
func (c *wsClient) id() string { return c.welcome.str("payload.client_id") }

// sendRaw writes one text frame.
func (c *wsClient) sendRaw(s string) {
	c.t.Helper()
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(frameWait))
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// trySendRaw writes one text frame and returns the error.
func (c *wsClient) trySendRaw(s string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(frameWait))
	return c.conn.WriteMessage(websocket.TextMessage, []byte(s))
}

// send writes v as one JSON text frame.
func (c *wsClient) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatalf("marshal: %v", err)
	}
	c.sendRaw(string(b))
}

// newID returns a fresh client-side envelope id.
func (c *wsClient) newID(prefix string) string {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.nextID++
	return fmt.Sprintf("arq_%s_%d", prefix, c.nextID)
}

// command sends a command and returns its response pair, checking the pair
// rules of PROTOCOL.md §6.2 (contiguity, ids, result).
func (c *wsClient) command(name string, args map[string]any) (resp, ack frame) {
	c.t.Helper()
	id := c.newID("cmd")
	env := map[string]any{"id": id, "type": "command", "command": name}
	if args != nil {
		env["args"] = args
	}
	c.send(env)
	return c.readPair(id, name)
}

// readPair reads a response and the command_response that must follow it.
func (c *wsClient) readPair(id, name string) (resp, ack frame) {
	c.t.Helper()
	resp = c.next()
	if resp.str("type") != "response" {
		c.t.Fatalf("%s: got %v, want a response", name, resp)
	}
	ack = c.next()
	if ack.str("type") != "command_response" {
		c.t.Fatalf("%s: frame after the response is %v, want its command_response", name, ack)
	}
	if resp.str("request_id") != id {
		c.t.Errorf("%s: response request_id = %q, want %q", name, resp.str("request_id"), id)
	}
	if !reServerID.MatchString(resp.str("id")) {
		c.t.Errorf("%s: response id %q is not a server id", name, resp.str("id"))
	}
	if resp.str("sender") != "arqonbus" || ack.str("sender") != "arqonbus" {
		c.t.Errorf("%s: sender of the pair = %q / %q", name, resp.str("sender"), ack.str("sender"))
	}
	status := resp.str("status")
	wantResult := "ok"
	if status == "error" {
		wantResult = "error"
		if resp.str("error_code") == "" {
			c.t.Errorf("%s: error response without error_code: %v", name, resp)
		}
		if d, ok := resp.get("payload.data"); !ok || d == nil {
			c.t.Errorf("%s: error response without payload.data object: %v", name, resp)
		}
	} else {
		if status != "success" {
			c.t.Errorf("%s: status = %q", name, status)
		}
		if _, ok := resp["error_code"]; ok {
			c.t.Errorf("%s: success response carries error_code: %v", name, resp)
		}
		if _, ok := resp.get("payload.data"); !ok {
			c.t.Errorf("%s: response without payload.data: %v", name, resp)
		}
	}
	if ack.str("id") != id || ack.str("request_id") != id || ack.str("command") != canonicalCommand(name) {
		c.t.Errorf("%s: command_response = %v, want id/request_id %q and command %q", name, ack, id, name)
	}
	if ack.str("payload.result") != wantResult {
		c.t.Errorf("%s: command_response payload = %v, want result %q", name, ack["payload"], wantResult)
	}
	return resp, ack
}

// canonicalCommand maps the two aliases of PROTOCOL.md §7.5 to the command
// they execute; command_response names the executed command (§6.2).
func canonicalCommand(name string) string {
	switch name {
	case "history.get":
		return "op.history.get"
	case "history.replay":
		return "op.history.replay"
	}
	return name
}

// mustOK runs a command and requires status success.
func (c *wsClient) mustOK(name string, args map[string]any) frame {
	c.t.Helper()
	resp, _ := c.command(name, args)
	if resp.str("status") != "success" {
		c.t.Fatalf("%s %v failed: %v", name, args, resp)
	}
	return resp
}

// expectCmdError runs a command and requires an error result with this code
// and message.
func (c *wsClient) expectCmdError(name string, args map[string]any, code, message string) frame {
	c.t.Helper()
	resp, _ := c.command(name, args)
	if resp.str("status") != "error" || resp.str("error_code") != code || resp.str("payload.message") != message {
		c.t.Errorf("%s %v:\n got  %s %s %q\n want error %s %q", name, args, resp.str("status"), resp.str("error_code"), resp.str("payload.message"), code, message)
	}
	return resp
}

// join subscribes to room:channel and returns the result data.
func (c *wsClient) join(room, channel string) frame {
	c.t.Helper()
	resp := c.mustOK("join_channel", map[string]any{"room": room, "channel": channel})
	d, _ := resp.get("payload.data")
	m, _ := d.(map[string]any)
	return frame(m)
}

// publish sends a message to room:channel and returns the ack.
func (c *wsClient) publish(room, channel string, payload any) frame {
	c.t.Helper()
	id := c.newID("msg")
	c.send(map[string]any{"id": id, "type": "message", "room": room, "channel": channel, "payload": payload})
	ack := c.next()
	if ack.str("type") != "message_response" || ack.str("request_id") != id {
		c.t.Fatalf("publish: got %v, want the message_response for %s", ack, id)
	}
	return ack
}

// expectError reads the next frame and requires an error frame with this
// code and text. requestID "-" means the key must be absent.
func (c *wsClient) expectError(code, text, requestID string) frame {
	c.t.Helper()
	f := c.next()
	if f.str("type") != "error" || f.str("error_code") != code || f.str("error") != text {
		c.t.Errorf("got %v, want error %s %q", f, code, text)
	}
	if requestID == "-" {
		if _, ok := f["request_id"]; ok {
			c.t.Errorf("error frame has request_id %v, want none", f["request_id"])
		}
	} else if f.str("request_id") != requestID {
		c.t.Errorf("error request_id = %q, want %q", f.str("request_id"), requestID)
	}
	if f.str("sender") != "arqonbus" {
		c.t.Errorf("error sender = %q", f.str("sender"))
	}
	return f
}

// expectValidation reads a VALIDATION_ERROR frame with exactly these errors.
func (c *wsClient) expectValidation(requestID string, errs ...string) frame {
	c.t.Helper()
	f := c.expectError("VALIDATION_ERROR", "Message validation failed", requestID)
	want := make([]any, len(errs))
	for i, e := range errs {
		want[i] = e
	}
	got, _ := f.get("payload.errors")
	if !reflect.DeepEqual(got, want) {
		c.t.Errorf("payload.errors = %#v, want %#v", got, want)
	}
	return f
}

func (c *wsClient) close() {
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = c.conn.Close()
	if c.readerOn {
		<-c.closed
	}
}

// jsonEq compares two JSON-compatible values after a round trip.
func jsonEq(a, b any) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}

func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("unmarshalable %T", v)
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// rawHandshake sends a hand-written HTTP/1.1 upgrade request to the bus and
// returns the response and its complete body. extra holds additional
// headers; upgrade=false sends a plain GET.
func rawHandshake(t testing.TB, s *server, target string, extra http.Header, upgrade bool) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.busAddr, frameWait)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(frameWait))
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", target, s.busAddr)
	if upgrade {
		b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range extra[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatalf("write request: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("read body: %v", err)
	}
	return resp, body
}

// expectRejection checks a refused handshake: status, JSON content type and
// the exact compact body {"error":…,"details":…}.
func expectRejection(t testing.TB, resp *http.Response, body []byte, status int, errText, details string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	// Only the 401 is byte-exact (PROTOCOL.md §3.3); other rejection bodies
	// are compact JSON objects with exactly these two keys.
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil || !jsonEq(got, map[string]any{"error": errText, "details": details}) {
		t.Errorf("body = %q, want {\"error\":%q,\"details\":%q}", body, errText, details)
	}
	if compact := new(bytes.Buffer); json.Compact(compact, body) == nil && compact.Len() != len(bytes.TrimRight(body, "\n")) {
		t.Errorf("body is not compact JSON: %q", body)
	}
	if resp.Header.Get("Upgrade") != "" || resp.StatusCode == http.StatusSwitchingProtocols {
		t.Errorf("handshake was upgraded")
	}
}
