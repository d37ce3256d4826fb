package bench

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestCheckLoopback(t *testing.T) {
	ctx := context.Background()
	for _, ok := range []string{"ws://127.0.0.1:9100", "ws://127.9.9.9/ws", "ws://[::1]:9100", "ws://localhost:1/x",
		"http://LOCALHOST:8080/metrics", "nats://127.0.0.1:4222,nats://localhost:4223"} {
		if err := CheckLoopback(ctx, ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"ws://10.0.0.1:9100", "ws://192.0.2.1", "ws://[2001:db8::1]:1", "ws://0.0.0.0:9100",
		"nats://127.0.0.1:4222,nats://192.0.2.7:4222", "ws://does-not-exist.invalid:9100"} {
		if err := CheckLoopback(ctx, bad); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%s: %v, want ErrNotLoopback", bad, err)
		}
	}
	if err := CheckLoopback(ctx, "::"); err == nil {
		t.Error("a malformed URL must be refused")
	}
}
