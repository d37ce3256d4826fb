package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// uniqueRoom gives each test its own room on the shared servers.
var roomSeq atomic.Int64

func uniqueRoom(t *testing.T) string {
	return fmt.Sprintf("cli-%d-%d", time.Now().UnixNano()%1_000_000, roomSeq.Add(1))
}

// runningCLI is a CLI process whose stdout is read line by line.
type runningCLI struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr bytes.Buffer
	done   chan struct{}
	code   int
}

// startCLI starts the binary with env and args, stdout and stderr piped.
func startCLI(t *testing.T, env []string, args ...string) *runningCLI {
	t.Helper()
	cmd := exec.Command(cliBin, args...)
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &runningCLI{cmd: cmd, lines: make(chan string, 100), done: make(chan struct{})}
	cmd.Stderr = &r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
		_ = cmd.Wait()
		r.code = cmd.ProcessState.ExitCode()
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-r.done
	})
	return r
}

// next returns the next stdout line, failing after 10 s.
func (r *runningCLI) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-r.lines:
		if !ok {
			<-r.done
			t.Fatalf("stdout closed early (exit %d, stderr %q)", r.code, r.stderr.String())
		}
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no output line within 10 s")
	}
	return ""
}

// wait waits for the exit and returns the code.
func (r *runningCLI) wait(t *testing.T) int {
	t.Helper()
	for range r.lines {
	}
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("process did not exit within 10 s")
	}
	return r.code
}

var (
	clientIDRe = regexp.MustCompile(`^arq_client_[0-9a-f]{32}$`)
	tsRe       = `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`
)

