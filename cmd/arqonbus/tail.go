package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

func init() {
	commands["tail"] = command{"Connect to the bus and print the frames it receives", runTail}
}

// tailOptions are the parsed flags of `arqonbus tail` (CLI.md §9).
type tailOptions struct {
	conn          connFlags
	limit         int
	raw           bool
	send          string
	room, channel string // resolved join target; "" for none
	sendFrame     json.RawMessage
}

// parseTailArgs parses and checks the flags of tail. help is true for
// --help; err is a usage error.
func parseTailArgs(args []string) (*clientFlags, *tailOptions, bool, error) {
	f := newClientFlags("tail", "Connects to the bus WebSocket and prints every frame it receives, starting with the welcome,\n"+
		"one line per frame, until --limit frames were printed or SIGINT/SIGTERM (then exit 0).\n"+
		"A live rate line is drawn on stderr when stderr is a terminal.")
	o := &tailOptions{}
	o.conn.register(f, "Bound on connecting, and with --limit on each wait for the next frame")
	f.custom("limit", "", func(s string) error {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			return fmt.Errorf("invalid count %q (a non-negative integer)", s)
		}
		o.limit = n
		return nil
	}, flagDoc{arg: "N", def: "0, no limit", usage: "Exit 0 after printing this many frames"})
	f.boolean(&o.raw, "raw", "Print each frame exactly as received, one JSON object per line")
	f.str(&o.send, "send", "", "", "", "JSON", "A JSON object to send right after connecting, before reading anything")
	help, err := f.parse(args)
	if help || err != nil {
		return f, o, help, err
	}
	if _, err := o.conn.checkURL(); err != nil {
		return f, o, false, err
	}
	room, ch, ok, err := o.conn.target()
	if err != nil {
		return f, o, false, err
	}
	if ok {
		o.room, o.channel = room, ch
	}
	if o.send != "" {
		v, err := jsonObject(o.send)
		if err != nil {
			return f, o, false, fmt.Errorf("--send: %v", err)
		}
		o.sendFrame = v
	}
	return f, o, false, nil
}

func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, o, help, err := parseTailArgs(args)
	if code := finishParse(f, help, err, stdout, stderr); code >= 0 {
		return code
	}
	u, _ := o.conn.checkURL()
	conn, err := dialBus(ctx, u, &o.conn)
	if err != nil {
		if ctx.Err() != nil {
			return exitOK // interrupted while connecting: a clean stop
		}
		return failExit(stderr, "%v", err)
	}
	defer conn.Close()
	w := watchContext(ctx, conn)
	defer w.stop()
	rate := startRateLine(stderr, stdout)
	code, msg := tailFrames(conn, w, rate, o, stdout)
	rate.stop()
	if msg != "" {
		return failExit(stderr, "%s", msg)
	}
	return code
}

// tailFrames is the read loop of tail. It returns the exit code and, for a
// failure, the error line to print.
func tailFrames(conn *websocket.Conn, w *ctxWatch, rate *rateLine, o *tailOptions, stdout io.Writer) (int, string) {
	if o.sendFrame != nil {
		// Written before the welcome is read, as the upstream CLI does
		// (PROTOCOL.md §13.1 item 3). A failure shows up as a read error.
		_ = conn.WriteMessage(websocket.TextMessage, o.sendFrame)
	}
	joinPending := o.room != ""
	var line []byte
	for count := 0; ; {
		// The welcome is part of connecting; with --limit every frame is
		// awaited for at most --timeout.
		if count == 0 || o.limit > 0 {
			_ = conn.SetReadDeadline(time.Now().Add(o.conn.timeout))
		} else {
			_ = conn.SetReadDeadline(time.Time{})
		}
		_, data, err := conn.ReadMessage()
		if err != nil {
			if w.stopped() {
				return exitOK, ""
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return exitFailure, fmt.Sprintf("timed out after %v waiting for a frame", o.conn.timeout)
			}
			return exitFailure, closedMessage(err)
		}
		count++
		rate.add()
		if o.raw {
			line = append(bytes.TrimRight(append(line[:0], data...), "\r\n"), '\n')
		} else {
			line = appendTailLine(line[:0], data)
		}
		if err := rate.write(stdout, line); err != nil {
			return exitFailure, "write: " + err.Error()
		}
		if o.limit > 0 && count >= o.limit {
			closeNormally(conn)
			return exitOK, ""
		}
		if joinPending {
			joinPending = false
			_ = conn.WriteMessage(websocket.TextMessage, joinFrame(o.room, o.channel))
		}
	}
}

