package main

// Shared plumbing of the client commands (token, status, version, tail,
// send; CLI.md §2, §7–§10): flag sets whose defaults come from the
// environment, one-line usage errors, the bus WebSocket dial and the handful
// of frame helpers tail and send have in common.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/redact"
)

// Built-in defaults of the client flags (CLI.md §8, §9; OPERATIONS.md §4.12).
const (
	defaultWSURL   = "ws://127.0.0.1:9100"
	defaultHTTPURL = "http://127.0.0.1:8080"
	defaultTimeout = 5 * time.Second
)

// Environment variables read by the client commands (OPERATIONS.md §4.12).
const (
	envWSURL   = "ARQONBUS_WS_URL"
	envHTTPURL = "ARQONBUS_HTTP_URL"
	envJWT     = "ARQONBUS_AUTH_JWT"
)

// usageError is a command-line mistake: exit 2 with one stderr line
// (CLI.md §2). Its message never contains a flag's value when that value
// could be a secret.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// envValue returns the environment variable name after the normalisation of
// OPERATIONS.md §2.2: trimmed, and unset when empty.
func envValue(name string) (string, bool) {
	v := strings.TrimSpace(os.Getenv(name))
	return v, v != ""
}

// flagDoc is one line of a command's --help.
type flagDoc struct {
	name, arg, def, env, usage string
	alias                      string // another spelling of the same flag
}

// clientFlags is a client command's flag set: the standard flag package
// (which already accepts --name value, --name=value and -name, CLI.md §2)
// plus the help text and error wording of CLI.md §2.
type clientFlags struct {
	cmd, synopsis string
	fs            *flag.FlagSet
	docs          []flagDoc
	// setErr is the first error a custom flag.Value reported. The flag
	// package would quote the offending value in its own message; values
	// such as --header may carry credentials, so ours is used instead.
	setErr error
}

func newClientFlags(cmd, synopsis string) *clientFlags {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &clientFlags{cmd: cmd, synopsis: synopsis, fs: fs}
}

// valueFunc adapts a parse function to flag.Value, recording its error.
type valueFunc struct {
	f      *clientFlags
	name   string
	show   func() string
	set    func(string) error
	isBool bool
}

func (v *valueFunc) String() string {
	if v == nil || v.show == nil {
		return ""
	}
	return v.show()
}

func (v *valueFunc) Set(s string) error {
	err := v.set(s)
	if err != nil && v.f.setErr == nil {
		v.f.setErr = usagef("--%s: %v", v.name, err)
	}
	return err
}

func (v *valueFunc) IsBoolFlag() bool { return v.isBool }

// custom registers a flag parsed by set under name and alias (alias may be "").
func (f *clientFlags) custom(name, alias string, set func(string) error, doc flagDoc) {
	doc.name, doc.alias = name, alias
	f.docs = append(f.docs, doc)
	f.fs.Var(&valueFunc{f: f, name: name, set: set}, name, doc.usage)
	if alias != "" {
		f.fs.Var(&valueFunc{f: f, name: alias, set: set}, alias, doc.usage)
	}
}

// str registers a string flag whose default comes from env when it is set.
func (f *clientFlags) str(p *string, name, alias, def, env, arg, usage string) {
	*p = def
	if env != "" {
		if v, ok := envValue(env); ok {
			*p = v
		}
	}
	f.custom(name, alias, func(s string) error { *p = s; return nil }, flagDoc{arg: arg, def: def, env: env, usage: usage})
}

// boolean registers a boolean flag (--raw, --raw=false).
func (f *clientFlags) boolean(p *bool, name, usage string) {
	f.docs = append(f.docs, flagDoc{name: name, def: "false", usage: usage})
	f.fs.Var(&valueFunc{f: f, name: name, isBool: true, set: func(s string) error {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("invalid boolean %q", s)
		}
		*p = b
		return nil
	}}, name, usage)
}

