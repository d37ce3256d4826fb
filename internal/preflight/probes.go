package preflight

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/arqonbus/arqonbus/internal/redact"
	"github.com/arqonbus/arqonbus/internal/shield"
)

// errText is an error message with any credential scrubbed (§1).
func errText(err error) string { return redact.Text(err.Error()) }

// probeRedis runs bus.redis_reachable and bus.redis_durability (§3.2):
// connect, PING, a stream round trip, the server version, and in strict
// mode the AOF settings. Everything is bounded by timeout.
func (r *rules) probeRedis(ctx context.Context, timeout time.Duration) (reach, durable Result) {
	b := r.cfg.Bus
	strict := b.StorageMode == "strict"
	if b.StorageBackend == "memory" {
		return skip("memory backend: no Redis/Valkey configured"), skip("not in strict mode (backend memory)")
	}
	durable = skip("not in strict mode")
	if strict && !r.hasRedisAddress() {
		// bus.redis_url already fails; probing the built-in default would test a server nobody configured.
		return skip("no Redis/Valkey address configured (see bus.redis_url)"), skip("no Redis/Valkey address configured")
	}
	unreachable := func(err string) (Result, Result) {
		msg := fmt.Sprintf("Storage mode 'strict' requires a reachable Redis/Valkey at %s: %s", b.RedisURLRedacted, err)
		fix := "start Redis/Valkey (>= 6.2 / 7.2) at " + b.RedisURLRedacted + " or correct ARQONBUS_REDIS_URL"
		if strict {
			res := failAlways(msg, fix)
			return res, skip("Redis/Valkey unreachable")
		}
		return warn(fmt.Sprintf("Redis/Valkey at %s unreachable: %s (degraded mode starts on the memory fallback)", b.RedisURLRedacted, err), fix),
			durable
	}
	opts, err := redis.ParseURL(b.RedisURL)
	if err != nil {
		return unreachable("invalid Redis URL")
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = timeout, timeout, timeout
	opts.MaxRetries = -1
	opts.PoolSize = 1
	opts.DisableIdentity = true
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := redis.NewClient(opts)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		return unreachable(errText(err))
	}
	key := "arqonbus:preflight:" + randomID()
	id, err := c.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{"probe", "preflight"}}).Result()
	if err == nil {
		err = c.XDel(ctx, key, id).Err()
	}
	_ = c.Del(ctx, key).Err()
	if err != nil {
		return unreachable("stream round trip failed: " + errText(err))
	}
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return unreachable("INFO server failed: " + errText(err))
	}
	name, version, tooOld := serverVersion(parseInfo(info))
	detail := fmt.Sprintf("%s %s at %s: PING and stream round trip ok", name, version, b.RedisURLRedacted)
	if tooOld {
		msg := fmt.Sprintf("%s %s at %s is too old (need Redis >= 6.2 or Valkey >= 7.2)", name, version, b.RedisURLRedacted)
		fix := "upgrade to Redis >= 6.2 or Valkey >= 7.2 (streams with XAUTOCLAIM/exclusive ranges)"
		if strict {
			reach = failAlways(msg, fix)
			reach.startup = fmt.Sprintf("Storage mode 'strict' requires a reachable Redis/Valkey at %s: %s", b.RedisURLRedacted, msg)
		} else {
			reach = warn(msg, fix)
		}
	} else {
		reach = ok(detail)
	}
	if !strict {
		return reach, skip("not in strict mode")
	}
	return reach, durability(ctx, c)
}

