package operators

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type capturedRequest struct {
	method, path string
	header       http.Header
	body         []byte
}

// receiver is a real local HTTP server that records every request.
func receiver(t *testing.T, status int) (*httptest.Server, chan capturedRequest) {
	t.Helper()
	ch := make(chan capturedRequest, 256)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- capturedRequest{method: r.Method, path: r.URL.RequestURI(), header: r.Header.Clone(), body: b}
		w.WriteHeader(status)
	}))
	t.Cleanup(hs.Close)
	return hs, ch
}

var (
	ruleIDRe     = regexp.MustCompile(`^wh_[0-9a-f]{12}$`)
	deliveryIDRe = regexp.MustCompile(`^whd_[0-9a-f]{16}$`)
	timeRe       = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

func TestWebhookDeliveredWithBodyAndHeaders(t *testing.T) {
	e := newEnv(t, envConfig{})
	recv, got := receiver(t, http.StatusNoContent)
	owner := e.dial(t, "", "")
	sub := e.dial(t, "?room=science&channel=general", "")
	sender := e.dial(t, "", "")

	d := owner.ok("op.webhook.register", map[string]any{"url": recv.URL + "/hook?x=1", "room": "science", "channel": "general",
		"headers": map[string]any{"X-Team": "blue", "X-Num": 7, "X-Flag": true}})
	ruleID, _ := d["rule_id"].(string)
	if !ruleIDRe.MatchString(ruleID) || !timeRe.MatchString(d["created_at"].(string)) {
		t.Fatalf("register data %v", d)
	}
	delete(d, "rule_id")
	delete(d, "created_at")
	jsonEq(t, d, `{"url":"`+recv.URL+`/hook?x=1","room":"science","channel":"general","timeout_seconds":2}`)

	// Traffic that must not fire: another channel, a private message.
	sender.send(map[string]any{"type": "message", "room": "science", "channel": "explore", "payload": map[string]any{"n": 0}})
	sender.readType("message_response")
	sender.send(map[string]any{"type": "private", "to_client": sub.id, "payload": map[string]any{"n": 0}})
	sender.readType("message_response")
	sub.readType("private")

	sender.send(map[string]any{"id": "arq_wh1", "type": "message", "room": "science", "channel": "general", "payload": map[string]any{"content": "hi"}})
	sender.readType("message_response")
	_ = sub.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, frame, err := sub.c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}

	var req capturedRequest
	select {
	case req = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("webhook not delivered")
	}
	if req.method != http.MethodPost || req.path != "/hook?x=1" {
		t.Fatalf("request %s %s", req.method, req.path)
	}
	for k, v := range map[string]string{"Content-Type": "application/json", "User-Agent": "arqonbus/9.9.9-test",
		"X-Team": "blue", "X-Num": "7", "X-Flag": "true"} {
		if req.header.Get(k) != v {
			t.Fatalf("header %s = %q, want %q", k, req.header.Get(k), v)
		}
	}
	if id := req.header.Get("X-Arqon-Delivery-Id"); !deliveryIDRe.MatchString(id) {
		t.Fatalf("X-Arqon-Delivery-Id %q", id)
	}
	var body map[string]any
	if err := json.Unmarshal(req.body, &body); err != nil {
		t.Fatalf("body is not JSON: %s", req.body)
	}
	var delivered map[string]any
	_ = json.Unmarshal(frame, &delivered)
	if delivered["id"] != "arq_wh1" {
		t.Fatalf("subscriber frame %s", frame)
	}
	want, _ := json.Marshal(map[string]any{"rule_version": "v1", "rule_id": ruleID, "tenant_id": nil,
		"sender_client_id": sender.id, "envelope": delivered})
	jsonEq(t, body, string(want))
	eventually(t, "ok metric", func() bool { return counter(e, "ok") == 1 })
	select {
	case extra := <-got:
		t.Fatalf("unexpected extra delivery %s", extra.body)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestRegressionWebhookSlowAndFailingReceiversDoNotDelayAcks: one receiver
// hangs until released, another always answers 503. Every ack still arrives
// while the slow receiver holds its requests, and each failing delivery is
// tried 1 + 3 times with one stable delivery id.
//
// Regression (PROTOCOL.md §13.3, "Webhook dispatch"): upstream awaited
// webhooks inline, delaying the sender's ack by up to the timeout.
func TestRegressionWebhookSlowAndFailingReceiversDoNotDelayAcks(t *testing.T) {
	saved := retryBackoff
	retryBackoff = [maxRetries]time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	t.Cleanup(func() { retryBackoff = saved })

	e := newEnv(t, envConfig{})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	var mu sync.Mutex
	attempts := map[string]int{}
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts[r.Header.Get("X-Arqon-Delivery-Id")]++
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)

	owner := e.dial(t, "", "")
	owner.ok("op.webhook.register", map[string]any{"url": slow.URL, "channel": "science:general", "timeout_seconds": 30})
	owner.ok("op.webhook.register", map[string]any{"url": failing.URL, "room": "science"})
	sender := e.dial(t, "", "")
	const n = 10
	for i := 0; i < n; i++ {
		sender.send(map[string]any{"type": "message", "room": "science", "channel": "general", "payload": map[string]any{"i": i}})
		if f := sender.read(); f["type"] != "message_response" {
			t.Fatalf("frame %d: %v, want the ack", i, f)
		}
	}
	close(release) // only now may the slow receiver answer
	eventually(t, "all deliveries to finish", func() bool { return counter(e, "ok") == n && counter(e, "error") == n })
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != n {
		t.Fatalf("failing receiver saw %d delivery ids, want %d", len(attempts), n)
	}
	for id, a := range attempts {
		if a != 1+maxRetries || !deliveryIDRe.MatchString(id) {
			t.Fatalf("delivery %s attempted %d times, want %d", id, a, 1+maxRetries)
		}
	}
}

func TestWebhookClientErrorsAndRedirectsAreNotRetried(t *testing.T) {
	e := newEnv(t, envConfig{})
	var mu sync.Mutex
	hits := map[string]int{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "/target", http.StatusFound)
		case "/gone":
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(hs.Close)
	owner := e.dial(t, "", "")
	owner.ok("op.webhook.register", map[string]any{"url": hs.URL + "/redirect"})
	owner.ok("op.webhook.register", map[string]any{"url": hs.URL + "/gone"})
	owner.send(map[string]any{"type": "message", "room": "lab", "channel": "x", "payload": map[string]any{}})
	owner.readType("message_response")
	eventually(t, "outcomes", func() bool { return counter(e, "ok") == 1 && counter(e, "error") == 1 })
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if hits["/redirect"] != 1 || hits["/gone"] != 1 || hits["/target"] != 0 {
		t.Fatalf("hits %v: want one attempt each and the redirect not followed", hits)
	}
}

func TestAdversarialWebhookPrivateNetworkRefused(t *testing.T) {
	e := newEnv(t, envConfig{ops: func(o *Options) { o.WebhookAllowPrivateNetworks = false }})
	recv, got := receiver(t, http.StatusOK)
	owner := e.dial(t, "", "")
	owner.ok("op.webhook.register", map[string]any{"url": recv.URL}) // registration is unaffected
	owner.send(map[string]any{"type": "message", "room": "science", "channel": "general", "payload": map[string]any{}})
	owner.readType("message_response")
	eventually(t, "refused metric", func() bool { return counter(e, "refused") == 1 })
	select {
	case r := <-got:
		t.Fatalf("a refused target received %s", r.body)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestPrivateAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "::1": true, "10.1.2.3": true, "172.16.0.1": true, "192.168.1.1": true,
		"169.254.169.254": true, "fe80::1": true, "fd00::1": true, "100.64.0.1": true, "100.127.255.255": true,
		"0.0.0.0": true, "::ffff:127.0.0.1": true, "::ffff:10.0.0.1": true,
		"8.8.8.8": false, "100.128.0.1": false, "172.32.0.1": false, "2001:4860:4860::8888": false,
	} {
		if got := privateAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("privateAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestWebhookRulesOwnershipLimitsAndCleanup(t *testing.T) {
	e := newEnv(t, envConfig{auth: true})
	a := e.dial(t, "", token(t, map[string]any{"sub": "a", "tenant_id": "tenant-a"}))
	a2 := e.dial(t, "", token(t, map[string]any{"sub": "a2", "tenant_id": "tenant-a"}))
	admin := e.dial(t, "", token(t, map[string]any{"sub": "adm", "tenant_id": "tenant-a", "role": "admin"}))
	other := e.dial(t, "", token(t, map[string]any{"sub": "b", "tenant_id": "tenant-b", "role": "admin"}))

	id := a.ok("op.webhook.register", map[string]any{"url": "https://hooks.example/x"})["rule_id"].(string)
	jsonEq(t, a2.ok("op.webhook.list", nil), `{"rules":[],"count":0}`)
	a2.fail("op.webhook.unregister", map[string]any{"rule_id": id}, "AUTHORIZATION_ERROR", "Cannot remove webhook rule owned by another client")
	jsonEq(t, other.fail("op.webhook.unregister", map[string]any{"rule_id": id}, "NOT_FOUND", "Webhook rule '"+id+"' not found"), `{"rule_id":"`+id+`"}`)
	rules := admin.ok("op.webhook.list", nil)["rules"].([]any)
	if len(rules) != 1 || rules[0].(map[string]any)["owner_client_id"] != a.id {
		t.Fatalf("admin list %v", rules)
	}

	for _, tc := range []struct {
		args   map[string]any
		detail string
	}{
		{map[string]any{}, "'url' is required"},
		{map[string]any{"url": "ftp://x"}, "'url' must start with http:// or https://"},
		{map[string]any{"url": "http://"}, "'url' is not a valid URL"},
		{map[string]any{"url": "http://x", "timeout_seconds": 0}, "'timeout_seconds' must be > 0"},
		{map[string]any{"url": "http://x", "timeout_seconds": 30.5}, "'timeout_seconds' must be <= 30"},
		{map[string]any{"url": "http://x", "timeout_seconds": "3"}, "'timeout_seconds' must be a number"},
		{map[string]any{"url": "http://x", "headers": []any{}}, "'headers' must be an object"},
		{map[string]any{"url": "http://x", "headers": map[string]any{"X": map[string]any{}}}, "'headers' values must be scalar values"},
		{map[string]any{"url": "http://x", "headers": map[string]any{"host": "evil"}}, "'headers' may not set 'Host'"},
		{map[string]any{"url": "http://x", "headers": map[string]any{"Transfer-Encoding": "chunked"}}, "'headers' may not set 'Transfer-Encoding'"},
		{map[string]any{"url": "http://x", "room": "bad room"}, "Invalid room name: bad room"},
	} {
		a.fail("op.webhook.register", tc.args, "VALIDATION_ERROR", "Validation error: "+tc.detail)
	}

	for i := 0; i < maxWebhookRules-1; i++ {
		a2.ok("op.webhook.register", map[string]any{"url": "https://hooks.example/y"})
	}
	admin.fail("op.webhook.register", map[string]any{"url": "https://hooks.example/z"}, "LIMIT_EXCEEDED", "Webhook rule limit reached (100)")
	other.ok("op.webhook.register", map[string]any{"url": "https://hooks.example/z"})

	// The owner's rules go with its connection; the admin can remove the rest.
	a.c.Close()
	eventually(t, "owner cleanup", func() bool {
		return admin.ok("op.webhook.list", nil)["count"].(float64) == maxWebhookRules-1
	})
	first := admin.ok("op.webhook.list", nil)["rules"].([]any)[0].(map[string]any)["rule_id"].(string)
	jsonEq(t, admin.ok("op.webhook.unregister", map[string]any{"rule_id": first}), `{"rule_id":"`+first+`"}`)
	if strings.Contains(first, id) {
		t.Fatal("the disconnected owner's rule is still listed")
	}
}

// TestRegressionWebhookRetriesCountTowardQueueBudget: deliveries waiting for
// a retry keep their place in the 1024-delivery budget, so a receiver that
// answers 503 at once cannot make the server hold more than 1024 deliveries;
// the rest are dropped and counted.
//
// Regression: retries waited on timers outside the queue, each with its own
// copy of the body, so a fast-failing receiver let pending retries grow
// without bound (100 rules × 1 MB frames per message).
func TestRegressionWebhookRetriesCountTowardQueueBudget(t *testing.T) {
	saved := retryBackoff
	retryBackoff = [maxRetries]time.Duration{time.Hour, time.Hour, time.Hour} // retries stay pending
	t.Cleanup(func() { retryBackoff = saved })

	e := newEnv(t, envConfig{})
	var mu sync.Mutex
	seen := map[string]bool{}
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("X-Arqon-Delivery-Id")] = true
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)
	distinct := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }

	owner := e.dial(t, "", "")
	for i := 0; i < maxWebhookRules; i++ {
		owner.ok("op.webhook.register", map[string]any{"url": failing.URL})
	}
	const messages = 11 // 1100 deliveries
	for i := 0; i < messages; i++ {
		owner.send(map[string]any{"type": "message", "room": "science", "channel": "general", "payload": map[string]any{"i": i}})
		owner.readType("message_response")
	}
	want := float64(messages*maxWebhookRules - dispatchQueueSize)
	eventually(t, "first attempts and drops", func() bool {
		return distinct() == dispatchQueueSize && counter(e, "dropped") == want
	})
	time.Sleep(100 * time.Millisecond)
	if got := distinct(); got != dispatchQueueSize || counter(e, "dropped") != want || counter(e, "error") != 0 {
		t.Fatalf("receiver saw %d deliveries, dropped=%v error=%v; want %d, %v, 0",
			got, counter(e, "dropped"), counter(e, "error"), dispatchQueueSize, want)
	}
}