// timeout registers --timeout (a duration) and --timeout-seconds (a number
// of seconds), CLI.md §8–§10.
func (f *clientFlags) timeout(p *time.Duration, usage string) {
	*p = defaultTimeout
	f.docs = append(f.docs, flagDoc{name: "timeout", arg: "DURATION", def: "5s", usage: usage + " (e.g. 500ms, 5s, or a number of seconds)"},
		flagDoc{name: "timeout-seconds", arg: "SECONDS", usage: "Same as --timeout, as a number of seconds"})
	f.fs.Var(&valueFunc{f: f, name: "timeout", set: func(s string) error {
		d, err := parseDuration(s)
		if err == nil && d <= 0 {
			err = errors.New("must be greater than 0")
		}
		if err == nil {
			*p = d
		}
		return err
	}}, "timeout", usage)
	f.fs.Var(&valueFunc{f: f, name: "timeout-seconds", set: func(s string) error {
		d, err := parseSeconds(s)
		if err == nil && d <= 0 {
			err = errors.New("must be greater than 0")
		}
		if err == nil {
			*p = d
		}
		return err
	}}, "timeout-seconds", usage)
}

// parse parses args. help is true for -h/--help; the caller then prints
// usage to stdout and exits 0.
func (f *clientFlags) parse(args []string) (help bool, err error) {
	perr := f.fs.Parse(args)
	switch {
	case errors.Is(perr, flag.ErrHelp):
		return true, nil
	case perr != nil && f.setErr != nil:
		return false, f.setErr
	case perr != nil:
		return false, usagef("%s", strings.Replace(perr.Error(), " -", " --", 1))
	case f.fs.NArg() > 0:
		// The argument itself is not echoed: it may be a secret typed in
		// the wrong place (e.g. `arqonbus token <secret>`).
		return false, usagef("unexpected positional argument (arqonbus %s takes flags only)", f.cmd)
	}
	return false, nil
}

// usage writes the command's --help text: every flag with its default and
// environment variable (CLI.md §2).
func (f *clientFlags) usage(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: arqonbus %s [flags]\n\n%s\n\nFlags:\n", f.cmd, f.synopsis)
	for _, d := range f.docs {
		head := "--" + d.name
		if d.arg != "" {
			head += " " + d.arg
		}
		if d.alias != "" {
			head += ", --" + d.alias
			if d.arg != "" {
				head += " " + d.arg
			}
		}
		fmt.Fprintf(&b, "  %s\n        %s", head, d.usage)
		var extra []string
		if d.def != "" {
			extra = append(extra, "default "+d.def)
		}
		if d.env != "" {
			extra = append(extra, "env "+d.env)
		}
		if len(extra) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(extra, "; "))
		}
		b.WriteByte('\n')
	}
	io.WriteString(w, b.String())
}

// finishParse turns the outcome of a parse into an exit code: -1 means
// "carry on".
func finishParse(f *clientFlags, help bool, err error, stdout, stderr io.Writer) int {
	if help {
		f.usage(stdout)
		return exitOK
	}
	if err != nil {
		return usageExit(stderr, f.cmd, err)
	}
	return -1
}

// usageExit prints the single usage line of CLI.md §2 and returns 2.
func usageExit(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "arqonbus: %s: %s (see arqonbus %s --help)\n", cmd, oneLine(err.Error()), cmd)
	return exitUsage
}

// failExit prints the single error line of CLI.md §2 and returns 1.
func failExit(stderr io.Writer, format string, a ...any) int {
	fmt.Fprintln(stderr, "arqonbus: "+oneLine(fmt.Sprintf(format, a...)))
	return exitFailure
}

// oneLine keeps an error on one line, whatever a server or library put in it.
func oneLine(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.Join(strings.Fields(s), " ")
	}
	return s
}

// parseDuration accepts Go duration syntax or a bare non-negative number of
// seconds (OPERATIONS.md §2.3).
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("invalid duration %q (must not be negative)", s)
		}
		return d, nil
	}
	if d, err := parseSeconds(s); err == nil {
		return d, nil
	}
	return 0, fmt.Errorf("invalid duration %q (use e.g. 500ms, 5s or a number of seconds)", s)
}