// durability is bus.redis_durability (§3.2, OPERATIONS.md §5.6). It never fails.
func durability(ctx context.Context, c *redis.Client) Result {
	fix := "run Redis with appendonly yes and appendfsync always (CONFIG SET appendonly yes; CONFIG SET appendfsync always; persist in redis.conf)"
	info, err := c.Info(ctx, "persistence").Result()
	if err != nil {
		return warn("INFO persistence failed: "+errText(err), fix)
	}
	aof := parseInfo(info)["aof_enabled"]
	fsync := "unknown"
	if kv, err := c.ConfigGet(ctx, "appendfsync").Result(); err == nil {
		if v, ok := kv["appendfsync"]; ok {
			fsync = v
		}
	}
	detail := fmt.Sprintf("aof_enabled:%s, appendfsync %s", aof, fsync)
	if fsync == "unknown" {
		return warn("aof_enabled:"+aof+", appendfsync unknown", fix)
	}
	if aof != "1" || fsync != "always" {
		return warn(detail+": an acknowledged message can be lost on a crash", fix)
	}
	return ok(detail)
}

// parseInfo parses the reply of INFO: "key:value" lines, "#" comments.
func parseInfo(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// serverVersion names the server and whether it is older than Redis 6.2 /
// Valkey 7.2 (§3.2).
func serverVersion(info map[string]string) (name, version string, tooOld bool) {
	name, version = "redis", info["redis_version"]
	min := [2]int{6, 2}
	if v := info["valkey_version"]; v != "" || strings.EqualFold(info["server_name"], "valkey") {
		name, min = "valkey", [2]int{7, 2}
		if v != "" {
			version = v
		}
	}
	maj, minor, _, ok := parseVersion(version)
	if !ok {
		return name, "(unknown version)", false
	}
	return name, version, maj < min[0] || (maj == min[0] && minor < min[1])
}

// parseVersion parses "1.2.3" (a missing patch is 0; anything after the
// digits of a component is ignored).
func parseVersion(s string) (major, minor, patch int, ok bool) {
	parts := strings.SplitN(s, ".", 3)
	if len(parts) < 2 {
		return 0, 0, 0, false
	}
	nums := make([]int, 3)
	for i, p := range parts {
		end := 0
		for end < len(p) && p[end] >= '0' && p[end] <= '9' {
			end++
		}
		if end == 0 || end > 9 {
			return 0, 0, 0, false
		}
		nums[i], _ = strconv.Atoi(p[:end])
	}
	return nums[0], nums[1], nums[2], true
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// probeNATS is shield.nats_reachable: connect, flush round trip, server
// version and JetStream availability (§3.3).
func (r *rules) probeNATS(ctx context.Context, timeout time.Duration) Result {
	s := r.cfg.Shield
	var shown []string
	for _, u := range s.NATSURLs {
		shown = append(shown, redact.URL(u))
	}
	where := strings.Join(shown, ",")
	fix := "start NATS at " + where + " or correct NATS_URL / --nats-url"
	deadline := time.Now().Add(timeout)
	per := timeout
	if n := len(s.NATSURLs); n > 1 {
		per = timeout / time.Duration(n)
	}
	opts := []nats.Option{nats.Name("arqonbus-preflight"), nats.Timeout(per), nats.NoReconnect(),
		nats.MaxReconnects(0), nats.DontRandomize()}
	if s.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(s.NATSCreds))
	}
	type conn struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan conn, 1)
	go func() {
		nc, err := nats.Connect(strings.Join(s.NATSURLs, ","), opts...)
		ch <- conn{nc, err}
	}()
	cctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var nc *nats.Conn
	select {
	case c := <-ch:
		if c.err != nil {
			return fail("NATS at "+where+" unreachable: "+errText(c.err), fix)
		}
		nc = c.nc
	case <-cctx.Done():
		go func() {
			if c := <-ch; c.nc != nil {
				c.nc.Close()
			}
		}()
		return fail("NATS at "+where+" unreachable: connect timed out after "+timeout.String(), fix)
	}
	defer nc.Close()
	if err := nc.FlushWithContext(cctx); err != nil {
		return fail("NATS at "+where+": flush round trip failed: "+errText(err), fix)
	}
	detail := fmt.Sprintf("NATS %s at %s: connect and flush ok", nc.ConnectedServerVersion(), redact.URL(nc.ConnectedUrlRedacted()))
	js, err := jetstream.New(nc)
	jsOK := false
	if err == nil {
		_, err = js.AccountInfo(cctx)
		jsOK = err == nil
	}
	if jsOK {
		return ok(detail + ", JetStream available")
	}
	if s.JetStream {
		return fail(detail+", but JetStream is not available ("+errText(err)+") and ARQON_SHIELD_JETSTREAM=true",
			"enable JetStream on the NATS server (-js) or set ARQON_SHIELD_JETSTREAM=false")
	}
	return ok(detail + ", JetStream not available (not required: ARQON_SHIELD_JETSTREAM=false)")
}

