package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

var busSources = Sources{Header: true, QueryParams: []string{"token", "access_token", "auth_token"}, Subprotocol: true}

func upgradeRequest(target string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

func TestExtractTokenBus(t *testing.T) {
	cases := []struct {
		name    string
		r       *http.Request
		want    string
		wantSrc TokenSource
	}{
		{"none", upgradeRequest("/ws"), "", ""},
		{"bearer header", upgradeRequest("/ws", "Authorization", "Bearer hdr"), "hdr", SourceHeader},
		{"scheme case-insensitive", upgradeRequest("/ws", "Authorization", "bEARER hdr"), "hdr", SourceHeader},
		{"several spaces", upgradeRequest("/ws", "Authorization", "  Bearer    hdr  "), "hdr", SourceHeader},
		// A bad header token wins over a good query token: the header is the only source.
		{"header beats query", upgradeRequest("/ws?token=good", "Authorization", "Bearer bad"), "bad", SourceHeader},
		{"header beats subprotocol", upgradeRequest("/ws", "Authorization", "Bearer hdr", "Sec-WebSocket-Protocol", "bearer.sp"), "hdr", SourceHeader},
		{"Basic is absent", upgradeRequest("/ws?token=q", "Authorization", "Basic dXNlcjpwYXNz"), "q", SourceQuery},
		{"Basic only", upgradeRequest("/ws", "Authorization", "Basic dXNlcjpwYXNz"), "", ""},
		{"Bearer without token is absent", upgradeRequest("/ws?token=q", "Authorization", "Bearer "), "q", SourceQuery},
		{"Bearer glued is absent", upgradeRequest("/ws?token=q", "Authorization", "Bearerx"), "q", SourceQuery},
		{"token param", upgradeRequest("/ws?token=t1"), "t1", SourceQuery},
		{"token before access_token", upgradeRequest("/ws?access_token=a&token=t"), "t", SourceQuery},
		{"access_token before auth_token", upgradeRequest("/ws?auth_token=x&access_token=a"), "a", SourceQuery},
		{"empty token skipped", upgradeRequest("/ws?token=&auth_token=x"), "x", SourceQuery},
		{"repeated param, first non-empty", upgradeRequest("/ws?token=&token=second"), "second", SourceQuery},
		{"query beats subprotocol", upgradeRequest("/ws?auth_token=q", "Sec-WebSocket-Protocol", "arqonbus.v1, bearer.sp"), "q", SourceQuery},
		{"bad escape elsewhere", upgradeRequest("/ws?x=%zz&token=t"), "t", SourceQuery},
		{"subprotocol", upgradeRequest("/ws", "Sec-WebSocket-Protocol", "arqonbus.v1, bearer.sp"), "sp", SourceSubprotocol},
		{"subprotocol second header", upgradeRequest("/ws", "Sec-WebSocket-Protocol", "arqonbus.v1", "Sec-WebSocket-Protocol", "bearer.sp2"), "sp2", SourceSubprotocol},
		{"subprotocol empty entry skipped", upgradeRequest("/ws", "Sec-WebSocket-Protocol", "bearer., bearer.sp"), "sp", SourceSubprotocol},
		{"subprotocol prefix case-sensitive", upgradeRequest("/ws", "Sec-WebSocket-Protocol", "Bearer.sp"), "", ""},
		{"unknown param ignored", upgradeRequest("/ws?jwt=j"), "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ExtractToken(tc.r, busSources)
			if got != tc.want || ok != (tc.want != "") {
				t.Fatalf("ExtractToken = %q, %v; want %q", got, ok, tc.want)
			}
			_, src, err := Locate(tc.r, busSources)
			if src != tc.wantSrc || (tc.want == "") != errors.Is(err, ErrNoToken) {
				t.Fatalf("Locate source = %q err = %v; want %q", src, err, tc.wantSrc)
			}
		})
	}
}

