package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

func init() {
	commands["send"] = command{"Send one message or command and print the replies", runSend}
}

// sendOptions are the parsed flags of `arqonbus send` (CLI.md §10).
type sendOptions struct {
	conn          connFlags
	room, channel string
	payload       json.RawMessage // message mode
	command       string          // command mode
	args          json.RawMessage
}

// parseSendArgs parses and checks the flags of send; err is a usage error.
func parseSendArgs(args []string) (*clientFlags, *sendOptions, bool, error) {
	f := newClientFlags("send", "Sends one message (--room/--channel, --payload) or one command (--command, --args) over a\n"+
		"fresh connection, prints the replies as received, one JSON object per line, and exits:\n"+
		"0 for a success reply, 1 for an error reply (also reported on stderr), a timeout or a connection failure.")
	o := &sendOptions{}
	o.conn.register(f, "Bound on connecting, and on waiting for the replies")
	var payload, cmdArgs, command string
	var payloadSet, argsSet, commandSet bool
	f.custom("payload", "", func(s string) error { payload, payloadSet = s, true; return nil },
		flagDoc{arg: "JSON", def: "{}", usage: "Message payload (message mode)"})
	f.custom("command", "", func(s string) error { command, commandSet = strings.TrimSpace(s), true; return nil },
		flagDoc{arg: "NAME", usage: "Command name, e.g. status, history, op.store.get (command mode)"})
	f.custom("args", "", func(s string) error { cmdArgs, argsSet = s, true; return nil },
		flagDoc{arg: "JSON", def: "{}", usage: "Command arguments, a JSON object (command mode)"})
	help, err := f.parse(args)
	if help || err != nil {
		return f, o, help, err
	}
	if _, err := o.conn.checkURL(); err != nil {
		return f, o, false, err
	}
	room, ch, hasTarget, err := o.conn.target()
	if err != nil {
		return f, o, false, err
	}
	messageMode := hasTarget || payloadSet
	commandMode := commandSet || argsSet
	switch {
	case messageMode && commandMode:
		return f, o, false, errors.New("give either --room/--channel (with --payload) or --command (with --args), not both")
	case !messageMode && !commandMode:
		return f, o, false, errors.New("nothing to send: give --room and --channel (with --payload), or --command (with --args)")
	case messageMode && !hasTarget:
		return f, o, false, errors.New("--payload needs --room and --channel")
	case commandMode && command == "":
		return f, o, false, errors.New("--command is required with --args, and must not be empty")
	}
	if messageMode {
		o.room, o.channel, o.payload = room, ch, json.RawMessage("{}")
		if payloadSet {
			if o.payload, err = jsonValue(payload); err != nil {
				return f, o, false, fmt.Errorf("--payload: %v", err)
			}
		}
		return f, o, false, nil
	}
	o.command, o.args = command, json.RawMessage("{}")
	if argsSet {
		if o.args, err = jsonObject(cmdArgs); err != nil {
			return f, o, false, fmt.Errorf("--args: %v", err)
		}
	}
	return f, o, false, nil
}

// frame builds the one frame send sends, with a fresh id.
func (o *sendOptions) frame(id string) []byte {
	var v any
	if o.command != "" {
		v = struct {
			Type    string          `json:"type"`
			ID      string          `json:"id"`
			Command string          `json:"command"`
			Args    json.RawMessage `json:"args"`
		}{protocol.TypeCommand, id, o.command, o.args}
	} else {
		v = struct {
			Type    string          `json:"type"`
			ID      string          `json:"id"`
			Room    string          `json:"room"`
			Channel string          `json:"channel"`
			Payload json.RawMessage `json:"payload"`
		}{protocol.TypeMessage, id, o.room, o.channel, o.payload}
	}
	b, _ := json.Marshal(v)
	return b
}

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, o, help, err := parseSendArgs(args)
	if code := finishParse(f, help, err, stdout, stderr); code >= 0 {
		return code
	}
	u, _ := o.conn.checkURL()
	conn, err := dialBus(ctx, u, &o.conn)
	if err != nil {
		if ctx.Err() != nil {
			return failExit(stderr, "interrupted")
		}
		return failExit(stderr, "%v", err)
	}
	defer conn.Close()
	w := watchContext(ctx, conn)
	defer w.stop()

	id := protocol.NewID()
	replies, failure, err := exchange(conn, w, o, id)
	if err != nil {
		return failExit(stderr, "%v", err)
	}
	// Replies are printed only once complete, so a timeout or a dropped
	// connection leaves stdout empty (CLI.md §10).
	for _, r := range replies {
		stdout.Write(append(bytes.TrimRight(r, "\r\n"), '\n'))
	}
	closeNormally(conn)
	if failure != "" {
		return failExit(stderr, "%s", failure)
	}
	return exitOK
}

// exchange reads the welcome, sends the frame and collects its replies
// (PROTOCOL.md §5): a message_response or an error for a message; a response
// and its command_response, or an error, for a command. failure is the
// "<error_code>: <text>" of an error reply; err is a timeout or a closed
// connection.
func exchange(conn *websocket.Conn, w *ctxWatch, o *sendOptions, id string) (replies [][]byte, failure string, err error) {
	read := func(waiting string) ([]byte, error) {
		_, data, err := conn.ReadMessage()
		if err == nil {
			return data, nil
		}
		var ne net.Error
		switch {
		case w.stopped():
			return nil, errors.New("interrupted")
		case errors.As(err, &ne) && ne.Timeout():
			return nil, fmt.Errorf("timed out after %v waiting for %s", o.conn.timeout, waiting)
		}
		return nil, errors.New(closedMessage(err))
	}
	_ = conn.SetReadDeadline(time.Now().Add(o.conn.timeout))
	if _, err := read("the welcome"); err != nil {
		return nil, "", err
	}
	if err := conn.WriteMessage(websocket.TextMessage, o.frame(id)); err != nil {
		if _, rerr := read("the reply"); rerr != nil {
			return nil, "", rerr
		}
		return nil, "", fmt.Errorf("send: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(o.conn.timeout))
	var response []byte // the command's response, waiting for its command_response
	for {
		data, err := read("the reply")
		if err != nil {
			return nil, "", err
		}
		f, ok := decodeFrame(data)
		if !ok {
			continue
		}
		typ, reqID := text(f.Type), text(f.RequestID)
		mine := reqID == id || (reqID == "" && text(f.ID) == id)
		switch {
		case typ == protocol.TypeError && (mine || reqID == ""):
			// An error without request_id (e.g. RATE_LIMITED) can only be
			// about the one frame this connection sent.
			return [][]byte{data}, text(f.ErrorCode) + ": " + text(f.Error), nil
		case o.command == "" && typ == protocol.TypeMessageResponse && mine:
			return [][]byte{data}, "", nil
		case o.command != "" && typ == protocol.TypeResponse && reqID == id:
			response = data
			if text(f.Status) == protocol.StatusError {
				failure = text(f.ErrorCode) + ": " + payloadMessage(f.Payload)
			}
		case o.command != "" && typ == protocol.TypeCommandResponse && mine && response != nil:
			return [][]byte{response, data}, failure, nil
		}
	}
}

// payloadMessage is payload.message of a command result.
func payloadMessage(raw json.RawMessage) string {
	var p struct {
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return ""
	}
	return text(p.Message)
}
