package preflight

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/redact"
)

// rules is what the configuration checks evaluate against.
type rules struct {
	cfg *config.Config
	// prod applies the staging/production rules ("prod" in §3).
	prod bool
	// production is the production profile itself (some checks warn only there).
	production bool
	// owned maps a check ID to the loader's problems it owns (§3.6).
	owned map[string][]string
	// unowned are the loader's problems no check owns (pre.config).
	unowned []string
	// secret is the real JWT_SECRET, even when the loader refused it.
	secret string
}

// ownerOf maps a configuration problem to its check (PREFLIGHT.md §3.6).
func ownerOf(fe config.FieldError) string {
	if len(fe.Vars) == 0 {
		return IDConfig
	}
	v := fe.Vars[0]
	switch {
	case v == "ARQONBUS_SERVER_HOST":
		return IDServerHost
	case v == "ARQONBUS_SERVER_PORT":
		return IDServerPort
	case v == "ARQONBUS_STORAGE_MODE":
		return IDStorageMode
	case v == "ARQONBUS_STORAGE_BACKEND", strings.HasPrefix(v, "ARQONBUS_REDIS_"), strings.HasPrefix(v, "ARQONBUS_VALKEY_"):
		return IDRedisURL
	case v == "ARQONBUS_TELEMETRY_ENABLED", v == "ARQONBUS_ENABLE_TELEMETRY", v == "ARQONBUS_TELEMETRY_HOST", v == "ARQONBUS_TELEMETRY_PORT":
		return IDTelemetry
	case v == "ARQONBUS_ENABLE_AUTH", strings.HasPrefix(v, "ARQONBUS_AUTH_JWT_"), v == "ARQONBUS_DEV_ADMIN":
		return IDBusAuth
	case v == "ARQONBUS_ADMIN_API_KEY":
		return IDAdminAPIKey
	case v == "JWT_SECRET":
		switch fe.Rule {
		case config.RuleKnownDefault:
			return IDJWTDefault
		case config.RuleWeakSecret:
			return IDJWTStrength
		}
		return IDJWTSecret
	case v == "JWT_SKIP_VALIDATION":
		return IDSkipValid
	case v == "NATS_URL", v == "ARQON_SHIELD_NATS_CREDS":
		return IDNATSURL
	case v == "ARQON_SCHEMA_STRICT":
		return IDSchemaStrict
	case v == "POLICY_WASM_PATH":
		return IDPolicy
	case strings.HasPrefix(v, "ARQONBUS_OLLAMA_"):
		return IDOllama
	}
	return IDConfig
}

func newRules(l *loaded) *rules {
	r := &rules{cfg: l.cfg, owned: map[string][]string{}}
	r.prod = l.cfg.IsProd()
	r.production = l.cfg.Profile == config.ProfileProduction
	for _, fe := range l.problems {
		id := ownerOf(fe)
		if id == IDConfig {
			r.unowned = append(r.unowned, fe.Message)
		} else {
			r.owned[id] = append(r.owned[id], fe.Message)
		}
	}
	r.secret = l.cfg.Shield.JWTSecret
	if l.secretReplaced {
		r.secret = l.rawSecret
	}
	return r
}

func ok(detail string) Result   { return Result{Status: StatusOK, Detail: detail} }
func skip(detail string) Result { return Result{Status: StatusSkip, Detail: detail} }
func warn(detail, fix string) Result {
	return Result{Status: StatusWarn, Detail: detail, Fix: fix}
}
func fail(detail, fix string) Result {
	return Result{Status: StatusFail, Detail: detail, Fix: fix}
}
func failAlways(detail, fix string) Result {
	return Result{Status: StatusFail, Detail: detail, Fix: fix, always: true}
}

func missing(name string) string {
	return "Missing required environment variable in strict preflight: " + name
}

func (r *rules) explicit(name string) bool { return r.cfg.Explicit[name] }