func TestExtractTokenDisabledSources(t *testing.T) {
	r := upgradeRequest("/ws?token=q", "Authorization", "Bearer h", "Sec-WebSocket-Protocol", "bearer.s")
	if got, _ := ExtractToken(r, Sources{QueryParams: []string{"token"}, Subprotocol: true}); got != "q" {
		t.Fatalf("header disabled: %q", got)
	}
	if got, _ := ExtractToken(r, Sources{Subprotocol: true}); got != "s" {
		t.Fatalf("only subprotocol: %q", got)
	}
	if _, ok := ExtractToken(r, Sources{}); ok {
		t.Fatal("no sources, but a token")
	}
}

// SHIELD.md §6.2/§6.3: header, then subprotocol, then access_token (opt-in);
// a non-Bearer Authorization header is its own failure.
func TestLocateShield(t *testing.T) {
	shield := Sources{Header: true, Subprotocol: true, SubprotocolFirst: true, StrictHeader: true}
	withQuery := shield
	withQuery.QueryParams = []string{"access_token"}
	cases := []struct {
		name    string
		s       Sources
		r       *http.Request
		want    string
		wantSrc TokenSource
		wantErr error
	}{
		{"missing", shield, upgradeRequest("/ws"), "", "", ErrNoToken},
		{"Basic", shield, upgradeRequest("/ws", "Authorization", "Basic abc"), "", "", ErrNotBearer},
		{"Bearer without token", shield, upgradeRequest("/ws", "Authorization", "Bearer"), "", "", ErrNotBearer},
		{"empty header", shield, upgradeRequest("/ws", "Authorization", ""), "", "", ErrNotBearer},
		{"Basic even with subprotocol", shield, upgradeRequest("/ws", "Authorization", "Basic abc", "Sec-WebSocket-Protocol", "bearer.t"), "", "", ErrNotBearer},
		{"header", shield, upgradeRequest("/ws", "Authorization", "Bearer h"), "h", SourceHeader, nil},
		{"subprotocol before query", withQuery, upgradeRequest("/ws?access_token=q", "Sec-WebSocket-Protocol", "arqon.v1, bearer.s"), "s", SourceSubprotocol, nil},
		{"query not allowed", shield, upgradeRequest("/ws?access_token=q"), "", "", ErrNoToken},
		{"query allowed", withQuery, upgradeRequest("/ws?access_token=q"), "q", SourceQuery, nil},
		{"token param not a Shield source", withQuery, upgradeRequest("/ws?token=q"), "", "", ErrNoToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, src, err := Locate(tc.r, tc.s)
			if got != tc.want || src != tc.wantSrc || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Locate = %q, %q, %v; want %q, %q, %v", got, src, err, tc.want, tc.wantSrc, tc.wantErr)
			}
		})
	}
}

func TestSelectSubprotocol(t *testing.T) {
	cases := []struct {
		name      string
		offered   []string
		supported []string
		want      string
	}{
		{"none offered", nil, []string{"arqonbus.v1"}, ""},
		{"only bearer", []string{"bearer.tok"}, []string{"arqonbus.v1"}, ""},
		{"bearer then supported", []string{"bearer.tok, arqonbus.v1"}, []string{"arqonbus.v1"}, "arqonbus.v1"},
		{"client order wins", []string{"arqonbus.v1.batch, arqonbus.v1"}, []string{"arqonbus.v1", "arqonbus.v1.batch"}, "arqonbus.v1.batch"},
		{"shield names", []string{"arqonbus.v1", "arqon.v1"}, []string{"arqon.v1", "arqonbus.v1"}, "arqonbus.v1"},
		{"unsupported only", []string{"graphql-ws"}, []string{"arqonbus.v1"}, ""},
		{"bearer never echoed even if listed", []string{"bearer.tok"}, []string{"bearer.tok"}, ""},
		{"case-sensitive", []string{"ArqonBus.v1"}, []string{"arqonbus.v1"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := upgradeRequest("/ws")
			for _, o := range tc.offered {
				r.Header.Add("Sec-WebSocket-Protocol", o)
			}
			if got := SelectSubprotocol(r, tc.supported...); got != tc.want {
				t.Fatalf("SelectSubprotocol = %q, want %q", got, tc.want)
			}
		})
	}
}
