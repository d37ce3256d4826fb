package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodSecret = "k3Jd9s0aP1qZx8Lm2Nv7Bc4Tr6Yw5Eu0"

func writeKey(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBusRules(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPath := writeKey(t, &ecKey.PublicKey)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edPath := writeKey(t, edPub)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaPath := writeKey(t, &rsaKey.PublicKey)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	_ = os.WriteFile(garbage, []byte("hello"), 0o600)
	missing := filepath.Join(t.TempDir(), "missing.pem")

	const p = "Invalid configuration: "
	tests := []struct {
		name string
		env  []string
		want string
		vars []string // owner variables of the first error
	}{
		{"dev admin in dev", []string{"ARQONBUS_DEV_ADMIN=true"}, "", nil},
		{"dev admin in staging", []string{"ARQONBUS_ENVIRONMENT=staging", "ARQONBUS_DEV_ADMIN=true"},
			p + "ARQONBUS_DEV_ADMIN is only allowed in the development profile", []string{"ARQONBUS_DEV_ADMIN"}},
		{"dev admin false in prod", []string{"ARQONBUS_ENVIRONMENT=prod", "ARQONBUS_DEV_ADMIN=false"}, "", nil},
		{"strict memory", []string{"ARQONBUS_STORAGE_MODE=strict"},
			p + "Storage mode 'strict' requires Redis backend (redis or valkey)", []string{"ARQONBUS_STORAGE_BACKEND", "ARQONBUS_STORAGE_MODE"}},
		{"strict explicit memory with url", []string{"ARQONBUS_STORAGE_MODE=strict", "ARQONBUS_STORAGE_BACKEND=memory", "ARQONBUS_REDIS_URL=redis://h:1/0"},
			p + "Storage mode 'strict' requires Redis backend (redis or valkey)", nil},
		{"strict with host infers redis", []string{"ARQONBUS_STORAGE_MODE=strict", "ARQONBUS_VALKEY_HOST=cache"}, "", nil},
		{"auth secret required", []string{"ARQONBUS_ENABLE_AUTH=true"},
			p + "JWT secret is required when authentication is enabled", []string{"ARQONBUS_AUTH_JWT_SECRET", "ARQONBUS_ENABLE_AUTH"}},
		{"auth secret ok", []string{"ARQONBUS_ENABLE_AUTH=true", "ARQONBUS_AUTH_JWT_SECRET=x"}, "", nil},
		{"secret and key exclusive", []string{"ARQONBUS_AUTH_JWT_SECRET=x", "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE=" + ecPath},
			p + "ARQONBUS_AUTH_JWT_SECRET and ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE are mutually exclusive", nil},
		{"key required", []string{"ARQONBUS_ENABLE_AUTH=true", "ARQONBUS_AUTH_JWT_ALGORITHM=es256"},
			p + "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE is required for algorithm ES256", []string{"ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE", "ARQONBUS_AUTH_JWT_ALGORITHM"}},
		{"es256 ok", []string{"ARQONBUS_ENABLE_AUTH=true", "ARQONBUS_AUTH_JWT_ALGORITHM=ES256", "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE=" + ecPath}, "", nil},
		{"eddsa ok", []string{"ARQONBUS_ENABLE_AUTH=true", "ARQONBUS_AUTH_JWT_ALGORITHM=eddsa", "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE=" + edPath}, "", nil},
		{"rs256 ok", []string{"ARQONBUS_ENABLE_AUTH=true", "ARQONBUS_AUTH_JWT_ALGORITHM=RS256", "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE=" + rsaPath}, "", nil},
		{"key mismatch", []string{"ARQONBUS_ENABLE_AUTH=true", "ARQONBUS_AUTH_JWT_ALGORITHM=RS256", "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE=" + ecPath},
			p + "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE: key type ecdsa does not match algorithm RS256", nil},
		{"key missing file", []string{"ARQONBUS_AUTH_JWT_ALGORITHM=EdDSA", "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE=" + missing},
			p + `ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE: cannot read "` + missing + `": open ` + missing + `: no such file or directory`, nil},
		{"key garbage", []string{"ARQONBUS_AUTH_JWT_ALGORITHM=EdDSA", "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE=" + garbage},
			p + "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE: no PEM public key found", nil},
		{"listener conflict", []string{"ARQONBUS_HTTP_PORT=9100"},
			p + "ARQONBUS_HTTP_PORT conflicts with ARQONBUS_SERVER_PORT (both 127.0.0.1:9100)", []string{"ARQONBUS_HTTP_PORT", "ARQONBUS_SERVER_PORT"}},
		{"listener conflict wildcard", []string{"ARQONBUS_TELEMETRY_PORT=9100", "ARQONBUS_TELEMETRY_HOST=0.0.0.0"},
			p + "ARQONBUS_TELEMETRY_PORT conflicts with ARQONBUS_SERVER_PORT (both 0.0.0.0:9100)", nil},
		{"no conflict on other host", []string{"ARQONBUS_HTTP_PORT=9100", "ARQONBUS_HTTP_HOST=10.0.0.1"}, "", nil},
		{"no conflict when disabled", []string{"ARQONBUS_HTTP_PORT=9100", "ARQONBUS_HTTP_ENABLED=false"}, "", nil},
		{"no conflict on port 0", []string{"ARQONBUS_HTTP_PORT=0", "ARQONBUS_SERVER_PORT=0"}, "", nil},
		{"too many patterns", []string{"ARQONBUS_CASIL_MAX_PATTERNS=1", "ARQONBUS_CASIL_REDACTION_PATTERNS=a,b"},
			p + "ARQONBUS_CASIL_REDACTION_PATTERNS: 2 patterns exceed ARQONBUS_CASIL_MAX_PATTERNS (1)", nil},
		{"unlimited patterns", []string{"ARQONBUS_CASIL_MAX_PATTERNS=0", "ARQONBUS_CASIL_REDACTION_PATTERNS=a,b"}, "", nil},
		{"bus ignores shield secret", []string{"JWT_SECRET=changeme", "JWT_SKIP_VALIDATION=1", "ARQONBUS_ENVIRONMENT=production"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(CommandServe, nil, tt.env)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if tt.vars != nil {
				var errs *Errors
				errors.As(err, &errs)
				if strings.Join(errs.List[0].Vars, ",") != strings.Join(tt.vars, ",") {
					t.Errorf("vars %v, want %v", errs.List[0].Vars, tt.vars)
				}
			}
		})
	}
}

func TestPublicKeyIsLoaded(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := mustLoad(t, CommandServe, nil, "ARQONBUS_ENABLE_AUTH=true", "ARQONBUS_AUTH_JWT_ALGORITHM=ES256",
		"ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE="+writeKey(t, &ecKey.PublicKey))
	if k, ok := c.Bus.AuthJWTPublicKey.(*ecdsa.PublicKey); !ok || !k.Equal(&ecKey.PublicKey) {
		t.Errorf("key %T", c.Bus.AuthJWTPublicKey)
	}
}

func TestProfileDefaults(t *testing.T) {
	for _, tt := range []struct {
		env, profile, format string
		private              bool
	}{
		{"", "development", "text", true},
		{"DEV", "development", "text", true},
		{"staging", "staging", "json", false},
		{"prod", "production", "json", false},
	} {
		env := []string{}
		if tt.env != "" {
			env = append(env, "ARQONBUS_ENVIRONMENT="+tt.env)
		}
		c := mustLoad(t, CommandServe, nil, env...)
		if c.Profile != tt.profile || c.LogFormat != tt.format || c.Bus.WebhookAllowPrivateNetworks != tt.private {
			t.Errorf("%q: profile %s format %s private %v", tt.env, c.Profile, c.LogFormat, c.Bus.WebhookAllowPrivateNetworks)
		}
	}
	c := mustLoad(t, CommandServe, nil, "ARQONBUS_ENVIRONMENT=production", "ARQONBUS_LOG_FORMAT=TEXT", "ARQONBUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS=yes")
	if c.LogFormat != "text" || !c.Bus.WebhookAllowPrivateNetworks {
		t.Errorf("explicit values must beat profile defaults: %s %v", c.LogFormat, c.Bus.WebhookAllowPrivateNetworks)
	}
	if c.SlogLevel().String() != "INFO" {
		t.Error(c.SlogLevel())
	}
}

func TestStorageBackendSelection(t *testing.T) {
	for _, tt := range []struct {
		env  []string
		want string
		url  string
	}{
		{nil, "memory", "redis://localhost:6379/0"},
		{[]string{"ARQONBUS_REDIS_HOST=cache", "ARQONBUS_REDIS_SSL=on", "ARQONBUS_REDIS_DB=3", "ARQONBUS_REDIS_PASSWORD=p@ss:word"}, "redis",
			"rediss://:p%40ss%3Aword@cache:6379/3"},
		{[]string{"ARQONBUS_REDIS_URL=rediss://u:pw@r:6380/1"}, "redis", "rediss://u:pw@r:6380/1"},
		{[]string{"ARQONBUS_REDIS_URL=redis://r:1/0", "ARQONBUS_STORAGE_BACKEND=valkey_streams"}, "valkey", "redis://r:1/0"},
		{[]string{"ARQONBUS_REDIS_HOST=::1"}, "redis", "redis://[::1]:6379/0"},
	} {
		c := mustLoad(t, CommandServe, nil, tt.env...)
		if c.Bus.StorageBackend != tt.want || c.Bus.RedisURL != tt.url {
			t.Errorf("%v: backend %s url %s", tt.env, c.Bus.StorageBackend, c.Bus.RedisURL)
		}
		if strings.Contains(c.Bus.RedisURLRedacted, "pw") || strings.Contains(c.Bus.RedisURLRedacted, "p%40ss") {
			t.Errorf("redacted URL leaks: %s", c.Bus.RedisURLRedacted)
		}
	}
}

func TestShieldRules(t *testing.T) {
	const p = "Invalid configuration: "
	tests := []struct {
		name string
		env  []string
		want string
		rule Rule
	}{
		{"secret required", nil, p + "JWT_SECRET must be configured for Shield startup", RuleRequired},
		{"blank secret", []string{"JWT_SECRET=   "}, p + "JWT_SECRET must be configured for Shield startup", RuleRequired},
		{"known default in dev", []string{"JWT_SECRET= ChangeMe "}, p + "JWT_SECRET is a known default value; configure a unique secret", RuleKnownDefault},
		{"short in dev ok", []string{"JWT_SECRET=short-but-fine"}, "", ""},
		{"short in staging", []string{"ARQONBUS_ENVIRONMENT=staging", "JWT_SECRET=short-but-not-fine"},
			p + "JWT_SECRET must be at least 32 bytes in staging/production (got 18)", RuleWeakSecret},
		{"repeated in prod", []string{"ARQONBUS_ENVIRONMENT=prod", "JWT_SECRET=" + strings.Repeat("a", 40)},
			p + "JWT_SECRET must not be a single repeated character in staging/production", RuleWeakSecret},
		{"default and short in prod", []string{"ARQONBUS_ENVIRONMENT=production", "JWT_SECRET=dev-secret"},
			p + "JWT_SECRET is a known default value; configure a unique secret; JWT_SECRET must be at least 32 bytes in staging/production (got 10)", RuleKnownDefault},
		{"skip in dev", []string{"JWT_SECRET=x", "JWT_SKIP_VALIDATION="}, "", ""},
		{"skip bad bool in dev", []string{"JWT_SECRET=x", "JWT_SKIP_VALIDATION=sure"},
			p + `JWT_SKIP_VALIDATION: invalid boolean "sure" (expected one of true, false, 1, 0, yes, no, on, off)`, RuleValue},
		{"skip false in prod", []string{"ARQONBUS_ENVIRONMENT=production", "JWT_SECRET=" + goodSecret, "JWT_SKIP_VALIDATION=false"},
			p + "JWT_SKIP_VALIDATION is not allowed in staging/production", RuleProfile},
		{"skip empty in staging", []string{"ARQONBUS_ENVIRONMENT=staging", "JWT_SECRET=" + goodSecret, "JWT_SKIP_VALIDATION="},
			p + "JWT_SKIP_VALIDATION is not allowed in staging/production", RuleProfile},
		{"schema strict bad", []string{"JWT_SECRET=x", "ARQON_SCHEMA_STRICT=strict"},
			p + `ARQON_SCHEMA_STRICT: invalid boolean "strict" (expected one of true, false, 1, 0, yes, no, on, off)`, RuleValue},
		{"ports conflict", []string{"JWT_SECRET=x", "ARQON_SHIELD_METRICS_PORT=4000"},
			p + "ARQON_SHIELD_METRICS_PORT conflicts with ARQON_SHIELD_PORT (both 4000)", RuleConflict},
		{"ports zero", []string{"JWT_SECRET=x", "ARQON_SHIELD_METRICS_PORT=0", "ARQON_SHIELD_PORT=0"}, "", ""},
		{"nats url bad", []string{"JWT_SECRET=x", "NATS_URL=nats://a:4222,http://b"}, p + "NATS_URL: invalid URL (scheme must be nats or tls)", RuleValue},
		{"creds unreadable", []string{"JWT_SECRET=x", "ARQON_SHIELD_NATS_CREDS=/nonexistent/x.creds"},
			p + `ARQON_SHIELD_NATS_CREDS: cannot read "/nonexistent/x.creds": open /nonexistent/x.creds: no such file or directory`, RuleValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(CommandShield, nil, tt.env)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if tt.rule != "" {
				var errs *Errors
				errors.As(err, &errs)
				if errs.List[0].Rule != tt.rule {
					t.Errorf("rule %s, want %s", errs.List[0].Rule, tt.rule)
				}
			}
		})
	}
}