// configCheck evaluates one configuration check; owned loader problems win.
func (r *rules) configCheck(id string) Result {
	if msgs := r.owned[id]; len(msgs) > 0 {
		return failAlways(strings.Join(msgs, "; "), ownedFix(id))
	}
	switch id {
	case IDConfig:
		if len(r.unowned) > 0 {
			return failAlways("configuration invalid: "+strings.Join(r.unowned, "; "),
				"correct the variables named above (docs/configuration.md lists every variable and its type)")
		}
		return ok("configuration valid")
	case IDServerHost:
		return r.serverHost()
	case IDServerPort:
		return r.serverPort()
	case IDStorageMode:
		return r.storageMode()
	case IDRedisURL:
		return r.redisURL()
	case IDTelemetry:
		return r.telemetry()
	case IDBusAuth:
		return r.busAuth()
	case IDAdminAPIKey:
		return r.adminAPIKey()
	case IDJWTSecret:
		if strings.TrimSpace(r.secret) == "" {
			return failAlways("JWT_SECRET is not set", "set JWT_SECRET to a random value of at least 32 bytes")
		}
		return ok("JWT_SECRET " + redact.Summary(r.secret))
	case IDJWTDefault:
		if strings.TrimSpace(r.secret) == "" {
			return skip("JWT_SECRET is not set")
		}
		if config.IsKnownDefaultSecret(r.secret) {
			return failAlways("JWT_SECRET is a known default value", "set JWT_SECRET to a unique random value of at least 32 bytes")
		}
		return ok("not a known default value")
	case IDJWTStrength:
		return r.secretStrength()
	case IDSkipValid:
		return r.skipValidation()
	case IDNATSURL:
		return r.natsURL()
	case IDSchemaStrict:
		return r.schemaStrict()
	}
	panic("preflight: not a configuration check: " + id)
}

func ownedFix(id string) string {
	switch id {
	case IDServerPort, IDTelemetry:
		return "use an integer port between 0 and 65535 (docs/configuration.md)"
	case IDRedisURL:
		return "set ARQONBUS_REDIS_URL=redis://host:6379/0 (scheme redis or rediss) and a redis or valkey backend"
	case IDBusAuth:
		return "match the key material to ARQONBUS_AUTH_JWT_ALGORITHM (secret for HS*, public key file otherwise) and unset ARQONBUS_DEV_ADMIN outside development"
	case IDJWTSecret, IDJWTDefault, IDJWTStrength:
		return "set JWT_SECRET to a unique random value of at least 32 bytes, e.g. $(openssl rand -hex 32)"
	case IDSkipValid:
		return "remove JWT_SKIP_VALIDATION from the environment"
	case IDNATSURL:
		return "set NATS_URL=nats://host:4222 (schemes nats or tls) and a readable ARQON_SHIELD_NATS_CREDS"
	}
	return "correct the value named above (docs/configuration.md lists every variable and its type)"
}

func (r *rules) serverHost() Result {
	if !r.explicit("ARQONBUS_SERVER_HOST") {
		res := fail("ARQONBUS_SERVER_HOST is not set", "set ARQONBUS_SERVER_HOST explicitly, e.g. ARQONBUS_SERVER_HOST=0.0.0.0")
		res.startup = missing("ARQONBUS_SERVER_HOST")
		return res
	}
	return ok("ARQONBUS_SERVER_HOST=" + r.cfg.Bus.ServerHost)
}

func (r *rules) serverPort() Result {
	if !r.explicit("ARQONBUS_SERVER_PORT") {
		res := fail("ARQONBUS_SERVER_PORT is not set", "set ARQONBUS_SERVER_PORT explicitly, e.g. ARQONBUS_SERVER_PORT=9100")
		res.startup = missing("ARQONBUS_SERVER_PORT")
		return res
	}
	if r.cfg.Bus.ServerPort == 0 {
		return warn("ARQONBUS_SERVER_PORT=0: ephemeral port", "set a fixed port so that clients and probes can find the bus")
	}
	return ok("ARQONBUS_SERVER_PORT=" + strconv.Itoa(r.cfg.Bus.ServerPort))
}

