// Package docs_test checks that docs/asyncapi.yaml describes the protocol the
// code implements: every frame type and error code declared in
// internal/protocol, and every command a running `arqonbus serve` lists in
// `help` (aliases included), appear in it, and every reference in it
// resolves. The command list comes from the real server, so the check cannot
// drift from the code.
package docs_test

import (
	"bufio"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// loadSpec parses asyncapi.yaml into plain maps and slices.
func loadSpec(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("asyncapi.yaml is not valid YAML: %v", err)
	}
	return doc
}

// at follows a path of map keys; nil when absent.
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// strings of a YAML sequence.
func stringList(v any) []string {
	var out []string
	seq, _ := v.([]any)
	for _, x := range seq {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// resolve follows a local JSON pointer such as #/components/schemas/Name.
func resolve(doc map[string]any, ref string) (any, bool) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, false
	}
	var v any = doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return v, true
}

// walk calls f on every map in v, depth first, following local $refs once.
func walk(doc map[string]any, v any, seen map[string]bool, f func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(x)
		if ref, ok := x["$ref"].(string); ok && !seen[ref] {
			seen[ref] = true
			if target, ok := resolve(doc, ref); ok {
				walk(doc, target, seen, f)
			}
		}
		for _, c := range x {
			walk(doc, c, seen, f)
		}
	case []any:
		for _, c := range x {
			walk(doc, c, seen, f)
		}
	}
}

func TestAsyncAPIStructure(t *testing.T) {
	doc := loadSpec(t)
	if doc["asyncapi"] != "3.0.0" {
		t.Errorf("asyncapi = %v, want 3.0.0", doc["asyncapi"])
	}
	if at(doc, "info", "version") != "1.0" {
		t.Errorf("info.version = %v, want the protocol version 1.0", at(doc, "info", "version"))
	}
	// Every local reference resolves.
	walk(doc, doc, map[string]bool{}, func(m map[string]any) {
		if ref, ok := m["$ref"].(string); ok {
			if _, ok := resolve(doc, ref); !ok {
				t.Errorf("unresolved $ref %q", ref)
			}
		}
	})
	// Every channel message is used by an operation, and every operation
	// points at the bus channel.
	used := map[string]bool{}
	ops, _ := doc["operations"].(map[string]any)
	if len(ops) == 0 {
		t.Fatal("no operations")
	}
	for name, op := range ops {
		if a := at(op, "action"); a != "send" && a != "receive" {
			t.Errorf("operation %s: action %v", name, a)
		}
		if at(op, "channel", "$ref") != "#/channels/bus" {
			t.Errorf("operation %s: channel %v", name, at(op, "channel"))
		}
		for _, list := range []any{at(op, "messages"), at(op, "reply", "messages")} {
			seq, _ := list.([]any)
			for _, m := range seq {
				ref, _ := at(m, "$ref").(string)
				used[ref] = true
			}
		}
	}
	msgs, _ := at(doc, "channels", "bus", "messages").(map[string]any)
	for id := range msgs {
		if !used["#/channels/bus/messages/"+id] {
			t.Errorf("channel message %s is used by no operation", id)
		}
	}
}

// protocolConsts returns the string constants of internal/protocol whose
// names start with prefix, read from the source so that a new constant
// cannot be forgotten here.
func protocolConsts(t *testing.T, prefix string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "internal", "protocol", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("internal/protocol sources: %v", err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, prefix) || !name.IsExported() || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if s, err := strconv.Unquote(lit.Value); err == nil {
							out[name.Name] = s
						}
					}
				}
			}
		}
	}
	return out
}

func TestAsyncAPIHasEveryFrameType(t *testing.T) {
	doc := loadSpec(t)
	types := protocolConsts(t, "Type")
	if len(types) < 12 {
		t.Fatalf("found only %d Type constants in internal/protocol: %v", len(types), types)
	}
	// The wire types the messages declare: the const/enum of a "type"
	// property anywhere in a component message's payload.
	documented := map[string]bool{}
	messages, _ := at(doc, "components", "messages").(map[string]any)
	for _, msg := range messages {
		walk(doc, at(msg, "payload"), map[string]bool{}, func(m map[string]any) {
			props, _ := m["properties"].(map[string]any)
			typ, _ := props["type"].(map[string]any)
			if c, ok := typ["const"].(string); ok {
				documented[c] = true
			}
		})
	}
	for name, value := range types {
		if !documented[value] {
			t.Errorf("protocol.%s = %q has no message in asyncapi.yaml", name, value)
		}
	}
	inbound := stringList(at(doc, "components", "schemas", "ClientEnvelope", "properties", "type", "enum"))
	outbound := stringList(at(doc, "components", "schemas", "ServerEnvelope", "properties", "type", "enum"))
	for name, value := range types {
		if !slices.Contains(inbound, value) && !slices.Contains(outbound, value) {
			t.Errorf("protocol.%s = %q is in neither the ClientEnvelope nor the ServerEnvelope type enum", name, value)
		}
	}
}