func TestShieldValues(t *testing.T) {
	c := mustLoad(t, CommandShield, []string{"--policy-memory-limit=70000", "--nats-url", "nats://a:1, tls://b:2"}, "JWT_SECRET=x", "JWT_SKIP_VALIDATION=false")
	s := c.Shield
	if s.PolicyMemoryLimit != 131072 {
		t.Errorf("memory limit %d, want rounded up to 131072", s.PolicyMemoryLimit)
	}
	if !s.SchemaStrict || s.JWTLeeway.String() != "5s" || s.Port != 4000 || s.MetricsPort != 9090 || !s.ReturnPath {
		t.Errorf("defaults %+v", s)
	}
	if !s.SkipValidation.Present || s.SkipValidation.Value {
		t.Errorf("skip %+v", s.SkipValidation)
	}
	if strings.Join(s.NATSURLs, "|") != "nats://a:1|tls://b:2" {
		t.Errorf("nats %q", s.NATSURLs)
	}
	c = mustLoad(t, CommandShield, nil, "JWT_SECRET=x", "ARQON_SCHEMA_STRICT= ")
	if !c.Shield.SchemaStrict || c.Shield.SkipValidation.Present {
		t.Error("empty ARQON_SCHEMA_STRICT means true; absent JWT_SKIP_VALIDATION is not present")
	}
	if _, err := Load(CommandShield, []string{"--jwt-skip-validation"}, []string{"JWT_SECRET=x"}); err == nil {
		t.Error("JWT_SKIP_VALIDATION must have no flag")
	}
}

