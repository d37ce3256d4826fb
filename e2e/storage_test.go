package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// privateRedis is a redis-server started by the test on a free port, so the
// test can stop and restart it without touching the machine's Redis.
type privateRedis struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is required for the storage e2e tests: %v", err)
	}
	r := &privateRedis{t: t, port: freePort(t), dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *privateRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// start runs redis-server with an append-only file, so a restart keeps data.
func (r *privateRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--dir", r.dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--logfile", filepath.Join(r.dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("private redis-server did not start on port %d", r.port)
}

func (r *privateRedis) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_, _ = r.cmd.Process.Wait()
	r.cmd = nil
}

// TestIntegrationStrictHistorySurvivesRestart: messages sent to a strict-mode
// server keep their offsets and epoch across a server restart, and recovery
// from a saved position works on the new process.
func TestIntegrationStrictHistorySurvivesRestart(t *testing.T) {
	redis := startPrivateRedis(t)
	vars := env{"ARQONBUS_STORAGE_BACKEND": "redis", "ARQONBUS_STORAGE_MODE": "strict", "ARQONBUS_REDIS_URL": redis.url()}

	s1, err := launch(vars)
	if err != nil {
		t.Fatal(err)
	}
	sub := dial(t, s1, dialOpts{})
	joined := sub.join("science", "general")
	epoch := joined.str("epoch")
	pub := dial(t, s1, dialOpts{})
	var acks []frame
	for i := 1; i <= 3; i++ {
		acks = append(acks, pub.publish("science", "general", map[string]any{"n": i}))
	}
	for i, a := range acks {
		if a.num("metadata.offset") != float64(i+1) || a.str("metadata.epoch") != epoch {
			t.Fatalf("ack %d = %v, want offset %d in epoch %s", i, a["metadata"], i+1, epoch)
		}
	}
	saved := sub.next() // the subscriber saw offset 1, then "disconnects"
	if saved.num("metadata.offset") != 1 {
		t.Fatalf("subscriber's first message = %v", saved)
	}
	if code := s1.signalStop(15 * time.Second); code != 0 {
		t.Fatalf("first server exited %d", code)
	}

	s2 := startServer(t, vars)
	c := dial(t, s2, dialOpts{})
	resp := c.mustOK("history", map[string]any{"room": "science", "channel": "general"})
	data := objAt(resp, "payload.data")
	msgs, _ := data["messages"].([]any)
	if len(msgs) != 3 || data["epoch"] != epoch || data["offset"] != float64(3) {
		t.Fatalf("history after restart: epoch %v offset %v, %d messages; want epoch %s offset 3, 3 messages", data["epoch"], data["offset"], len(msgs), epoch)
	}
	for i, m := range msgs {
		f := frame(m.(map[string]any))
		if f.num("metadata.offset") != float64(i+1) || f.num("payload.n") != float64(i+1) {
			t.Fatalf("history[%d] = %v", i, f)
		}
	}
	rec := c.mustOK("join_channel", map[string]any{"room": "science", "channel": "general",
		"recover": map[string]any{"epoch": epoch, "offset": 1}})
	rd := objAt(rec, "payload.data")
	pubs, _ := rd["publications"].([]any)
	if rd["recovered"] != true || len(pubs) != 2 {
		t.Fatalf("recovery across the restart: recovered=%v with %d publications, want true with offsets 2,3", rd["recovered"], len(pubs))
	}
	for i, p := range pubs {
		if got := frame(p.(map[string]any)).num("metadata.offset"); got != float64(i+2) {
			t.Fatalf("publication %d has offset %v", i, got)
		}
	}
}

// TestIntegrationStrictRefusesToStartWithoutRedis: strict mode exits 1 before
// binding, with the redacted URL in the message (OPERATIONS.md §5.6).
func TestIntegrationStrictRefusesToStartWithoutRedis(t *testing.T) {
	port := freePort(t) // nothing listens there
	cmd := exec.Command(binPath, "serve", "--server-port", "0", "--http-port", "0", "--log-format", "json")
	cmd.Env = append(cleanEnviron(), "ARQONBUS_STORAGE_MODE=strict", "ARQONBUS_TELEMETRY_ENABLED=false",
		fmt.Sprintf("ARQONBUS_REDIS_URL=redis://:hunter2secret@127.0.0.1:%d/0", port), "ARQONBUS_STORAGE_TIMEOUT=200ms")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("strict serve without Redis: %v, want exit 1; stderr:\n%s", err, stderr.String())
	}
	out := stderr.String()
	want := fmt.Sprintf("arqonbus: Storage mode 'strict' requires a reachable Redis/Valkey at redis://:***@127.0.0.1:%d/0: ", port)
	if !strings.Contains(out, want) {
		t.Fatalf("stderr lacks %q:\n%s", want, out)
	}
	if strings.Contains(out, "hunter2secret") {
		t.Fatal("the Redis password leaked into stderr")
	}
	if strings.Contains(out, `"msg":"listening"`) {
		t.Fatal("the server bound a listener before refusing to start")
	}
}