// maxSeconds keeps a number of seconds well inside time.Duration (about
// 285 years), away from float rounding at the int64 limit.
const maxSeconds = 9e9

// parseSeconds parses a non-negative decimal number of seconds.
func parseSeconds(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "xXpP_") { // no hex floats, no digit separators
		return 0, fmt.Errorf("invalid number of seconds %q", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f != f || f > maxSeconds {
		return 0, fmt.Errorf("invalid number of seconds %q", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// parseBaseURL checks an absolute URL with one of the allowed schemes. The
// error never repeats the value: it may carry a password or a token.
func parseBaseURL(raw string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("invalid URL (expected %s://host[:port])", schemes[0])
	}
	for _, s := range schemes {
		if strings.EqualFold(u.Scheme, s) {
			u.Scheme = s
			return u, nil
		}
	}
	return nil, fmt.Errorf("invalid URL (scheme must be %s)", strings.Join(schemes, " or "))
}

// headerList is the repeatable --header Key:Value flag.
type headerList struct{ h http.Header }

// reservedHeaders are set by the WebSocket handshake itself.
var reservedHeaders = map[string]bool{
	"Upgrade": true, "Connection": true, "Sec-Websocket-Key": true,
	"Sec-Websocket-Version": true, "Sec-Websocket-Extensions": true,
}

// parseHeader parses one --header value "Key:Value". The error never
// repeats the value (it is often an Authorization header).
func parseHeader(s string) (key, value string, err error) {
	k, v, ok := strings.Cut(s, ":")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return "", "", errors.New(`expected "Key:Value"`)
	}
	for i := 0; i < len(k); i++ {
		if !isTokenByte(k[i]) {
			return "", "", errors.New("invalid header name")
		}
	}
	v = strings.TrimSpace(v)
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return "", "", errors.New("header value contains a control character")
		}
	}
	key = http.CanonicalHeaderKey(k)
	if reservedHeaders[key] {
		return "", "", fmt.Errorf("%s is set by the WebSocket handshake", key)
	}
	return key, v, nil
}

// isTokenByte reports whether c may appear in an HTTP header name (RFC 9110 tchar).
func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (h *headerList) set(s string) error {
	k, v, err := parseHeader(s)
	if err != nil {
		return err
	}
	if h.h == nil {
		h.h = http.Header{}
	}
	h.h.Add(k, v)
	return nil
}

// connFlags are the connection flags shared by tail and send (CLI.md §9, §10).
type connFlags struct {
	wsURL   string
	token   string
	headers headerList
	room    string
	channel string
	timeout time.Duration
}

func (c *connFlags) register(f *clientFlags, timeoutUsage string) {
	f.str(&c.wsURL, "ws-url", "", defaultWSURL, envWSURL, "URL", "Bus WebSocket URL")
	f.str(&c.token, "token", "jwt", "", envJWT, "TOKEN", "Bearer token, sent as 'Authorization: Bearer <token>'")
	f.custom("header", "", c.headers.set, flagDoc{arg: "KEY:VALUE", usage: "Extra request header; repeatable"})
	f.str(&c.room, "room", "", "", "", "ROOM", "Room (with --channel)")
	f.str(&c.channel, "channel", "", "", "", "CHANNEL", "Channel; 'room:channel' alone also works")
	f.timeout(&c.timeout, timeoutUsage)
}

// target resolves --room/--channel (PROTOCOL.md §4.4). ok is false when
// neither was given.
func (c *connFlags) target() (room, channel string, ok bool, err error) {
	r, ch, st, detail := protocol.ResolveTarget(strings.TrimSpace(c.room), strings.TrimSpace(c.channel))
	switch st {
	case protocol.TargetOK:
		return r, ch, true, nil
	case protocol.TargetNone:
		return "", "", false, nil
	case protocol.TargetMissing:
		if c.channel == "" {
			return "", "", false, errors.New("--room needs --channel")
		}
		return "", "", false, errors.New("--channel needs --room, or the form --channel room:channel")
	default:
		return "", "", false, errors.New(detail)
	}
}

