// Package handshake holds the pre-upgrade rules the bus and the telemetry
// WebSocket share: the refusal body and the Origin rule (PROTOCOL.md §2.5,
// §3.1, §3.3).
package handshake

import (
	"net"
	"net/http"
	"strings"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Reject writes a refusal before any upgrade: a compact JSON body with
// "error" then "details" (the 401 body is byte-exact, PROTOCOL.md §3.3) and,
// for 401, the WWW-Authenticate challenge.
func Reject(w http.ResponseWriter, status int, errText, details string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="arqonbus"`)
	}
	w.WriteHeader(status)
	b := append(make([]byte, 0, 64), `{"error":`...)
	b = protocol.AppendString(b, errText)
	b = append(b, `,"details":`...)
	b = protocol.AppendString(b, details)
	_, _ = w.Write(append(b, '}'))
}

// LoopbackOrigin reports whether an Origin header names a loopback host:
// localhost, 127.0.0.0/8 or [::1]. The value "null" is not loopback.
func LoopbackOrigin(origin string) bool {
	i := strings.Index(origin, "://")
	if i < 0 {
		return false
	}
	host := origin[i+3:]
	if j := strings.IndexAny(host, "/?#"); j >= 0 {
		host = host[:j]
	}
	if j := strings.LastIndexByte(host, '@'); j >= 0 {
		host = host[j+1:]
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