func (r *rules) storageMode() Result {
	if !r.explicit("ARQONBUS_STORAGE_MODE") {
		res := fail("ARQONBUS_STORAGE_MODE is not set", "set ARQONBUS_STORAGE_MODE=strict (recommended for production) or degraded")
		res.startup = missing("ARQONBUS_STORAGE_MODE")
		return res
	}
	if r.cfg.Bus.StorageMode == "degraded" && r.production {
		return warn("ARQONBUS_STORAGE_MODE=degraded: strict recommended", "set ARQONBUS_STORAGE_MODE=strict with a reachable Redis/Valkey")
	}
	return ok("ARQONBUS_STORAGE_MODE=" + r.cfg.Bus.StorageMode)
}

func (r *rules) hasRedisAddress() bool {
	return r.explicit("ARQONBUS_REDIS_URL") || r.explicit("ARQONBUS_REDIS_HOST")
}

func (r *rules) redisURL() Result {
	b := r.cfg.Bus
	if b.StorageMode != "strict" {
		if b.StorageBackend == "memory" {
			return ok("storage mode " + b.StorageMode + ", backend memory")
		}
		return ok("storage mode " + b.StorageMode + ", backend " + b.StorageBackend + " at " + b.RedisURLRedacted)
	}
	fix := "set ARQONBUS_REDIS_URL=redis://host:6379/0 (or ARQONBUS_REDIS_HOST) and ARQONBUS_STORAGE_BACKEND=redis"
	if b.StorageBackend == "memory" {
		return failAlways("Storage mode 'strict' requires Redis backend (redis or valkey)", fix)
	}
	if !r.hasRedisAddress() {
		return failAlways("Storage mode 'strict' requires ARQONBUS_REDIS_URL or ARQONBUS_REDIS_HOST", fix)
	}
	return ok("strict, backend " + b.StorageBackend + " at " + b.RedisURLRedacted)
}

