package testutil

import "testing"

func TestServiceAddressesFollowTheEnvironment(t *testing.T) {
	t.Setenv(RedisAddrEnv, "")
	t.Setenv(NATSURLEnv, "  ")
	if got := RedisAddr(); got != "127.0.0.1:6379" {
		t.Errorf("RedisAddr() unset = %q", got)
	}
	if got := NATSURL(); got != "nats://127.0.0.1:4222" {
		t.Errorf("NATSURL() blank = %q", got)
	}
	t.Setenv(RedisAddrEnv, " 127.0.0.1:16379 ")
	t.Setenv(NATSURLEnv, "nats://127.0.0.1:14222")
	if got := RedisAddr(); got != "127.0.0.1:16379" {
		t.Errorf("RedisAddr() = %q", got)
	}
	if got := NATSURL(); got != "nats://127.0.0.1:14222" {
		t.Errorf("NATSURL() = %q", got)
	}
}
