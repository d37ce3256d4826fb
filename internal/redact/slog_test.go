package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

func logLine(t *testing.T, log func(*slog.Logger)) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	log(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: ReplaceAttr})))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("log output %q: %v", buf.String(), err)
	}
	if strings.Contains(buf.String(), sampleJWT) || strings.Contains(buf.String(), "hunter2") {
		t.Fatalf("secret in log output: %s", buf.String())
	}
	return m
}

func TestReplaceAttrSecretKeys(t *testing.T) {
	for _, key := range []string{"token", "Token", "secret", "password", "PASSWORD", "authorization", "Authorization",
		"api_key", "x-api-key", "X-API-Key", "jwt", "access_token", "auth_token"} {
		m := logLine(t, func(l *slog.Logger) { l.Info("m", key, "hunter2") })
		if m[key] != Redacted {
			t.Errorf("key %q: %v", key, m[key])
		}
	}
	m := logLine(t, func(l *slog.Logger) { l.Info("m", "token", 12345, "secret", []byte("hunter2")) })
	if m["token"] != Redacted || m["secret"] != Redacted {
		t.Errorf("non-string secret values: %v", m)
	}
	m = logLine(t, func(l *slog.Logger) { l.Info("m", slog.Group("password", "value", "hunter2")) })
	if g, _ := m["password"].(map[string]any); g["value"] != Redacted {
		t.Errorf("group member: %v", m)
	}
	// Names that merely contain a secret word are ordinary attributes.
	m = logLine(t, func(l *slog.Logger) { l.Info("m", "token_source", "header", "secret_count", 2) })
	if m["token_source"] != "header" || m["secret_count"] != float64(2) {
		t.Errorf("over-redaction: %v", m)
	}
}

func TestReplaceAttrURLsAndText(t *testing.T) {
	reqURL, _ := url.Parse("ws://127.0.0.1:9100/ws?token=" + sampleJWT + "&room=science")
	m := logLine(t, func(l *slog.Logger) {
		l.Debug("handshake",
			"url", "redis://:hunter2@db:6379/0",
			"nats_urls", []string{"nats://u:hunter2@a:4222", "nats://b:4222"},
			"request_url", reqURL,
			"path", "/ws?access_token="+sampleJWT,
			"addr", "127.0.0.1:9100",
			"remote_addr", "10.0.0.7:51234",
			"error", fmt.Errorf("connect %q: %w", "redis://:hunter2@db", errors.New("refused")),
			"component", "bus",
		)
	})
	want := map[string]any{
		"msg":         "handshake",
		"url":         "redis://:***@db:6379/0",
		"nats_urls":   []any{"nats://u:***@a:4222", "nats://b:4222"},
		"request_url": "ws://127.0.0.1:9100/ws?token=REDACTED&room=science",
		"path":        "/ws?access_token=REDACTED",
		"addr":        "127.0.0.1:9100",
		"remote_addr": "10.0.0.7:51234",
		"error":       `connect "redis://:***@db": refused`,
		"component":   "bus",
	}
	for k, w := range want {
		if fmt.Sprint(m[k]) != fmt.Sprint(w) {
			t.Errorf("%s = %v, want %v", k, m[k], w)
		}
	}
}

func TestReplaceAttrMessage(t *testing.T) {
	m := logLine(t, func(l *slog.Logger) { l.Info("dial redis://:hunter2@db failed") })
	if m["msg"] != "dial redis://:***@db failed" {
		t.Errorf("msg = %v", m["msg"])
	}
}

// The attribute value is untouched (same Attr) when there is nothing to hide.
func TestReplaceAttrPassThrough(t *testing.T) {
	for _, a := range []slog.Attr{
		slog.String("room", "science"),
		slog.Int("offset", 41),
		slog.Any("error", errors.New("plain failure")),
		slog.String(slog.MessageKey, "configuration loaded"),
	} {
		if got := ReplaceAttr(nil, a); !got.Equal(a) {
			t.Errorf("%v changed to %v", a, got)
		}
	}
}