// TestIntegrationStrictOutageRefusesMessages: when Redis dies under a strict
// server, the sender gets STORAGE_UNAVAILABLE, subscribers get nothing and
// /ready says not_ready; once Redis is back, service resumes.
func TestIntegrationStrictOutageRefusesMessages(t *testing.T) {
	redis := startPrivateRedis(t)
	s := startServer(t, env{"ARQONBUS_STORAGE_BACKEND": "redis", "ARQONBUS_STORAGE_MODE": "strict",
		"ARQONBUS_REDIS_URL": redis.url(), "ARQONBUS_STORAGE_TIMEOUT": "300ms"})
	sub := dial(t, s, dialOpts{})
	sub.join("science", "general")
	pub := dial(t, s, dialOpts{})
	pub.publish("science", "general", map[string]any{"n": 1})
	sub.next()

	redis.stop()
	pub.send(map[string]any{"id": "arq_down1", "type": "message", "room": "science", "channel": "general", "payload": map[string]any{"n": 2}})
	pub.expectError("STORAGE_UNAVAILABLE", "Storage unavailable; message not delivered", "arq_down1")
	sub.expectNone(500 * time.Millisecond)
	if code, body := httpGetStatus(t, "http://"+s.httpAddr+"/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"not_ready"`) {
		t.Fatalf("/ready during a strict outage = %d %s, want 503 not_ready", code, body)
	}
	pub.expectCmdError("join_channel", map[string]any{"room": "science", "channel": "other"}, "STORAGE_UNAVAILABLE", "Storage unavailable: storage backend is unhealthy")

	redis.start()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _ := httpGetStatus(t, "http://"+s.httpAddr+"/ready")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/ready did not recover after Redis came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
	ack := pub.publish("science", "general", map[string]any{"n": 3})
	if ack.num("metadata.offset") != 2 {
		t.Fatalf("after recovery the next offset is %v, want 2 (the refused message was never stored)", ack["metadata"])
	}
	if f := sub.next(); f.num("payload.n") != 3 {
		t.Fatalf("subscriber after recovery got %v", f)
	}
}

// TestIntegrationDegradedFallsBackAndRecovers: in degraded mode a Redis
// outage falls back to memory (messages keep flowing, /ready degraded, the
// gauge is 1) and the server says so when Redis returns.
func TestIntegrationDegradedFallsBackAndRecovers(t *testing.T) {
	redis := startPrivateRedis(t)
	s := startServer(t, env{"ARQONBUS_STORAGE_BACKEND": "redis", "ARQONBUS_STORAGE_MODE": "degraded",
		"ARQONBUS_REDIS_URL": redis.url(), "ARQONBUS_STORAGE_TIMEOUT": "300ms"})
	sub := dial(t, s, dialOpts{})
	sub.join("science", "general")
	pub := dial(t, s, dialOpts{})
	pub.publish("science", "general", map[string]any{"n": 1})
	sub.next()

	redis.stop()
	ack := pub.publish("science", "general", map[string]any{"n": 2})
	if f := sub.next(); f.num("payload.n") != 2 || f.str("metadata.epoch") != ack.str("metadata.epoch") {
		t.Fatalf("degraded delivery = %v", f)
	}
	if code, body := httpGetStatus(t, "http://"+s.httpAddr+"/ready"); code != http.StatusOK || !strings.Contains(body, `"degraded"`) {
		t.Fatalf("/ready on the fallback = %d %s, want 200 degraded", code, body)
	}
	if v := metricValue(t, s, "arqonbus_storage_degraded", ""); v != 1 {
		t.Fatalf("arqonbus_storage_degraded = %v on the fallback, want 1", v)
	}

	redis.start()
	deadline := time.Now().Add(20 * time.Second)
	for metricValue(t, s, "arqonbus_storage_degraded", "") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not leave the fallback after Redis came back; log:\n%s", tail(s.logText(), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !s.hasLogMsg("storage recovered") {
		t.Fatalf("no 'storage recovered' log line after the outage")
	}
	pub.publish("science", "general", map[string]any{"n": 3})
	if f := sub.next(); f.num("payload.n") != 3 {
		t.Fatalf("after recovery the subscriber got %v", f)
	}
}

func httpGetStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func objAt(f frame, path string) map[string]any {
	v, _ := f.get(path)
	m, _ := v.(map[string]any)
	return m
}

// TestIntegrationRoomWideHistoryOnRedisIncludesBootstrappedChannels pins a
// fixed bug: room-wide history on Redis found its streams only in the
// persisted channel registry, which the bootstrapped channels are not in,
// so `history {room:"science"}` missed science:general (memory found it).
func TestIntegrationRoomWideHistoryOnRedisIncludesBootstrappedChannels(t *testing.T) {
	redis := startPrivateRedis(t)
	s := startServer(t, env{"ARQONBUS_STORAGE_BACKEND": "redis", "ARQONBUS_STORAGE_MODE": "strict", "ARQONBUS_REDIS_URL": redis.url()})
	c := dial(t, s, dialOpts{})
	c.publish("science", "general", map[string]any{"n": 1})
	c.publish("science", "custom", map[string]any{"n": 2})
	resp := c.mustOK("history", map[string]any{"room": "science"})
	msgs, _ := objAt(resp, "payload.data")["messages"].([]any)
	if len(msgs) != 2 {
		t.Fatalf("room-wide history on Redis returned %d messages, want 2 (science:general and science:custom)", len(msgs))
	}
}