// probeOllama is deps.ollama (§3.4).
func (r *rules) probeOllama(ctx context.Context, timeout time.Duration) Result {
	o := r.cfg.Bus.Ollama
	if !o.Enabled {
		return skip("Ollama disabled (ARQONBUS_OLLAMA_ENABLED=false)")
	}
	base := strings.TrimRight(o.URL, "/")
	shown := redact.URL(base)
	fix := "start Ollama at " + shown + " or correct ARQONBUS_OLLAMA_URL"
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: timeout}
	get := func(path string, v any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return errors.New("invalid URL")
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
		}
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("GET %s: invalid JSON", path)
		}
		return nil
	}
	var ver struct {
		Version string `json:"version"`
	}
	if err := get("/api/version", &ver); err != nil {
		return fail("Ollama at "+shown+" unreachable: "+errText(err), fix)
	}
	detail := "Ollama " + ver.Version + " at " + shown
	if o.Model == "" {
		return ok(detail)
	}
	var tags struct {
		Models []struct {
			Name  string `json:"name"`
			Model string `json:"model"`
		} `json:"models"`
	}
	if err := get("/api/tags", &tags); err != nil {
		return fail(detail+": "+errText(err), fix)
	}
	for _, m := range tags.Models {
		for _, n := range []string{m.Name, m.Model} {
			if n == o.Model || n == o.Model+":latest" {
				return ok(detail + ", model " + o.Model + " installed")
			}
		}
	}
	return fail(detail+": model "+o.Model+" is not installed", "run `ollama pull "+o.Model+"` on the Ollama host or correct ARQONBUS_OLLAMA_MODEL")
}

// checkPolicy is shield.policy (§3.3): the module loads with its exports
// and evaluates a probe message within the time limit.
func (r *rules) checkPolicy(ctx context.Context) Result {
	s := r.cfg.Shield
	if s.PolicyWASMPath == "" {
		return skip("POLICY_WASM_PATH not set: no policy, every frame is allowed")
	}
	fix := "point POLICY_WASM_PATH at a module that exports policy_check and memory (SHIELD.md §10)"
	logger := slog.New(slog.DiscardHandler)
	p, err := shield.LoadPolicy(ctx, s.PolicyWASMPath, s.PolicyTimeout, int64(s.PolicyMemoryLimit), logger)
	if err != nil {
		return fail("policy "+s.PolicyWASMPath+": "+errText(err), fix)
	}
	defer p.Close(context.WithoutCancel(ctx))
	probe := []byte(`{"type":"message","room":"preflight","channel":"probe","payload":{"probe":"preflight"}}`)
	d := p.Evaluate(ctx, probe, &shield.PolicyInput{Tenant: "preflight", Sub: "preflight", ConnID: "preflight",
		FrameType: "text", EnvelopeType: "message", Room: "preflight", Channel: "probe", Subject: "in.t.preflight.raw"})
	if d.Error != "" {
		return fail("policy "+s.PolicyWASMPath+": probe evaluation failed: "+d.Error, fix)
	}
	verdict := "allow"
	if !d.Allow {
		verdict = fmt.Sprintf("deny (code %d)", d.Code)
	}
	return ok("policy " + s.PolicyWASMPath + " (sha256 " + p.SHA256[:12] + ") loaded; probe: " + verdict)
}
