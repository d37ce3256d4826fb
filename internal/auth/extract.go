package auth

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// Sources says where a token may come from at the WebSocket upgrade. The bus
// (PROTOCOL.md §3.3) uses Header, QueryParams {"token","access_token",
// "auth_token"} and Subprotocol, in that order. Shield (SHIELD.md §6.2) adds
// SubprotocolFirst and StrictHeader, and lists "access_token" only when
// ARQON_SHIELD_ALLOW_QUERY_TOKEN is on.
type Sources struct {
	// Header: "Authorization: Bearer <t>" (scheme case-insensitive, one or
	// more spaces, non-empty token). Such a header is the only source
	// considered; a header with another scheme counts as absent unless
	// StrictHeader is set.
	Header bool
	// QueryParams are tried in order; the first non-empty value wins.
	QueryParams []string
	// Subprotocol: a Sec-WebSocket-Protocol entry "bearer.<t>".
	Subprotocol bool
	// SubprotocolFirst tries the subprotocol before the query parameters.
	SubprotocolFirst bool
	// StrictHeader makes any Authorization header the only source: one that
	// is not "Bearer <token>" gives ErrNotBearer instead of falling through.
	StrictHeader bool
}

// TokenSource names where Locate found the token; Shield logs it as
// token_source.
type TokenSource string

// Token sources.
const (
	SourceHeader      TokenSource = "header"
	SourceQuery       TokenSource = "query"
	SourceSubprotocol TokenSource = "subprotocol"
)

// Extraction outcomes other than a token.
var (
	// ErrNoToken: no enabled source produced a token (bus "Missing bearer
	// token", Shield "Missing Authorization header").
	ErrNoToken = errors.New("no token")
	// ErrNotBearer: with StrictHeader, an Authorization header that is not
	// "Bearer <token>" (Shield "Authorization header is not Bearer token format").
	ErrNotBearer = errors.New("authorization header is not bearer token format")
)

const subprotocolTokenPrefix = "bearer."

// ExtractToken returns the token of r according to s, or ok=false when no
// source produced one.
func ExtractToken(r *http.Request, s Sources) (token string, ok bool) {
	token, _, err := Locate(r, s)
	return token, err == nil
}

// Locate is ExtractToken that also reports the source, and ErrNotBearer
// (StrictHeader) or ErrNoToken when there is no token.
func Locate(r *http.Request, s Sources) (string, TokenSource, error) {
	if s.Header {
		if values, present := r.Header["Authorization"]; present {
			if t, ok := parseBearer(values[0]); ok {
				return t, SourceHeader, nil
			}
			if s.StrictHeader {
				return "", "", ErrNotBearer
			}
		}
	}
	if s.SubprotocolFirst {
		if t, ok := subprotocolToken(r, s); ok {
			return t, SourceSubprotocol, nil
		}
	}
	if len(s.QueryParams) > 0 && r.URL != nil {
		q, _ := url.ParseQuery(r.URL.RawQuery) // keep what parsed; a bad escape elsewhere must not hide a token
		for _, name := range s.QueryParams {
			for _, v := range q[name] {
				if v != "" {
					return v, SourceQuery, nil
				}
			}
		}
	}
	if !s.SubprotocolFirst {
		if t, ok := subprotocolToken(r, s); ok {
			return t, SourceSubprotocol, nil
		}
	}
	return "", "", ErrNoToken
}

// parseBearer accepts "Bearer" (any case), one or more spaces, and a
// non-empty token; surrounding whitespace is ignored.
func parseBearer(v string) (string, bool) {
	v = strings.TrimSpace(v)
	const scheme = "Bearer"
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) || v[len(scheme)] != ' ' {
		return "", false
	}
	t := strings.TrimLeft(v[len(scheme):], " ")
	return t, t != ""
}

func subprotocolToken(r *http.Request, s Sources) (string, bool) {
	if !s.Subprotocol {
		return "", false
	}
	for _, e := range offeredSubprotocols(r) {
		if t, ok := strings.CutPrefix(e, subprotocolTokenPrefix); ok && t != "" {
			return t, true
		}
	}
	return "", false
}

func offeredSubprotocols(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// SelectSubprotocol returns the first protocol offered by the client that is
// in supported, "" if none. A "bearer.*" entry carries a credential and is
// never returned, even if supported lists it (PROTOCOL.md §2.3, SHIELD.md §6.4).
func SelectSubprotocol(r *http.Request, supported ...string) string {
	for _, e := range offeredSubprotocols(r) {
		if strings.HasPrefix(e, subprotocolTokenPrefix) {
			continue
		}
		for _, s := range supported {
			if e == s {
				return e
			}
		}
	}
	return ""
}
