// Package testutil holds helpers shared by tests that need real services.
package testutil

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// Environment variables that point the tests at a Redis and a NATS server
// (docs/testing.md). The preflight gates set them to private instances on
// free ports; unset, the tests use the machine's shared services.
const (
	RedisAddrEnv = "ARQON_TEST_REDIS_ADDR"
	NATSURLEnv   = "ARQON_TEST_NATS_URL"
)

// Defaults used when the environment variables are unset or blank.
const (
	DefaultRedisAddr = "127.0.0.1:6379"
	DefaultNATSURL   = "nats://127.0.0.1:4222"
)

// RedisAddr is the host:port of the Redis that integration tests share:
// ARQON_TEST_REDIS_ADDR, or 127.0.0.1:6379.
func RedisAddr() string {
	if v := strings.TrimSpace(os.Getenv(RedisAddrEnv)); v != "" {
		return v
	}
	return DefaultRedisAddr
}

// NATSURL is the URL of the NATS server that integration tests share:
// ARQON_TEST_NATS_URL, or nats://127.0.0.1:4222.
func NATSURL() string {
	if v := strings.TrimSpace(os.Getenv(NATSURLEnv)); v != "" {
		return v
	}
	return DefaultNATSURL
}

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