// hangingReceiver accepts requests and answers none until the test ends;
// hung counts the requests it holds.
func hangingReceiver(t *testing.T, hung *atomic.Int64) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		hung.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hs.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets hs.Close return
	return hs
}

// TestRegressionWebhookHangingTenantDoesNotStallOtherTenants: tenant A's
// receivers (two hosts) accept connections and never answer; tenant B's
// webhooks still arrive promptly.
//
// Regression: the 4 shared workers each blocked for up to timeout_seconds
// on tenant A's deliveries, delaying every other tenant by up to 30 s.
func TestRegressionWebhookHangingTenantDoesNotStallOtherTenants(t *testing.T) {
	e := newEnv(t, envConfig{auth: true})
	var hung atomic.Int64
	hanging1, hanging2 := hangingReceiver(t, &hung), hangingReceiver(t, &hung)
	fast, got := receiver(t, http.StatusOK)

	a := e.dial(t, "", token(t, map[string]any{"sub": "a", "tenant_id": "tenant-a"}))
	b := e.dial(t, "", token(t, map[string]any{"sub": "b", "tenant_id": "tenant-b"}))
	a.ok("op.webhook.register", map[string]any{"url": hanging1.URL, "timeout_seconds": 30})
	a.ok("op.webhook.register", map[string]any{"url": hanging2.URL, "timeout_seconds": 30})
	b.ok("op.webhook.register", map[string]any{"url": fast.URL})
	for i := 0; i < 8; i++ {
		a.send(map[string]any{"type": "message", "room": "science", "channel": "general", "payload": map[string]any{"i": i}})
		a.readType("message_response")
	}
	eventually(t, "tenant A's receivers to hold requests", func() bool { return hung.Load() >= maxTenantInFlight })

	for i := 0; i < 3; i++ {
		b.send(map[string]any{"type": "message", "room": "science", "channel": "general", "payload": map[string]any{"i": i}})
		b.readType("message_response")
	}
	for i := 0; i < 3; i++ {
		select {
		case req := <-got:
			var body map[string]any
			if err := json.Unmarshal(req.body, &body); err != nil || body["tenant_id"] != "tenant-b" {
				t.Fatalf("tenant B delivery %s", req.body)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("tenant B's webhook %d was held up by tenant A's hanging receivers", i)
		}
	}
}

// TestRegressionWebhookHangingHostDoesNotStallOtherHosts: in one tenant (the
// default tenant of a deployment without auth), a receiver that never
// answers does not hold up the deliveries to the tenant's other receivers.
//
// Regression: the hanging host's deliveries took all 4 workers.
func TestRegressionWebhookHangingHostDoesNotStallOtherHosts(t *testing.T) {
	e := newEnv(t, envConfig{})
	var hung atomic.Int64
	hanging := hangingReceiver(t, &hung)
	fast, got := receiver(t, http.StatusOK)
	owner := e.dial(t, "", "")
	owner.ok("op.webhook.register", map[string]any{"url": hanging.URL, "timeout_seconds": 30})
	owner.ok("op.webhook.register", map[string]any{"url": fast.URL})
	const n = 8
	for i := 0; i < n; i++ {
		owner.send(map[string]any{"type": "message", "room": "science", "channel": "general", "payload": map[string]any{"i": i}})
		owner.readType("message_response")
	}
	for i := 0; i < n; i++ {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d deliveries to the answering receiver arrived", i, n)
		}
	}
}
