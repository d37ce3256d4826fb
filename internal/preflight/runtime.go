package preflight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/redact"
)

// probeHost is the host a probe dials for a bind host: a wildcard is probed
// as 127.0.0.1 (PREFLIGHT.md §2).
func probeHost(h string) string {
	switch h {
	case "", "0.0.0.0", "::", "[::]":
		return "127.0.0.1"
	}
	return h
}

func hostPort(h string, p int) string { return net.JoinHostPort(probeHost(h), strconv.Itoa(p)) }

// RuntimeURLs are the endpoints of the runtime checks (§2, §8).
type RuntimeURLs struct {
	BusHTTP   string
	Telemetry string
	Shield    string
}

func (r *rules) defaultURLs() RuntimeURLs {
	b, s := r.cfg.Bus, r.cfg.Shield
	return RuntimeURLs{
		BusHTTP:   "http://" + hostPort(b.HTTPHost, b.HTTPPort),
		Telemetry: "ws://" + hostPort(b.TelemetryHost, b.TelemetryPort) + "/",
		Shield:    "ws://" + hostPort(s.Host, s.Port) + "/ws",
	}
}

// busHealth is runtime.bus_health (§8).
func busHealth(ctx context.Context, base string, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	base = strings.TrimRight(base, "/")
	shown := redact.URL(base)
	fix := "start the bus (arqonbus serve) with its HTTP ops API at " + shown + ", or pass --bus-http-url"
	client := &http.Client{Timeout: timeout}
	get := func(path string) (int, map[string]any, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return 0, nil, errors.New("invalid URL")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var body map[string]any
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = json.Unmarshal(raw, &body)
		return resp.StatusCode, body, nil
	}
	code, body, err := get("/health")
	if err != nil {
		return fail("GET "+shown+"/health: "+errText(err), fix)
	}
	if code != http.StatusOK || body["status"] != "healthy" {
		return fail(fmt.Sprintf("GET %s/health: HTTP %d, status %v (want 200 healthy)", shown, code, body["status"]), fix)
	}
	code, body, err = get("/ready")
	if err != nil {
		return fail("GET "+shown+"/ready: "+errText(err), fix)
	}
	if code != http.StatusOK {
		return fail(fmt.Sprintf("GET %s/ready: HTTP %d, status %v (want 200)", shown, code, body["status"]),
			"see the failing check in the /ready body (storage, nats, shutdown)")
	}
	return ok(fmt.Sprintf("%s/health healthy, /ready %v", shown, body["status"]))
}

func wsDialer(timeout time.Duration) *websocket.Dialer {
	return &websocket.Dialer{HandshakeTimeout: timeout, Proxy: nil}
}

func bearer(token string) http.Header {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h
}