// TestRegressionCollectsAllErrors pins an upstream defect (OPERATIONS.md
// §12): int("abc") crashed config loading. One parser now reads every value
// and all problems are reported together, without a panic.
func TestRegressionCollectsAllErrors(t *testing.T) {
	got := loadErr(t, CommandServe, nil, "ARQONBUS_SERVER_PORT=abc", "ARQONBUS_RATE_LIMIT_BURST=0",
		"ARQONBUS_STORAGE_MODE=strict", "ARQONBUS_ENVIRONMENT=staging", "ARQONBUS_DEV_ADMIN=1")
	want := `Invalid configuration: ARQONBUS_SERVER_PORT: invalid integer "abc"; ARQONBUS_RATE_LIMIT_BURST: must be >= 1 (got 0); ` +
		`ARQONBUS_DEV_ADMIN is only allowed in the development profile; Storage mode 'strict' requires Redis backend (redis or valkey)`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestDev(t *testing.T) {
	c := mustLoad(t, CommandDev, nil)
	if !c.Bus.EnableAuth || !c.Dev.GeneratedSecret || !c.Dev.GeneratedAdminAPIKey || c.Dev.ExternalNATS {
		t.Errorf("dev defaults %+v auth %v", c.Dev, c.Bus.EnableAuth)
	}
	if len(c.Shield.JWTSecret) != 64 || c.Shield.JWTSecret != c.Bus.AuthJWTSecret || len(c.Bus.AdminAPIKey) != 64 {
		t.Errorf("generated secret %d %v", len(c.Shield.JWTSecret), c.Shield.JWTSecret == c.Bus.AuthJWTSecret)
	}
	if c2 := mustLoad(t, CommandDev, nil); c2.Shield.JWTSecret == c.Shield.JWTSecret {
		t.Error("dev must generate a new secret per run")
	}
	c = mustLoad(t, CommandDev, nil, "ARQONBUS_AUTH_JWT_SECRET=bus-only-secret")
	if c.Shield.JWTSecret != "bus-only-secret" || c.Dev.GeneratedSecret {
		t.Errorf("one secret must be shared: %v", c.Dev)
	}
	c = mustLoad(t, CommandDev, []string{"--jwt-secret=shield-s", "--auth-jwt-secret=bus-s"})
	if c.Shield.JWTSecret != "shield-s" || c.Bus.AuthJWTSecret != "bus-s" {
		t.Error("two secrets stay apart")
	}
	c = mustLoad(t, CommandDev, []string{"--shield-port=0", "--shield-metrics-port", "0", "--redis", "redis://h:1/0",
		"--nats", "nats://n:4222", "--no-shield", "--nats-port=4333", "--enable-auth=false"})
	if c.Shield.Port != 0 || c.Bus.StorageBackend != "redis" || c.Bus.RedisURL != "redis://h:1/0" || !c.Dev.ExternalNATS ||
		!c.Dev.NoShield || c.Dev.NATSPort != 4333 || c.Bus.EnableAuth {
		t.Errorf("dev flags: %+v %+v", c.Dev, c.Bus)
	}
	if got := loadErr(t, CommandDev, nil, "ARQONBUS_ENVIRONMENT=staging"); got != "Invalid configuration: dev runs only in the development profile" {
		t.Error(got)
	}
	if got := loadErr(t, CommandDev, nil, "JWT_SECRET=changeme"); got != "Invalid configuration: JWT_SECRET is a known default value; configure a unique secret" {
		t.Error(got)
	}
	if got := loadErr(t, CommandDev, nil, "ARQON_SHIELD_PORT=9100"); got != "Invalid configuration: ARQON_SHIELD_PORT conflicts with ARQONBUS_SERVER_PORT (both 127.0.0.1:9100)" {
		t.Error(got)
	}
	if got := loadErr(t, CommandDev, nil, "ARQONBUS_NATS_URL=nats://x:1"); got != "Invalid configuration: ARQONBUS_NATS_URL: multi-node mode is not available in this build" {
		t.Error(got)
	}
	if _, err := Load(CommandDev, []string{"--max-connections=5", "--shield-max-connections=6"}, nil); err != nil {
		t.Error(err)
	}
}

func TestPreflight(t *testing.T) {
	c := mustLoad(t, CommandPreflight, nil, "JWT_SECRET="+goodSecret)
	if c.Profile != ProfileProduction || c.LogFormat != "json" {
		t.Errorf("preflight defaults to production: %s", c.Profile)
	}
	c = mustLoad(t, CommandPreflight, []string{"--profile=dev", "--nats-url=nats://n:1", "--incident-dir=/tmp/inc"}, "ARQONBUS_ENVIRONMENT=production", "JWT_SECRET=x")
	if c.Profile != ProfileDevelopment || c.Shield.NATSURLs[0] != "nats://n:1" || c.PreflightIncidentDir != "/tmp/inc" || !c.Explicit["NATS_URL"] {
		t.Errorf("preflight flags: %+v", c)
	}
	_, err := Load(CommandPreflight, nil, []string{"ARQONBUS_STORAGE_MODE=strict", "JWT_SKIP_VALIDATION=1", "ARQONBUS_SERVER_PORT=x"})
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatal(err)
	}
	owners := map[string]bool{}
	for _, fe := range errs.List {
		owners[fe.Vars[0]] = true
	}
	for _, v := range []string{"ARQONBUS_STORAGE_BACKEND", "JWT_SKIP_VALIDATION", "JWT_SECRET", "ARQONBUS_SERVER_PORT"} {
		if !owners[v] {
			t.Errorf("preflight must see the problem owned by %s: %v", v, errs)
		}
	}
	if _, err := Load(CommandPreflight, []string{"--server-port=1"}, nil); err == nil {
		t.Error("preflight has no --server-port")
	}
	fs := flagSetFor(CommandPreflight)
	fs.Bool("runtime", false, "")
	f := BindFlags(CommandPreflight, fs)
	if err := fs.Parse([]string{"--runtime", "--profile", "staging"}); err != nil {
		t.Fatal(err)
	}
	c, err = LoadFlags(f, []string{"JWT_SECRET=" + goodSecret})
	if err != nil || c.Profile != ProfileStaging {
		t.Errorf("LoadFlags: %v %v", c, err)
	}
}
