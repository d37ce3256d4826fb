package redact

import (
	"strings"
	"testing"
)

const sampleJWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJlLWJ5dGVz"

func TestText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain message", "plain message"},
		{"listening on 127.0.0.1:9100", "listening on 127.0.0.1:9100"},
		{`dial "redis://:pw@db:6379/0": refused`, `dial "redis://:***@db:6379/0": refused`},
		{`parse "redis://:p%zz@db": invalid URL escape "%zz"`, `parse "redis://:***@db": invalid URL escape "%zz"`},
		{"nats://a:b@h1,nats://c:d@h2", "nats://a:***@h1,nats://c:***@h2"},
		{"nats://h1,nats://tok@h2", "nats://h1,nats://***@h2"},
		{"redis://:p;a&s,s@db", "redis://:***@db"},
		{"GET /ws?room=a&token=abc HTTP/1.1", "GET /ws?room=a&token=REDACTED HTTP/1.1"},
		{"bad api_key=k1; jwt=j2, Auth_Token=x", "bad api_key=REDACTED; jwt=REDACTED, Auth_Token=REDACTED"},
		{"my_token=keep tokenizer=keep", "my_token=keep tokenizer=keep"},
		{"token=", "token="},
		{"Authorization: Bearer " + sampleJWT, "Authorization: Bearer REDACTED"},
		{"Sec-WebSocket-Protocol: arqonbus.v1, bearer." + sampleJWT, "Sec-WebSocket-Protocol: arqonbus.v1, bearer.REDACTED"},
		{"unsigned eyJhbGciOiJub25lIn0.eyJ9. end", "unsigned REDACTED end"},
		{"not a jwt: eyJonly and eyJa.b", "not a jwt: eyJonly and eyJa.b"},
		{"xeyJa.b.c", "xeyJa.b.c"},
		{"ws://h/ws?token=" + sampleJWT + "&room=a", "ws://h/ws?token=REDACTED&room=a"},
		{"http://user@", "http://***@"},
	}
	for _, tc := range cases {
		if got := Text(tc.in); got != tc.want {
			t.Errorf("Text(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
		if again := Text(tc.want); again != tc.want {
			t.Errorf("Text not idempotent on %q: %q", tc.want, again)
		}
	}
}

func TestTextNoAllocWhenClean(t *testing.T) {
	s := strings.Repeat("connection opened conn_id arq_conn_0001 ", 4)
	if n := testing.AllocsPerRun(100, func() { _ = Text(s) }); n != 0 {
		t.Fatalf("Text allocated %v times on clean input", n)
	}
}
