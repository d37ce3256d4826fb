package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/auth"
)

// verifyToken checks a minted token with the bus's own verifier and returns
// its identity and raw header.
func verifyToken(t *testing.T, tok, alg, secret string) (*auth.Identity, map[string]any) {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{Algorithm: alg, Secret: []byte(secret), RequireExp: true})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(tok, time.Now())
	if err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}
	seg, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var header map[string]any
	if err := json.Unmarshal(seg, &header); err != nil {
		t.Fatal(err)
	}
	return id, header
}

// rawClaims decodes the claims segment keeping numbers as written.
func rawClaims(t *testing.T, tok string) map[string]json.RawMessage {
	t.Helper()
	seg, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(seg, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenMintsVerifiableClaims(t *testing.T) {
	before := time.Now().Unix()
	r := cli(t, []string{"ARQONBUS_AUTH_JWT_SECRET=" + testSecret}, "token", "--sub", "alice", "--role", "admin", "--tenant", "tenant-a", "--ttl", "90m")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	tok := strings.TrimSuffix(r.stdout, "\n")
	if r.stdout != tok+"\n" || strings.ContainsAny(tok, " \n") || strings.Count(tok, ".") != 2 {
		t.Fatalf("stdout must be the token and one newline: %q", r.stdout)
	}
	id, header := verifyToken(t, tok, auth.HS256, testSecret)
	if header["alg"] != "HS256" || header["typ"] != "JWT" || len(header) != 2 {
		t.Errorf("header = %v", header)
	}
	if id.Subject != "alice" || id.Role != "admin" || id.Tenant != "tenant-a" || !id.HasTenant {
		t.Errorf("identity = %+v", id)
	}
	c := rawClaims(t, tok)
	if len(c) != 5 {
		t.Errorf("claims = %v, want sub role tenant_id iat exp", c)
	}
	var iat, exp int64
	if json.Unmarshal(c["iat"], &iat) != nil || json.Unmarshal(c["exp"], &exp) != nil {
		t.Fatalf("iat/exp are not JSON integers: %s %s", c["iat"], c["exp"])
	}
	if iat < before || iat > time.Now().Unix() || exp-iat != 90*60 {
		t.Errorf("iat %d, exp %d: want iat = now and exp = iat + 5400", iat, exp)
	}
}

func TestTokenDefaultsAndAlgorithms(t *testing.T) {
	r := cli(t, []string{"JWT_SECRET=" + testSecret}, "token", "--sub", "bob", "--alg", "hs512", "--ttl", "30")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	id, header := verifyToken(t, tok, auth.HS512, testSecret)
	if header["alg"] != "HS512" || id.Role != auth.DefaultRole || id.HasTenant {
		t.Errorf("header %v, identity %+v", header, id)
	}
	c := rawClaims(t, tok)
	if _, ok := c["role"]; ok {
		t.Error("role claim present without --role")
	}
	if _, ok := c["tenant_id"]; ok {
		t.Error("tenant_id claim present without --tenant")
	}
	var iat, exp int64
	_ = json.Unmarshal(c["iat"], &iat)
	_ = json.Unmarshal(c["exp"], &exp)
	if exp-iat != 30 {
		t.Errorf("--ttl 30 gave exp-iat = %d", exp-iat)
	}

	// Default lifetime is one hour, default algorithm HS256.
	r = cli(t, []string{"JWT_SECRET=" + testSecret}, "token", "--sub", "bob")
	tok = strings.TrimSpace(r.stdout)
	_, header = verifyToken(t, tok, auth.HS256, testSecret)
	c = rawClaims(t, tok)
	_ = json.Unmarshal(c["iat"], &iat)
	_ = json.Unmarshal(c["exp"], &exp)
	if header["alg"] != "HS256" || exp-iat != 3600 {
		t.Errorf("defaults: alg %v, lifetime %d", header["alg"], exp-iat)
	}
}

func TestTokenSecretSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("from-the-file \n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		secret string
	}{
		{"file beats environment", []string{"ARQONBUS_AUTH_JWT_SECRET=env-a", "JWT_SECRET=env-b"}, []string{"--secret-file", file}, "from-the-file"},
		{"ARQONBUS_AUTH_JWT_SECRET beats JWT_SECRET", []string{"ARQONBUS_AUTH_JWT_SECRET=env-a", "JWT_SECRET=env-b"}, nil, "env-a"},
		{"empty means unset", []string{"ARQONBUS_AUTH_JWT_SECRET=   ", "JWT_SECRET=env-b"}, nil, "env-b"},
		{"values are trimmed", []string{"ARQONBUS_AUTH_JWT_SECRET= env-a\t"}, nil, "env-a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, tc.env, append([]string{"token", "--sub", "s"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			verifyToken(t, strings.TrimSpace(r.stdout), auth.HS256, tc.secret)
		})
	}

	cli(t, nil, "token", "--sub", "s").wantFailure(t,
		"arqonbus: token: no signing secret (set ARQONBUS_AUTH_JWT_SECRET or JWT_SECRET, or use --secret-file)")
	cli(t, nil, "token", "--sub", "s", "--secret-file", filepath.Join(dir, "missing")).wantFailure(t, "cannot read secret file")
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte(" \n"), 0o600)
	cli(t, []string{"JWT_SECRET=x"}, "token", "--sub", "s", "--secret-file", empty).wantFailure(t, "is empty")
}

// The secret is never taken from argv: every spelling of a secret flag is
// refused before anything is signed, and its value is never echoed.
func TestTokenRefusesSecretOnCommandLine(t *testing.T) {
	const value = "argv-secret-value"
	for _, args := range [][]string{
		{"--secret", value},
		{"--secret=" + value},
		{"-jwt-secret", value},
		{"--auth-jwt-secret=" + value},
		{value}, // a positional argument is not echoed either
	} {
		r := cli(t, []string{"JWT_SECRET=" + testSecret}, append([]string{"token", "--sub", "s"}, args...)...)
		r.wantUsage(t, "arqonbus: token: ")
		if strings.Contains(r.stderr, value) {
			t.Errorf("%v: stderr echoes the secret: %q", args, r.stderr)
		}
	}
}

func TestTokenUsageErrors(t *testing.T) {
	env := []string{"JWT_SECRET=" + testSecret}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token"}, "--sub is required"},
		{[]string{"token", "--sub", " "}, "--sub is required"},
		{[]string{"token", "--sub", "s", "--tenant", "a.b"}, "--tenant: must match"},
		{[]string{"token", "--sub", "s", "--tenant", ""}, "--tenant: must match"},
		{[]string{"token", "--sub", "s", "--ttl", "0"}, "--ttl: must be greater than 0"},
		{[]string{"token", "--sub", "s", "--ttl", "-5m"}, "--ttl: invalid duration"},
		{[]string{"token", "--sub", "s", "--ttl", "forever"}, "--ttl: invalid duration"},
		{[]string{"token", "--sub", "s", "--alg", "RS256"}, "--alg: invalid algorithm"},
		{[]string{"token", "--sub", "s", "--alg", "none"}, "--alg: invalid algorithm"},
	} {
		cli(t, env, tc.args...).wantUsage(t, tc.want)
	}
}

func TestMintTokenClaims(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok, err := mintToken(tokenRequest{sub: "x", alg: auth.HS384, ttl: 2 * time.Second}, []byte("k"), now)
	if err != nil {
		t.Fatal(err)
	}
	c := rawClaims(t, tok)
	if string(c["iat"]) != "1800000000" || string(c["exp"]) != "1800000002" || string(c["sub"]) != `"x"` || len(c) != 3 {
		t.Errorf("claims = %v", c)
	}
}
