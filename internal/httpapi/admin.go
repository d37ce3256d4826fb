package httpapi

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
)

// maxDisconnectBody is the largest POST /admin/disconnect body (§6.1).
const maxDisconnectBody = 4 << 10

// authorize applies OPERATIONS.md §6.4 and writes the 401/403 itself.
// The key is compared as SHA-256 digests in constant time, so neither its
// content nor its length leaks through timing.
func (h *handler) authorize(w http.ResponseWriter, r *http.Request) bool {
	if !h.adminKeySet {
		writeError(w, http.StatusForbidden, "Forbidden", "Admin API disabled: set ARQONBUS_ADMIN_API_KEY")
		return false
	}
	// Header lookup is case-insensitive: net/http canonicalises names.
	values := r.Header.Values("X-API-Key")
	if len(values) > 0 {
		got := sha256.Sum256([]byte(values[0]))
		if subtle.ConstantTimeCompare(got[:], h.adminKeyHash[:]) == 1 {
			return true
		}
	}
	writeError(w, http.StatusUnauthorized, "Unauthorized", "Valid X-API-Key required")
	return false
}

// ConfigResponse is the /admin/config body. Config values come from
// Source.ConfigSnapshot already redacted ("***" or null for secrets).
type ConfigResponse struct {
	Environment string         `json:"environment"`
	Config      map[string]any `json:"config"`
}

func (h *handler) adminConfig(w http.ResponseWriter, r *http.Request) {
	env, cfg := h.src.ConfigSnapshot()
	if cfg == nil {
		cfg = map[string]any{}
	}
	if err := writeJSON(w, http.StatusOK, ConfigResponse{Environment: env, Config: cfg}); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "cannot encode response",
			slog.String("route", r.URL.Path), slog.String("error", err.Error()))
	}
}

func (h *handler) adminShutdown(w http.ResponseWriter, r *http.Request) {
	_ = writeJSON(w, http.StatusOK, struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}{"shutdown_initiated", "Server shutdown initiated"})
	_ = http.NewResponseController(w).Flush()
	h.shutdownOnce.Do(func() {
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "admin shutdown requested", slog.String("remote_addr", r.RemoteAddr))
		// Shutdown eventually stops this HTTP server, which waits for
		// running handlers; calling it inline could deadlock.
		go h.src.Shutdown()
	})
}

func (h *handler) adminRestart(w http.ResponseWriter, _ *http.Request) {
	writeError(w, http.StatusNotImplemented, "Not Implemented", "Restart is delegated to the process supervisor")
}

func (h *handler) adminDisconnect(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDisconnectBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large", "Request body exceeds 4096 bytes")
			return
		}
		writeError(w, http.StatusBadRequest, "Bad Request", "client_id is required")
		return
	}
	id, ok := parseDisconnectBody(body)
	if !ok {
		writeError(w, http.StatusBadRequest, "Bad Request", "client_id is required")
		return
	}
	if !h.src.DisconnectClient(id) {
		writeError(w, http.StatusNotFound, "Not Found", "Client '"+id+"' is not connected")
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "admin disconnected client",
		slog.String("client_id", id), slog.String("remote_addr", r.RemoteAddr))
	_ = writeJSON(w, http.StatusOK, struct {
		Disconnected bool `json:"disconnected"`
	}{true})
}

// parseDisconnectBody extracts client_id from a body that must be exactly
// one JSON object whose client_id is a non-empty string. Other keys are
// ignored.
func parseDisconnectBody(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return "", false
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", false // trailing data after the object
	}
	raw, ok := obj["client_id"]
	if !ok {
		return "", false
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil || id == "" {
		return "", false
	}
	return id, true
}
