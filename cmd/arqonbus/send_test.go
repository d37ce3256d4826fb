package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

var sentIDRe = regexp.MustCompile(`^arq_[0-9A-HJKMNP-TV-Z]{26}$`)

// frames decodes stdout as one JSON object per line.
func frames(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("stdout line %q is not a JSON object: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestSendMessagePrintsItsAck(t *testing.T) {
	s := openBus(t)
	room := uniqueRoom(t)
	r := cli(t, []string{"ARQONBUS_WS_URL=" + s.wsURL}, "send", "--room", room, "--channel", "c1", "--payload", `{"n": 1}`)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	f := frames(t, r.stdout)
	if len(f) != 1 || f[0]["type"] != "message_response" || f[0]["room"] != room || f[0]["channel"] != "c1" {
		t.Fatalf("replies %v", f)
	}
	id, _ := f[0]["request_id"].(string)
	if !sentIDRe.MatchString(id) || f[0]["id"] != id {
		t.Errorf("ack ids %v / %v, want arq_ + a ULID", f[0]["id"], id)
	}
	if p, _ := json.Marshal(f[0]["payload"]); string(p) != `{"n":1}` {
		t.Errorf("payload %s", p)
	}
	// The default payload is {}.
	r = cli(t, []string{"ARQONBUS_WS_URL=" + s.wsURL}, "send", "--channel", room+":c1")
	if r.code != 0 || !strings.Contains(r.stdout, `"payload":{}`) {
		t.Errorf("default payload: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestSendCommandPrintsResultPair(t *testing.T) {
	s := openBus(t)
	r := cli(t, nil, "send", "--ws-url", s.wsURL, "--command", "ping")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	f := frames(t, r.stdout)
	if len(f) != 2 || f[0]["type"] != "response" || f[0]["status"] != "success" || f[1]["type"] != "command_response" ||
		f[1]["command"] != "ping" || f[0]["request_id"] != f[1]["request_id"] {
		t.Errorf("replies %v", f)
	}
	// --args is passed through.
	r = cli(t, nil, "send", "--ws-url", s.wsURL, "--command", "help", "--args", `{"command":"join_channel"}`)
	if r.code != 0 || !strings.Contains(r.stdout, `"Help for command 'join_channel'"`) {
		t.Errorf("help: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestSendErrorReplies(t *testing.T) {
	s := openBus(t)
	for _, tc := range []struct {
		name    string
		args    []string
		types   []string
		wantErr string
	}{
		{"error result", []string{"--command", "create_channel", "--args", `{"room":"x","channel":"y"}`},
			[]string{"response", "command_response"}, "arqonbus: AUTHORIZATION_ERROR: Only admin clients can create channels\n"},
		{"unknown command", []string{"--command", "no.such"},
			[]string{"response", "command_response"}, "arqonbus: UNKNOWN_COMMAND: Unknown command: no.such\n"},
		{"error frame", []string{"--channel", "a:b", "--payload", "null"},
			[]string{"error"}, "arqonbus: VALIDATION_ERROR: Message validation failed\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, nil, append([]string{"send", "--ws-url", s.wsURL}, tc.args...)...)
			if r.code != 1 || r.stderr != tc.wantErr {
				t.Errorf("exit %d, stderr %q; want 1, %q", r.code, r.stderr, tc.wantErr)
			}
			f := frames(t, r.stdout)
			if len(f) != len(tc.types) {
				t.Fatalf("replies %v, want types %v", f, tc.types)
			}
			for i, typ := range tc.types {
				if f[i]["type"] != typ {
					t.Errorf("reply %d type %v, want %s", i, f[i]["type"], typ)
				}
			}
		})
	}
}

func TestSendConnectionErrors(t *testing.T) {
	s := authBus(t)
	cli(t, nil, "send", "--ws-url", s.wsURL, "--command", "ping").wantFailure(t, "arqonbus: connect "+s.wsURL+": HTTP 401: Missing bearer token")
	r := cli(t, []string{"ARQONBUS_AUTH_JWT=bogus-token"}, "send", "--ws-url", s.wsURL, "--command", "ping")
	r.wantFailure(t, "HTTP 401: Invalid token")
	if strings.Contains(r.stderr, "bogus-token") {
		t.Errorf("stderr shows the token: %q", r.stderr)
	}

	down := "ws://" + closedAddr(t)
	cli(t, nil, "send", "--ws-url", down, "--command", "ping").wantFailure(t, "arqonbus: connect "+down+": ")

	silent := "ws://" + silentServer(t)
	cli(t, nil, "send", "--ws-url", silent, "--timeout", "300ms", "--channel", "a:b").wantFailure(t, "timed out after 300ms")

	// A valid token works; send prints nothing but the replies.
	tok := strings.TrimSpace(cli(t, []string{"JWT_SECRET=" + testSecret}, "token", "--sub", "dave").stdout)
	r = cli(t, []string{"ARQONBUS_AUTH_JWT=" + tok}, "send", "--ws-url", s.wsURL, "--command", "status")
	if r.code != 0 || !strings.Contains(r.stdout, `"subject":"dave"`) {
		t.Errorf("authenticated send: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestSendFrameShape(t *testing.T) {
	o := &sendOptions{room: "r", channel: "c", payload: json.RawMessage(`{"a":1}`)}
	if got := string(o.frame("arq_X")); got != `{"type":"message","id":"arq_X","room":"r","channel":"c","payload":{"a":1}}` {
		t.Errorf("message frame %s", got)
	}
	o = &sendOptions{command: "op.store.get", args: json.RawMessage(`{"key":"k"}`)}
	if got := string(o.frame("arq_Y")); got != `{"type":"command","id":"arq_Y","command":"op.store.get","args":{"key":"k"}}` {
		t.Errorf("command frame %s", got)
	}
}

// FuzzParseSendArgs: flag parsing never panics, and an accepted set of flags
// is exactly one mode whose frame is a JSON object.
func FuzzParseSendArgs(f *testing.F) {
	f.Add("--channel", "a:b", "--payload", `{"x":[1]}`)
	f.Add("--command", "ping", "--args", `{}`)
	f.Add("--room", "a", "--command", "x")
	f.Add("--payload", "1", "--channel", "a:b")
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		_, o, help, err := parseSendArgs([]string{a, b, c, d})
		if err != nil || help {
			return
		}
		if (o.command == "") == (o.room == "") {
			t.Fatalf("not exactly one mode: %+v", o)
		}
		frame := o.frame("arq_F")
		var m map[string]json.RawMessage
		if err := json.Unmarshal(frame, &m); err != nil {
			t.Fatalf("frame %s: %v", frame, err)
		}
		if o.command != "" && (len(m["args"]) == 0 || m["args"][0] != '{') {
			t.Fatalf("args %s is not an object", m["args"])
		}
	})
}
