package storage

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// sharedRedisURL is the Redis every engineer's tests share
// (testutil.RedisAddr: ARQON_TEST_REDIS_ADDR, default 127.0.0.1:6379); tests
// use unique tenants (or rooms) on it and delete their keys afterwards.
var sharedRedisURL = "redis://" + testutil.RedisAddr() + "/0"

// requireSharedRedis skips the test when the shared Redis is down, or fails
// it with CI=true (testutil.RequireService).
func requireSharedRedis(t testing.TB) {
	t.Helper()
	testutil.RequireService(t, "Redis", testutil.RedisAddr())
}

// uniqueName returns a tenant or room name no other test run uses.
func uniqueName(prefix string) string { return prefix + "-" + NewEpoch()[:12] }

// rawRedis is a plain client for inspecting and breaking keys.
func rawRedis(t testing.TB, url string) *redis.Client {
	t.Helper()
	if url == sharedRedisURL {
		requireSharedRedis(t)
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// cleanupTenant deletes every key of a tenant from the shared Redis.
func cleanupTenant(t testing.TB, tenant string) {
	t.Helper()
	cleanupPattern(t, "arqonbus:"+tenantSegment(tenant)+":*")
}

func cleanupPattern(t testing.TB, pattern string) {
	t.Helper()
	requireSharedRedis(t)
	t.Cleanup(func() {
		o, _ := redis.ParseURL(sharedRedisURL)
		c := redis.NewClient(o)
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
}

func newTestRedis(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	if opts.URL == "" {
		requireSharedRedis(t)
		opts.URL = sharedRedisURL
	}
	r, err := NewRedis(context.Background(), opts)
	if err != nil {
		t.Fatalf("NewRedis: %v (is redis-server running on %s?)", err, testutil.RedisAddr())
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// privateRedis is a redis-server owned by one test, for kill/restart
// scenarios that must not disturb the shared instance.
type privateRedis struct {
	t        testing.TB
	port     int
	args     []string
	password string
	cmd      *exec.Cmd
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startPrivateRedis starts a redis-server on a free port; password may be
// "" for none.
func startPrivateRedis(t testing.TB, password string) *privateRedis {
	t.Helper()
	p := newPrivateRedis(t, password)
	p.start()
	return p
}

// newPrivateRedis reserves a port without starting the server.
func newPrivateRedis(t testing.TB, password string) *privateRedis {
	p := &privateRedis{t: t, port: freePort(t)}
	if password != "" {
		p.args = []string{"--requirepass", password}
		p.password = password
	}
	t.Cleanup(p.kill)
	return p
}

func (p *privateRedis) URL() string {
	if p.password != "" {
		return fmt.Sprintf("redis://:%s@127.0.0.1:%d/0", p.password, p.port)
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0", p.port)
}

// signal pauses (SIGSTOP) or resumes (SIGCONT) the server.
func (p *privateRedis) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

func (p *privateRedis) start() {
	p.t.Helper()
	args := append([]string{"--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}, p.args...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start redis-server: %v", err)
	}
	p.cmd = cmd
	o, _ := redis.ParseURL(p.URL())
	c := redis.NewClient(o)
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("private redis-server did not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the server abruptly (SIGKILL) and waits for it to exit.
func (p *privateRedis) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a paused server must still die
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