// checkURL validates --ws-url before any connection is made.
func (c *connFlags) checkURL() (*url.URL, error) {
	u, err := parseBaseURL(c.wsURL, "ws", "wss")
	if err != nil {
		return nil, fmt.Errorf("--ws-url: %v", err)
	}
	return u, nil
}

// errTimeout marks a wait that ran out of time.
var errTimeout = errors.New("timed out")

// dialBus opens the bus WebSocket. Its errors are the messages of CLI.md §9:
// "connect <url>: HTTP <status>: <details>", "connect <url>: <error>".
func dialBus(ctx context.Context, u *url.URL, c *connFlags) (*websocket.Conn, error) {
	shown := redact.URL(u.String())
	header := http.Header{}
	for k, vs := range c.headers.h {
		header[k] = append([]string(nil), vs...)
	}
	if tok := strings.TrimSpace(c.token); tok != "" {
		header.Set("Authorization", "Bearer "+tok)
	}
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	d := websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: c.timeout}
	conn, resp, err := d.DialContext(dctx, u.String(), header)
	if err == nil {
		return conn, nil
	}
	if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("connect %s: HTTP %d: %s", shown, resp.StatusCode, handshakeDetails(resp.StatusCode, body))
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return nil, fmt.Errorf("connect %s: %w after %v", shown, errTimeout, c.timeout)
	}
	return nil, fmt.Errorf("connect %s: %s", shown, redact.Text(err.Error()))
}

// handshakeDetails is the useful part of a refused handshake's body: the
// "details" of the bus's JSON rejection (PROTOCOL.md §3.1), else its text.
func handshakeDetails(code int, body []byte) string {
	var obj struct {
		Error   string `json:"error"`
		Details string `json:"details"`
	}
	if json.Unmarshal(body, &obj) == nil {
		switch {
		case obj.Details != "":
			return redact.Text(obj.Details)
		case obj.Error != "":
			return redact.Text(obj.Error)
		}
	}
	if t := strings.TrimSpace(string(body)); t != "" {
		if len(t) > 200 {
			t = t[:200] + "…"
		}
		return redact.Text(oneLine(t))
	}
	return http.StatusText(code)
}

// frameFields are the envelope keys tail and send look at. Values are raw
// JSON so that any frame, even one of an unexpected shape, can be shown.
type frameFields struct {
	ID, Type, Timestamp, Sender, Room, Channel json.RawMessage
	RequestID                                  json.RawMessage `json:"request_id"`
	Status                                     json.RawMessage
	Error                                      json.RawMessage
	ErrorCode                                  json.RawMessage `json:"error_code"`
	Payload                                    json.RawMessage
}

// decodeFrame reads the keys of one frame; ok is false when the frame is
// not a JSON object.
func decodeFrame(b []byte) (f frameFields, ok bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return f, false
	}
	return f, json.Unmarshal(b, &f) == nil
}

// text renders a field: a JSON string as its value, another JSON value as
// its compact text, an absent key or null as "".
func text(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// closeNormally sends close 1000 and waits briefly for the server's close
// reply, so the server sees a clean closure; then drops the connection.
func closeNormally(conn *websocket.Conn) {
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	for {
		if _, _, err := conn.NextReader(); err != nil {
			break
		}
	}
	conn.Close()
}

// closedMessage is the CLI.md §9 error for a connection the server closed.
func closedMessage(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return strings.TrimSpace(fmt.Sprintf("connection closed: %d %s", ce.Code, ce.Text))
	}
	return "connection closed: " + redact.Text(err.Error())
}

// jsonObject checks that s is one JSON object and returns it compacted.
func jsonObject(s string) (json.RawMessage, error) {
	v, err := jsonValue(s)
	if err != nil {
		return nil, err
	}
	if v[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	return v, nil
}

// jsonValue checks that s is exactly one JSON value and returns it compacted.
func jsonValue(s string) (json.RawMessage, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: more than one value")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	return b.Bytes(), nil
}