func (r *rules) telemetry() Result {
	b := r.cfg.Bus
	if !b.TelemetryEnabled {
		return skip("telemetry disabled (ARQONBUS_TELEMETRY_ENABLED=false)")
	}
	var unset []string
	for _, n := range []string{"ARQONBUS_TELEMETRY_HOST", "ARQONBUS_TELEMETRY_PORT"} {
		if !r.explicit(n) {
			unset = append(unset, n)
		}
	}
	if len(unset) > 0 {
		res := fail(strings.Join(unset, " and ")+" not set",
			"set ARQONBUS_TELEMETRY_HOST and ARQONBUS_TELEMETRY_PORT explicitly, e.g. 127.0.0.1 and 8081")
		var msgs []string
		for _, n := range unset {
			msgs = append(msgs, missing(n))
		}
		res.startup = strings.Join(msgs, "; ")
		return res
	}
	addr := net.JoinHostPort(b.TelemetryHost, strconv.Itoa(b.TelemetryPort))
	if b.TelemetryPort == 0 {
		return warn("telemetry at "+addr+": ephemeral port", "set a fixed ARQONBUS_TELEMETRY_PORT so that dashboards can connect")
	}
	return ok("telemetry at " + addr)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (r *rules) busAuth() Result {
	b := r.cfg.Bus
	if !b.EnableAuth {
		if !r.prod {
			return ok("authentication off (allowed in development)")
		}
		fix := "set ARQONBUS_ENABLE_AUTH=true and ARQONBUS_AUTH_JWT_SECRET to a random value of at least 32 bytes"
		if isLoopback(b.ServerHost) {
			return warn("authentication off (ARQONBUS_ENABLE_AUTH=false) on loopback host "+b.ServerHost, fix)
		}
		return fail("authentication off (ARQONBUS_ENABLE_AUTH=false) on host "+b.ServerHost, fix)
	}
	alg := b.AuthJWTAlgorithm
	if strings.HasPrefix(alg, "HS") {
		s := b.AuthJWTSecret
		fix := "set ARQONBUS_AUTH_JWT_SECRET to a unique random value of at least 32 bytes, e.g. $(openssl rand -hex 32)"
		if config.IsKnownDefaultSecret(s) {
			return fail("ARQONBUS_AUTH_JWT_SECRET is a known default value", fix)
		}
		if r.prod && len(s) < 32 {
			return fail(fmt.Sprintf("ARQONBUS_AUTH_JWT_SECRET is shorter than 32 bytes (got %d)", len(s)), fix)
		}
		return ok("authentication on, " + alg + ", ARQONBUS_AUTH_JWT_SECRET " + redact.Summary(s))
	}
	return ok("authentication on, " + alg + ", public key " + b.AuthJWTPublicKeyFile)
}

func (r *rules) adminAPIKey() Result {
	k := r.cfg.Bus.AdminAPIKey
	if k == "" {
		if r.prod {
			return warn("ARQONBUS_ADMIN_API_KEY is not set: the admin API is disabled (403)",
				"set ARQONBUS_ADMIN_API_KEY to a random value to enable /admin/*")
		}
		return ok("ARQONBUS_ADMIN_API_KEY <unset>: admin API disabled")
	}
	return ok("ARQONBUS_ADMIN_API_KEY " + redact.Summary(k))
}

func (r *rules) secretStrength() Result {
	s := strings.TrimSpace(r.secret)
	if s == "" {
		return skip("JWT_SECRET is not set")
	}
	fix := "set JWT_SECRET to a random value of at least 32 bytes, e.g. $(openssl rand -hex 32)"
	if len(s) < 32 {
		res := fail(fmt.Sprintf("JWT_SECRET must be at least 32 bytes in staging/production (got %d)", len(s)), fix)
		if !r.prod {
			res = warn(fmt.Sprintf("JWT_SECRET is shorter than 32 bytes (got %d)", len(s)), fix)
		}
		return res
	}
	if strings.Count(s, s[:1]) == len(s) {
		if !r.prod {
			return warn("JWT_SECRET is a single repeated character", fix)
		}
		return fail("JWT_SECRET must not be a single repeated character in staging/production", fix)
	}
	return ok(fmt.Sprintf("JWT_SECRET %s, not a repeated character", redact.Summary(s)))
}

func (r *rules) skipValidation() Result {
	if !r.cfg.Shield.SkipValidation.Present {
		return ok("JWT_SKIP_VALIDATION not present")
	}
	fix := "remove JWT_SKIP_VALIDATION from the environment (any value, even empty or false, counts)"
	if r.prod {
		res := fail("JWT_SKIP_VALIDATION is present in the "+r.cfg.Profile+" environment", fix)
		res.always = r.production
		return res
	}
	return warn("JWT_SKIP_VALIDATION is present (development only)", fix)
}

func (r *rules) natsURL() Result {
	var shown []string
	for _, u := range r.cfg.Shield.NATSURLs {
		shown = append(shown, redact.URL(u))
	}
	if !r.explicit("NATS_URL") {
		return fail("NATS_URL is not set (default "+strings.Join(shown, ",")+")",
			"set NATS_URL=nats://host:4222 (or --nats-url)")
	}
	return ok("NATS_URL=" + strings.Join(shown, ","))
}

func (r *rules) schemaStrict() Result {
	s := r.cfg.Shield
	if s.SchemaStrict {
		return ok("ARQON_SCHEMA_STRICT=true")
	}
	if s.SchemaStrictException != "" {
		return warn("ARQON_SCHEMA_STRICT=false under approved exception "+s.SchemaStrictException,
			"restore ARQON_SCHEMA_STRICT=true when exception "+s.SchemaStrictException+" expires")
	}
	return fail("ARQON_SCHEMA_STRICT=false without an approved exception",
		"set ARQON_SCHEMA_STRICT=true, or record the approval as ARQON_SCHEMA_STRICT_EXCEPTION=<ticket id>")
}