// joinFrame is the join_channel command tail sends after the welcome.
func joinFrame(room, channel string) []byte {
	b, _ := json.Marshal(struct {
		Type    string            `json:"type"`
		ID      string            `json:"id"`
		Command string            `json:"command"`
		Args    map[string]string `json:"args"`
	}{protocol.TypeCommand, protocol.NewID(), "join_channel", map[string]string{"room": room, "channel": channel}})
	return b
}

// appendTailLine appends the human form of a frame (CLI.md §9), the
// upstream format:
// <timestamp> type=<type> sender=<sender> room=<room> channel=<channel> payload=<compact JSON>
func appendTailLine(dst, data []byte) []byte {
	f, ok := decodeFrame(data)
	if !ok {
		return append(append(dst, oneLine(strings.TrimSpace(string(data)))...), '\n')
	}
	dst = append(dst, field(f.Timestamp)...)
	dst = append(dst, " type="...)
	dst = append(dst, field(f.Type)...)
	dst = append(dst, " sender="...)
	dst = append(dst, field(f.Sender)...)
	dst = append(dst, " room="...)
	dst = append(dst, field(f.Room)...)
	dst = append(dst, " channel="...)
	dst = append(dst, field(f.Channel)...)
	dst = append(dst, " payload="...)
	if len(f.Payload) > 0 {
		var b bytes.Buffer
		if json.Compact(&b, f.Payload) == nil {
			dst = append(dst, b.Bytes()...)
		}
	}
	return append(dst, '\n')
}

// field renders one key of the human line; a value that would break the
// line into several (spaces, control characters) is quoted.
func field(raw json.RawMessage) string {
	s := text(raw)
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return strconv.Quote(s)
		}
	}
	return s
}

// ctxWatch closes a connection cleanly when ctx is cancelled (SIGINT or
// SIGTERM, CLI.md §2): close 1000, then drop it if the server does not
// answer within a second, so a blocked read returns.
type ctxWatch struct {
	done    chan struct{}
	wg      sync.WaitGroup
	stopped func() bool
	once    sync.Once
}

func watchContext(ctx context.Context, conn *websocket.Conn) *ctxWatch {
	var interrupted atomic.Bool
	w := &ctxWatch{done: make(chan struct{}), stopped: interrupted.Load}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		select {
		case <-ctx.Done():
		case <-w.done:
			return
		}
		interrupted.Store(true)
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		t := time.NewTimer(time.Second)
		defer t.Stop()
		select {
		case <-t.C:
			conn.Close()
		case <-w.done:
		}
	}()
	return w
}

// stop ends the watcher; it is safe to call more than once.
func (w *ctxWatch) stop() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}

// rateLine redraws "rate: <n> msg/s, total <m>" on a terminal once per
// second (CLI.md §9). A nil *rateLine does nothing.
type rateLine struct {
	w     io.Writer
	total atomic.Int64
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
	// shared is true when stdout is the same terminal: frame lines must
	// then not be written after a half-drawn rate line.
	shared bool
	mu     sync.Mutex
	drawn  string // the rate line on screen, "" when none
}

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\x1b[K"

// startRateLine starts the rate line when w is a terminal, else returns nil.
// out is where the frames go.
func startRateLine(w, out io.Writer) *rateLine {
	if !isTerminal(w) {
		return nil
	}
	r := &rateLine{w: w, done: make(chan struct{}), shared: isTerminal(out)}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-r.done:
				return
			case <-t.C:
				total := r.total.Load()
				r.mu.Lock()
				r.drawn = fmt.Sprintf("%srate: %d msg/s, total %d", clearLine, total-last, total)
				io.WriteString(r.w, r.drawn)
				r.mu.Unlock()
				last = total
			}
		}
	}()
	return r
}

func (r *rateLine) add() {
	if r != nil {
		r.total.Add(1)
	}
}

// write writes a frame line to out. When out is the rate line's terminal,
// the rate line is erased first and redrawn below the frame.
func (r *rateLine) write(out io.Writer, line []byte) error {
	if r == nil || !r.shared {
		_, err := out.Write(line)
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.drawn != "" {
		io.WriteString(r.w, clearLine)
	}
	_, err := out.Write(line)
	if r.drawn != "" {
		io.WriteString(r.w, r.drawn)
	}
	return err
}

// stop ends the redraws and clears the line; safe to call more than once.
func (r *rateLine) stop() {
	if r == nil {
		return
	}
	r.once.Do(func() {
		close(r.done)
		r.wg.Wait()
		io.WriteString(r.w, clearLine)
	})
}

// isTerminal reports whether w is a character device other than the null
// device (a terminal, for all practical purposes, without a termios call).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}
