package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/auth"
)

func init() {
	commands["token"] = command{"Mint a JWT for the bus (HS256/384/512)", runToken}
}

// Sources of the signing secret after --secret-file, in order (CLI.md §7).
const (
	envAuthJWTSecret = "ARQONBUS_AUTH_JWT_SECRET"
	envJWTSecret     = "JWT_SECRET"
)

// secretFlagNames are refused with a pointer to the safe sources: a secret
// in argv is visible to every local user (ps, /proc, shell history).
var secretFlagNames = []string{"secret", "jwt-secret", "auth-jwt-secret"}

// tokenRequest is what `arqonbus token` mints.
type tokenRequest struct {
	sub, role, tenant, alg, secretFile string
	ttl                                time.Duration
}

func runToken(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if name, ok := secretInArgs(args); ok {
		return usageExit(stderr, "token", usagef("--%s is not accepted: a secret on the command line is visible to other users; set %s or %s, or use --secret-file", name, envAuthJWTSecret, envJWTSecret))
	}
	f := newClientFlags("token", "Mints one JWT and prints it on stdout. It talks to no server. The signing secret is the first of\n"+
		"--secret-file, "+envAuthJWTSecret+" and "+envJWTSecret+"; it is never taken from the command line.")
	req := tokenRequest{alg: auth.HS256, ttl: time.Hour}
	f.str(&req.sub, "sub", "", "", "", "SUBJECT", "sub claim (required)")
	f.str(&req.role, "role", "", "", "", "ROLE", "role claim, e.g. admin (default: no claim)")
	f.custom("tenant", "", func(s string) error {
		if !auth.ValidTenant(s) {
			return errors.New("must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
		}
		req.tenant = s
		return nil
	}, flagDoc{arg: "TENANT", usage: "tenant_id claim (default: no claim, the default tenant)"})
	f.custom("ttl", "", func(s string) error {
		d, err := parseDuration(s)
		if err == nil && d <= 0 {
			err = errors.New("must be greater than 0")
		}
		if err == nil && d > 100*365*24*time.Hour {
			err = errors.New("must be at most 100 years")
		}
		if err == nil {
			req.ttl = d
		}
		return err
	}, flagDoc{arg: "DURATION", def: "1h", usage: "Lifetime: exp = now + ttl (e.g. 30m, 24h, or a number of seconds)"})
	f.custom("alg", "", func(s string) error {
		a := strings.ToUpper(strings.TrimSpace(s))
		if a != auth.HS256 && a != auth.HS384 && a != auth.HS512 {
			return fmt.Errorf("invalid algorithm %q (expected one of HS256, HS384, HS512)", s)
		}
		req.alg = a
		return nil
	}, flagDoc{arg: "ALG", def: "HS256", usage: "HS256, HS384 or HS512; must equal the bus's ARQONBUS_AUTH_JWT_ALGORITHM"})
	f.str(&req.secretFile, "secret-file", "", "", "", "PATH", "Read the signing secret from this file (trailing whitespace removed)")
	help, err := f.parse(args)
	if code := finishParse(f, help, err, stdout, stderr); code >= 0 {
		return code
	}
	if strings.TrimSpace(req.sub) == "" {
		return usageExit(stderr, "token", errors.New("--sub is required"))
	}

	secret, err := signingSecret(req.secretFile)
	if err != nil {
		return failExit(stderr, "token: %v", err)
	}
	tok, err := mintToken(req, secret, time.Now())
	if err != nil {
		return failExit(stderr, "token: %v", err)
	}
	if _, err := io.WriteString(stdout, tok+"\n"); err != nil {
		return failExit(stderr, "token: write: %v", err)
	}
	return exitOK
}

// secretInArgs finds a --secret-like flag before flag parsing, so that the
// refusal does not depend on its position and never shows its value.
func secretInArgs(args []string) (string, bool) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name := strings.TrimLeft(a, "-")
		name, _, _ = strings.Cut(name, "=")
		for _, s := range secretFlagNames {
			if name == s {
				return s, true
			}
		}
	}
	return "", false
}

// signingSecret returns the HMAC key: --secret-file, else
// ARQONBUS_AUTH_JWT_SECRET, else JWT_SECRET (CLI.md §7).
func signingSecret(file string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("cannot read secret file: %v", err)
		}
		s := strings.TrimRight(string(b), " \t\r\n\v\f")
		if s == "" {
			return nil, fmt.Errorf("secret file %s is empty", file)
		}
		return []byte(s), nil
	}
	for _, name := range []string{envAuthJWTSecret, envJWTSecret} {
		if v, ok := envValue(name); ok {
			return []byte(v), nil
		}
	}
	return nil, fmt.Errorf("no signing secret (set %s or %s, or use --secret-file)", envAuthJWTSecret, envJWTSecret)
}

// mintToken signs the claims of CLI.md §7: sub, role and tenant_id when
// given, iat and exp as JSON integers.
func mintToken(req tokenRequest, secret []byte, now time.Time) (string, error) {
	claims := map[string]any{
		"sub": req.sub,
		"iat": now.Unix(),
		"exp": now.Add(req.ttl).Unix(),
	}
	if req.role != "" {
		claims["role"] = req.role
	}
	if req.tenant != "" {
		claims["tenant_id"] = req.tenant
	}
	return auth.Sign(req.alg, secret, claims)
}
