package operators

import (
	"strconv"
	"testing"

	"github.com/arqonbus/arqonbus/internal/bus"
)

// BenchmarkWebhookOnMessage measures the cost webhooks add to every routed
// message on the sender's read path: with no rules at all, and with 100
// rules in the tenant of which none match (rule matching only; no
// delivery is enqueued).
func BenchmarkWebhookOnMessage(b *testing.B) {
	frame := []byte(`{"id":"arq_1","timestamp":"2026-03-01T12:00:01.000Z","type":"message","version":"1.0","payload":{"content":"hi"},"args":{},"metadata":{"offset":42,"epoch":"8f3c1a9d2b7e4f60"},"room":"science","channel":"general","sender":"arq_client_0a1b2c3d4e5f60718293a4b5c6d7e8f9"}`)
	sender := bus.ClientInfo{ID: "arq_client_0a1b2c3d4e5f60718293a4b5c6d7e8f9", Tenant: "tenant-a"}
	for _, n := range []int{0, 100} {
		b.Run(strconv.Itoa(n)+"-rules", func(b *testing.B) {
			o := New(Options{})
			defer o.Close()
			rules := map[string]*webhookRule{}
			for i := 0; i < n; i++ {
				id := "wh_" + strconv.Itoa(i)
				rules[id] = &webhookRule{id: id, tenant: "tenant-a", room: "other", url: "http://example.invalid/"}
			}
			if n > 0 {
				o.hooks.byTenant["tenant-a"] = rules
				o.hooks.total.Store(int64(n))
			}
			b.ReportAllocs()
			for b.Loop() {
				o.hooks.onMessage(sender, "science", "general", frame)
			}
		})
	}
}
