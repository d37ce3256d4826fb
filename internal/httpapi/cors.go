package httpapi

import (
	"net/http"
	"strings"
)

// CORS applies only to the GET endpoints and never to /admin/*
// (OPERATIONS.md §6.1). Allowed origins are echoed back, never "*", so
// that a cache keyed on Vary: Origin stays correct.

func (h *handler) corsEnabled() bool { return h.corsAny || len(h.corsOrigins) > 0 }

// originAllowed reports whether a browser at origin may read responses.
func (h *handler) originAllowed(origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	if h.corsAny {
		return true
	}
	_, ok := h.corsOrigins[strings.ToLower(origin)]
	return ok
}

// allowOrigin adds Access-Control-Allow-Origin for a matching Origin.
func (h *handler) allowOrigin(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if !h.originAllowed(origin) {
		return false
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	return true
}

// preflight answers an OPTIONS request with 204; the allow headers are
// sent only when the Origin matches.
func (h *handler) preflight(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Allow", "GET, HEAD, OPTIONS")
	if h.allowOrigin(w, r) {
		hdr.Set("Access-Control-Allow-Methods", "GET, HEAD")
		if reqHeaders := r.Header.Get("Access-Control-Request-Headers"); reqHeaders != "" {
			hdr.Set("Access-Control-Allow-Headers", reqHeaders)
			hdr.Add("Vary", "Access-Control-Request-Headers")
		}
		hdr.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}