// The README tour: one terminal tails a channel, another sends to it.
func TestSendThenTailReceives(t *testing.T) {
	s := openBus(t)
	room := uniqueRoom(t)
	env := []string{"ARQONBUS_WS_URL=" + s.wsURL}
	tail := startCLI(t, env, "tail", "--room", room, "--channel", "general", "--limit", "4")

	welcome := tail.next(t)
	if !regexp.MustCompile(`^` + tsRe + ` type=message sender=arqonbus room= channel= payload=\{.*"welcome":"Connected to ArqonBus".*\}$`).MatchString(welcome) {
		t.Fatalf("welcome line %q", welcome)
	}
	if l := tail.next(t); !strings.Contains(l, " type=response sender=arqonbus ") || !strings.Contains(l, `"joined":true`) {
		t.Fatalf("join response line %q", l)
	}
	if l := tail.next(t); !strings.Contains(l, ` type=command_response sender=arqonbus room= channel= payload={"result":"ok"}`) {
		t.Fatalf("join ack line %q", l)
	}

	r := cli(t, env, "send", "--channel", room+":general", "--payload", `{"content": "HELLO"}`)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("send: exit %d, stderr %q", r.code, r.stderr)
	}
	msg := tail.next(t)
	want := regexp.MustCompile(`^` + tsRe + ` type=message sender=(arq_client_[0-9a-f]{32}) room=` + room + ` channel=general payload=\{"content":"HELLO"\}$`)
	if !want.MatchString(msg) {
		t.Fatalf("message line %q", msg)
	}
	if code := tail.wait(t); code != 0 {
		t.Errorf("tail exit %d after --limit, stderr %q", code, tail.stderr.String())
	}
	if tail.stderr.Len() != 0 {
		t.Errorf("tail stderr %q (no rate line when stderr is not a terminal)", tail.stderr.String())
	}

	// History has the message (the tour's "history" step).
	r = cli(t, env, "send", "--command", "history", "--args", fmt.Sprintf(`{"room":%q,"channel":"general"}`, room))
	if r.code != 0 || !strings.Contains(r.stdout, `"content":"HELLO"`) || !strings.Contains(r.stdout, `"count":1`) {
		t.Errorf("history: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestTailRawLimitAndSend(t *testing.T) {
	s := openBus(t)
	r := cli(t, nil, "tail", "--ws-url", s.wsURL, "--raw", "--limit", "1")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("--limit 1 printed %q", r.stdout)
	}
	var welcome struct {
		Type    string
		Sender  string
		Payload map[string]any
	}
	if err := json.Unmarshal([]byte(r.stdout), &welcome); err != nil {
		t.Fatalf("--raw line is not JSON: %v", err)
	}
	if welcome.Type != "message" || welcome.Sender != "arqonbus" || welcome.Payload["welcome"] != "Connected to ArqonBus" ||
		!clientIDRe.MatchString(fmt.Sprint(welcome.Payload["client_id"])) {
		t.Errorf("welcome = %+v", welcome)
	}

	// --send goes out before anything is read; its reply counts toward --limit.
	r = cli(t, nil, "tail", "--ws-url", s.wsURL, "--raw", "--limit", "2", "--send", `{"type":"ping","id":"arq_cli_p1","payload":{"n":1}}`)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 2 {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(lines[0], `"welcome":"Connected to ArqonBus"`) {
		t.Errorf("first frame is not the welcome: %s", lines[0])
	}
	var pong map[string]any
	if json.Unmarshal([]byte(lines[1]), &pong) != nil || pong["type"] != "pong" || pong["request_id"] != "arq_cli_p1" {
		t.Errorf("second frame %s, want the pong", lines[1])
	}
}

func TestTailStopsCleanlyOnSignal(t *testing.T) {
	s := openBus(t)
	tail := startCLI(t, nil, "tail", "--ws-url", s.wsURL)
	if l := tail.next(t); !strings.Contains(l, "type=message sender=arqonbus") {
		t.Fatalf("first line %q", l)
	}
	time.Sleep(1200 * time.Millisecond) // long enough for a rate line, were one drawn
	_ = tail.cmd.Process.Signal(syscall.SIGINT)
	if code := tail.wait(t); code != 0 {
		t.Errorf("exit %d after SIGINT, want 0; stderr %q", code, tail.stderr.String())
	}
	if tail.stderr.Len() != 0 {
		t.Errorf("stderr %q: the rate line must not be written when stderr is not a terminal", tail.stderr.String())
	}
}

func TestTailAuthentication(t *testing.T) {
	s := authBus(t)
	env := []string{"ARQONBUS_WS_URL=" + s.wsURL}
	cli(t, env, "tail", "--limit", "1").wantFailure(t, "arqonbus: connect "+s.wsURL+": HTTP 401: Missing bearer token")
	cli(t, env, "tail", "--limit", "1", "--token", "not.a.token").wantFailure(t, "arqonbus: connect "+s.wsURL+": HTTP 401: Invalid token")
	// A token in the URL is never shown.
	r := cli(t, nil, "tail", "--limit", "1", "--ws-url", s.wsURL+"/ws?token=bad.url.token")
	r.wantFailure(t, "HTTP 401: Invalid token")
	if strings.Contains(r.stderr, "bad.url.token") || !strings.Contains(r.stderr, "token=REDACTED") {
		t.Errorf("token not redacted: %q", r.stderr)
	}

	mint := cli(t, []string{"ARQONBUS_AUTH_JWT_SECRET=" + testSecret}, "token", "--sub", "carol", "--role", "admin", "--tenant", "tenant-a")
	tok := strings.TrimSpace(mint.stdout)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"env ARQONBUS_AUTH_JWT", []string{"ARQONBUS_AUTH_JWT=" + tok}, nil},
		{"--jwt", nil, []string{"--jwt", tok}},
		{"--header", nil, []string{"--header", "Authorization: Bearer " + tok}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, append(env, tc.env...), append([]string{"tail", "--raw", "--limit", "1"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, `"tenant_id":"tenant-a"`) || !strings.Contains(r.stdout, `"role":"admin"`) {
				t.Errorf("welcome %s does not reflect the minted claims", r.stdout)
			}
			if strings.Contains(r.stderr, tok) {
				t.Error("stderr shows the token")
			}
		})
	}
}