func TestAsyncAPIHasEveryErrorCode(t *testing.T) {
	doc := loadSpec(t)
	codes := protocolConsts(t, "Code")
	if len(codes) < 18 {
		t.Fatalf("found only %d Code constants: %v", len(codes), codes)
	}
	enum := stringList(at(doc, "components", "schemas", "ErrorCode", "enum"))
	for name, value := range codes {
		if !slices.Contains(enum, value) {
			t.Errorf("protocol.%s = %q is missing from the ErrorCode enum", name, value)
		}
	}
}

// helpEntry is one command of the help command's result (PROTOCOL.md §6.6).
type helpEntry struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases"`
}

func TestAsyncAPIHasEveryServedCommand(t *testing.T) {
	doc := loadSpec(t)
	served := servedCommands(t)
	if len(served) < 13 {
		t.Fatalf("help listed only %d commands: %v", len(served), served)
	}
	enum := stringList(at(doc, "components", "schemas", "CommandName", "enum"))
	schemas, _ := at(doc, "components", "schemas").(map[string]any)
	for _, c := range served {
		if !slices.Contains(enum, c.Name) {
			t.Errorf("command %q is missing from the CommandName enum", c.Name)
		}
		schema, ok := schemas["cmd."+c.Name]
		if !ok {
			t.Errorf("command %q has no schema components.schemas.cmd.%s", c.Name, c.Name)
			continue
		}
		names := stringList(at(schema, "properties", "command", "enum"))
		if s, ok := at(schema, "properties", "command", "const").(string); ok {
			names = append(names, s)
		}
		if !slices.Contains(names, c.Name) {
			t.Errorf("schema cmd.%s does not name the command (const/enum %v)", c.Name, names)
		}
		for _, a := range c.Aliases {
			if !slices.Contains(enum, a) || !slices.Contains(names, a) {
				t.Errorf("alias %q of %s is missing from CommandName or from cmd.%s", a, c.Name, c.Name)
			}
		}
	}
	// The document's own consistency: every cmd.* schema is a CommandName.
	for key := range schemas {
		if name, ok := strings.CutPrefix(key, "cmd."); ok && !slices.Contains(enum, name) {
			t.Errorf("schema %s names a command missing from CommandName", key)
		}
	}
	var notServed []string
	for _, name := range enum {
		if !slices.ContainsFunc(served, func(c helpEntry) bool { return c.Name == name || slices.Contains(c.Aliases, name) }) {
			notServed = append(notServed, name)
		}
	}
	if len(notServed) > 0 {
		t.Logf("documented (PROTOCOL.md §6.4) but not listed by this build's help: %v", notServed)
	}
}

// servedCommands builds the binary, starts `arqonbus serve` on free ports
// and asks it for `help`.
func servedCommands(t *testing.T) []helpEntry {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "arqonbus")
	build := exec.Command("go", "build", "-o", bin, "./cmd/arqonbus")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--server-port", "0", "--http-port", "0", "--log-format", "json")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ARQONBUS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "ARQONBUS_TELEMETRY_ENABLED=false", "ARQONBUS_STORAGE_BACKEND=memory", "ARQONBUS_OMEGA_ENABLED=true")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec struct{ Msg, Component, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" && rec.Component == "bus" {
				addr <- rec.Addr
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { <-drained; _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	var busAddr string
	select {
	case busAddr = <-addr:
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not report its bus address")
	}

	conn, _, err := websocket.DefaultDialer.Dial("ws://"+busAddr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := conn.ReadMessage(); err != nil { // the welcome
		t.Fatal(err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"command","id":"arq_doc_help","command":"help"}`)); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var resp struct {
			Type, Status string
			Payload      struct {
				Data struct {
					Commands []helpEntry `json:"commands"`
					Count    int         `json:"count"`
				} `json:"data"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(data, &resp); err != nil {
			t.Fatalf("frame %s: %v", data, err)
		}
		if resp.Type != "response" {
			continue
		}
		if resp.Status != "success" || resp.Payload.Data.Count != len(resp.Payload.Data.Commands) {
			t.Fatalf("help failed: %s", data)
		}
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		return resp.Payload.Data.Commands
	}
}