// telemetryConnect is runtime.telemetry_connect (§8).
func (r *rules) telemetryConnect(ctx context.Context, u string, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	shown := redact.URL(u)
	fix := "start the bus with telemetry enabled at " + shown + ", or pass --telemetry-url"
	var token string
	b := r.cfg.Bus
	if b.EnableAuth {
		if !auth.IsHMAC(b.AuthJWTAlgorithm) || b.AuthJWTSecret == "" {
			return fail("cannot mint the operator-admin token: bus auth uses "+b.AuthJWTAlgorithm+" without ARQONBUS_AUTH_JWT_SECRET",
				"run preflight where ARQONBUS_AUTH_JWT_SECRET is set (HS* algorithms only)")
		}
		now := time.Now().Unix()
		var err error
		token, err = auth.Sign(b.AuthJWTAlgorithm, []byte(b.AuthJWTSecret),
			map[string]any{"sub": "arqonbus-preflight", "role": "admin", "iat": now, "exp": now + 60})
		if err != nil {
			return fail("cannot mint the operator-admin token: "+errText(err), fix)
		}
	}
	c, resp, err := wsDialer(timeout).DialContext(ctx, u, bearer(token))
	if err != nil {
		if resp != nil {
			return fail(fmt.Sprintf("telemetry upgrade at %s refused: HTTP %d", shown, resp.StatusCode), fix)
		}
		return fail("telemetry connect to "+shown+" failed: "+errText(err), fix)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	_, msg, err := c.ReadMessage()
	if err != nil {
		return fail("connected to "+shown+" but no telemetry_connected frame: "+errText(err), fix)
	}
	var frame struct {
		EventType string `json:"event_type"`
	}
	if json.Unmarshal(msg, &frame) != nil || frame.EventType != "telemetry_connected" {
		return fail("connected to "+shown+" but the first frame is not telemetry_connected", fix)
	}
	return ok("connected to " + shown + ", telemetry_connected received")
}

// shieldRejectsMissingToken is runtime.shield_rejects_missing_token (§8).
func shieldRejectsMissingToken(ctx context.Context, u string, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	shown := redact.URL(u)
	c, resp, err := wsDialer(timeout).DialContext(ctx, u, nil)
	if err == nil {
		c.Close()
		return fail("Shield at "+shown+" accepted an upgrade without a token",
			"Shield must refuse unauthenticated upgrades with 401: check that this is Shield and that JWT_SKIP_VALIDATION is not in effect")
	}
	if resp == nil {
		return fail("Shield at "+shown+" unreachable: "+errText(err), "start Shield (arqonbus shield) or pass --shield-url")
	}
	if resp.StatusCode != http.StatusUnauthorized {
		return fail(fmt.Sprintf("Shield at %s answered an upgrade without a token with HTTP %d (want 401)", shown, resp.StatusCode),
			"check that --shield-url points at Shield's WebSocket path (/ws)")
	}
	return ok("upgrade without a token refused with HTTP 401 at " + shown)
}

// shieldRoutesValidToken is runtime.shield_routes_valid_token (§8): the
// detail names the step that failed.
func (r *rules) shieldRoutesValidToken(ctx context.Context, u string, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	shown := redact.URL(u)
	step := func(name string, err error, fix string) Result {
		return fail("step "+name+": "+errText(err), fix)
	}
	secret := strings.TrimSpace(r.secret)
	if secret == "" {
		return fail("step mint token: JWT_SECRET is not set", "set JWT_SECRET to Shield's secret")
	}
	now := time.Now().Unix()
	token, err := auth.Sign("HS256", []byte(secret), map[string]any{
		"sub": "arqonbus-preflight", "tenant_id": "preflight", "iat": now, "exp": now + 60})
	if err != nil {
		return step("mint token", err, "set JWT_SECRET to Shield's secret")
	}
	natsFix := "start NATS or pass Shield's NATS as --nats-url"
	nc, err := nats.Connect(strings.Join(r.cfg.Shield.NATSURLs, ","), nats.Name("arqonbus-preflight"),
		nats.Timeout(timeout), nats.NoReconnect(), nats.MaxReconnects(0))
	if err != nil {
		return step("connect NATS", err, natsFix)
	}
	defer nc.Close()
	const subject = "in.t.preflight.raw"
	msgs := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe(subject, msgs)
	if err == nil {
		err = nc.FlushWithContext(ctx)
	}
	if err != nil {
		return step("subscribe "+subject, err, natsFix)
	}
	defer sub.Unsubscribe()
	c, resp, err := wsDialer(timeout).DialContext(ctx, u, bearer(token))
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return step("connect Shield at "+shown, err, "start Shield, pass --shield-url, and make JWT_SECRET equal Shield's secret")
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	nonce := randomID()
	id := "arq_preflight_" + nonce
	frame, _ := json.Marshal(map[string]any{"type": "message", "id": id, "room": "preflight", "channel": "probe",
		"payload": map[string]any{"nonce": nonce}})
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	if err := c.WriteMessage(websocket.TextMessage, frame); err != nil {
		return step("send", err, "check Shield's logs")
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	acked := false
	for !acked {
		_, raw, err := c.ReadMessage()
		if err != nil {
			return step("ack", err, "check Shield's logs and NATS connectivity")
		}
		var ack struct {
			Type    string `json:"type"`
			ID      string `json:"id"`
			Subject string `json:"subject"`
			Code    string `json:"error_code"`
			Error   string `json:"error"`
		}
		if json.Unmarshal(raw, &ack) != nil {
			continue
		}
		switch {
		case ack.Type == "ack" && ack.ID == id:
			if ack.Subject != subject {
				return fail("step ack: subject "+ack.Subject+" (want "+subject+")", "check Shield's tenant routing (SHIELD.md §11.1)")
			}
			acked = true
		case ack.Type == "error":
			return fail("step ack: Shield answered with an error frame "+ack.Code+" "+ack.Error, "check Shield's schema and policy settings")
		}
	}
	for {
		select {
		case m := <-msgs:
			if strings.Contains(string(m.Data), nonce) {
				return ok("token accepted, payload acked and delivered on " + subject + " at " + shown)
			}
		case <-ctx.Done():
			return fail("step NATS delivery: acked, but the nonce did not arrive on "+subject+" within "+timeout.String(),
				"check that Shield and --nats-url use the same NATS server")
		}
	}
}
