// Package testutil holds helpers shared by tests that need real services.
package testutil

import (
	"net"
	"os"
	"testing"
	"time"
)

// RequireService checks that a TCP service answers on addr. Outside CI a
// missing service skips the test; with CI=true it fails it, so CI can never
// pass by skipping (the brief: "fail, not skip").
func RequireService(t testing.TB, name, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required at %s in CI: %v", name, addr, err)
	}
	t.Skipf("%s not reachable at %s: %v (CI=true turns this into a failure)", name, addr, err)
}

// RedisAddr is the machine's shared Redis.
const RedisAddr = "127.0.0.1:6379"

// NATSAddr is the machine's shared NATS server.
const NATSAddr = "127.0.0.1:4222"
