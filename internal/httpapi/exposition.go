package httpapi

import (
	"net/http"
	"strings"
)

// defaultEscaping is the parameter client_golang appends to the exposition
// Content-Type. Every bus metric name is a legacy Prometheus name, so the
// escaping changes nothing; it is dropped unless the scraper asked for an
// escaping scheme, giving the exact text/plain; version=0.0.4;
// charset=utf-8 of OPERATIONS.md §6.2.
const defaultEscaping = "; escaping=underscores"

type exposition struct{ next http.Handler }

func (e exposition) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.Header.Get("Accept"), "escaping=") {
		w = &trimEscaping{ResponseWriter: w}
	}
	e.next.ServeHTTP(w, r)
}

type trimEscaping struct {
	http.ResponseWriter
	fixed bool
}

func (t *trimEscaping) fix() {
	if t.fixed {
		return
	}
	t.fixed = true
	h := t.Header()
	if ct := h.Get("Content-Type"); strings.HasSuffix(ct, defaultEscaping) {
		h.Set("Content-Type", strings.TrimSuffix(ct, defaultEscaping))
	}
}

func (t *trimEscaping) WriteHeader(code int) {
	t.fix()
	t.ResponseWriter.WriteHeader(code)
}

func (t *trimEscaping) Write(b []byte) (int, error) {
	t.fix()
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (t *trimEscaping) Unwrap() http.ResponseWriter { return t.ResponseWriter }