func TestTailConnectionErrors(t *testing.T) {
	down := "ws://" + closedAddr(t)
	cli(t, nil, "tail", "--ws-url", down).wantFailure(t, "arqonbus: connect "+down+": ")

	silent := "ws://" + silentServer(t)
	cli(t, nil, "tail", "--ws-url", silent, "--timeout", "300ms").wantFailure(t, "arqonbus: connect "+silent+": timed out after 300ms")

	// With --limit, each wait for the next frame is bounded by --timeout.
	s := openBus(t)
	r := cli(t, nil, "tail", "--ws-url", s.wsURL, "--limit", "5", "--timeout", "400ms")
	if r.code != 1 || strings.Count(r.stdout, "\n") != 1 || r.stderr != "arqonbus: timed out after 400ms waiting for a frame\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestTailReportsServerClose(t *testing.T) {
	s, err := startBus()
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	tail := startCLI(t, nil, "tail", "--ws-url", s.wsURL)
	tail.next(t) // the welcome
	s.stop()
	var rest []string
	for l := range tail.lines {
		rest = append(rest, l)
	}
	if code := tail.wait(t); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if len(rest) != 1 || !strings.Contains(rest[0], "type=system") || !strings.Contains(rest[0], `"event":"server_shutdown"`) {
		t.Errorf("lines after the welcome %q, want the shutdown notice", rest)
	}
	if got := tail.stderr.String(); got != "arqonbus: connection closed: 1001 server shutting down\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestAppendTailLine(t *testing.T) {
	for in, want := range map[string]string{
		`{"timestamp":"T","type":"message","sender":"s","room":"r","channel":"c","payload":{ "a" : [1, 2] }}`: `T type=message sender=s room=r channel=c payload={"a":[1,2]}`,
		`{"type":"pong"}`: ` type=pong sender= room= channel= payload=`,
		`{"type":"message","sender":"two words\nline","payload":null}`: ` type=message sender="two words\nline" room= channel= payload=null`,
		`{"type":7,"room":null}`: ` type=7 sender= room= channel= payload=`,
		`[1,2]`:                  `[1,2]`,
	} {
		if got := string(appendTailLine(nil, []byte(in))); got != want+"\n" {
			t.Errorf("appendTailLine(%s) = %q, want %q", in, got, want)
		}
	}
}

// FuzzAppendTailLine: any frame gives exactly one line.
func FuzzAppendTailLine(f *testing.F) {
	for _, s := range []string{`{"type":"message","payload":{}}`, `{"sender":"a\u2028b"}`, "{\"room\":\"\\n\"}", "x\ny", `{"payload":[`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		line := appendTailLine(nil, frame)
		if len(line) == 0 || line[len(line)-1] != '\n' || bytes.IndexAny(line[:len(line)-1], "\r\n") >= 0 {
			t.Fatalf("frame %q gave %q", frame, line)
		}
	})
}

// FuzzParseTailArgs: flag parsing never panics, and what it accepts is a
// valid join target and a JSON object to send.
func FuzzParseTailArgs(f *testing.F) {
	f.Add("--channel", "science:general", "--send", `{"type":"ping"}`)
	f.Add("--room", "a", "--channel", "b")
	f.Add("--limit", "3", "--header", "X:y")
	f.Add("--timeout", "1e9", "--raw", "--ws-url")
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		_, o, _, err := parseTailArgs([]string{a, b, c, d})
		if err != nil {
			return
		}
		if (o.room == "") != (o.channel == "") {
			t.Fatalf("half a target: %q %q", o.room, o.channel)
		}
		if o.sendFrame != nil && (o.sendFrame[0] != '{' || !json.Valid(o.sendFrame)) {
			t.Fatalf("send frame %q is not a JSON object", o.sendFrame)
		}
		if o.limit < 0 || o.conn.timeout <= 0 {
			t.Fatalf("limit %d timeout %v", o.limit, o.conn.timeout)
		}
		_, _ = io.Discard.Write(joinFrame(o.room, o.channel))
	})
}

// When stdout and stderr are the same terminal, a frame line never lands
// after a half-drawn rate line: the rate line is erased, then redrawn.
func TestRateLineMakesRoomForFrames(t *testing.T) {
	var term bytes.Buffer
	r := &rateLine{w: &term, shared: true, drawn: clearLine + "rate: 3 msg/s, total 9"}
	if err := r.write(&term, []byte("frame\n")); err != nil {
		t.Fatal(err)
	}
	if want := clearLine + "frame\n" + clearLine + "rate: 3 msg/s, total 9"; term.String() != want {
		t.Errorf("terminal got %q, want %q", term.String(), want)
	}
	var out, errs bytes.Buffer
	r = &rateLine{w: &errs, drawn: "x"}
	_ = r.write(&out, []byte("frame\n"))
	if out.String() != "frame\n" || errs.Len() != 0 {
		t.Errorf("piped stdout: out %q, stderr %q", out.String(), errs.String())
	}
	var nilRate *rateLine
	_ = nilRate.write(&out, []byte("again\n"))
	nilRate.add()
	nilRate.stop()
}
