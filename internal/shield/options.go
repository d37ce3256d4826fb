package shield

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/config"
)

// Profiles (OPERATIONS.md §3), canonical forms: the configuration
// package's, so Options.Profile takes config.Config.Profile as is.
const (
	ProfileDevelopment = config.ProfileDevelopment
	ProfileStaging     = config.ProfileStaging
	ProfileProduction  = config.ProfileProduction
)

// Options is the typed Shield configuration: one field per variable of
// SHIELD.md §3.2. The config loader parses the environment and flags into
// it; DefaultOptions gives the defaults.
type Options struct {
	Profile string // ARQONBUS_ENVIRONMENT, canonical form

	JWTSecret string // JWT_SECRET, raw UTF-8 bytes are the HMAC key
	// SkipValidationSet reports that JWT_SKIP_VALIDATION is present in the
	// environment with any value (SHIELD.md §3.3); SkipValidation is that
	// value resolved as a boolean (empty means true). Skip mode is refused
	// outside development and still enforces every claim rule.
	SkipValidationSet bool
	SkipValidation    bool

	NATSURL   string // NATS_URL, comma-separated
	NATSCreds string // ARQON_SHIELD_NATS_CREDS

	SchemaStrict bool   // ARQON_SCHEMA_STRICT
	SchemaDir    string // ARQON_SCHEMA_DIR
	PolicyPath   string // POLICY_WASM_PATH

	Host            string   // ARQON_SHIELD_HOST
	Port            int      // ARQON_SHIELD_PORT, 0 = any free port
	MetricsPort     int      // ARQON_SHIELD_METRICS_PORT, 0 = any free port
	AllowQueryToken bool     // ARQON_SHIELD_ALLOW_QUERY_TOKEN
	AllowedOrigins  []string // ARQON_SHIELD_ALLOWED_ORIGINS; empty = any

	JWTLeeway   time.Duration // ARQON_SHIELD_JWT_LEEWAY
	JWTAudience string        // ARQON_SHIELD_JWT_AUDIENCE
	JWTIssuer   string        // ARQON_SHIELD_JWT_ISSUER

	MaxMessageSize         int64   // ARQON_SHIELD_MAX_MESSAGE_SIZE
	MaxConnections         int     // ARQON_SHIELD_MAX_CONNECTIONS
	RateLimitPerSecond     float64 // ARQON_SHIELD_RATE_LIMIT_PER_SECOND, 0 = off
	RateLimitBurst         int     // ARQON_SHIELD_RATE_LIMIT_BURST
	RateLimitMaxViolations int     // ARQON_SHIELD_RATE_LIMIT_MAX_VIOLATIONS, 0 = never close
	MaxViolations          int     // ARQON_SHIELD_MAX_VIOLATIONS, 0 = never close
	SendQueueSize          int     // ARQON_SHIELD_SEND_QUEUE_SIZE

	PingInterval time.Duration // ARQON_SHIELD_PING_INTERVAL
	PingTimeout  time.Duration // ARQON_SHIELD_PING_TIMEOUT

	PolicyTimeout     time.Duration // ARQON_SHIELD_POLICY_TIMEOUT
	PolicyMemoryLimit int64         // ARQON_SHIELD_POLICY_MEMORY_LIMIT, bytes

	JetStream      bool          // ARQON_SHIELD_JETSTREAM
	PublishTimeout time.Duration // ARQON_SHIELD_PUBLISH_TIMEOUT
	ReturnPath     bool          // ARQON_SHIELD_RETURN_PATH
	Welcome        bool          // ARQON_SHIELD_WELCOME

	MirrorRules     []MirrorRule  // ARQON_SHIELD_MIRROR_RULES (config.ParseMirrorRules)
	ShutdownTimeout time.Duration // ARQON_SHIELD_SHUTDOWN_TIMEOUT
}

// DefaultOptions returns the defaults of SHIELD.md §3.2. JWTSecret has no
// default and must be set.
func DefaultOptions() Options {
	return Options{
		Profile:                ProfileDevelopment,
		NATSURL:                "nats://127.0.0.1:4222",
		SchemaStrict:           true,
		Host:                   "127.0.0.1",
		Port:                   4000,
		MetricsPort:            9090,
		JWTLeeway:              5 * time.Second,
		MaxMessageSize:         1048576,
		MaxConnections:         10000,
		RateLimitPerSecond:     100,
		RateLimitBurst:         200,
		RateLimitMaxViolations: 20,
		MaxViolations:          10,
		SendQueueSize:          1024,
		PingInterval:           20 * time.Second,
		PingTimeout:            10 * time.Second,
		PolicyTimeout:          50 * time.Millisecond,
		PolicyMemoryLimit:      16777216,
		PublishTimeout:         5 * time.Second,
		ReturnPath:             true,
		MirrorRules:            config.DefaultMirrorRules(),
		ShutdownTimeout:        10 * time.Second,
	}
}

// SecretErrors returns the §3.3 messages about JWT_SECRET for a profile.
// The known-default list is the configuration package's (SHIELD.md §3.4:
// one list, shared with the preflight).
func SecretErrors(secret, profile string) []string {
	if strings.TrimSpace(secret) == "" {
		return []string{"JWT_SECRET must be configured for Shield startup"}
	}
	var errs []string
	if config.IsKnownDefaultSecret(secret) {
		errs = append(errs, "JWT_SECRET is a known default value; configure a unique secret")
	}
	if profile == ProfileStaging || profile == ProfileProduction {
		if len(secret) < 32 {
			errs = append(errs, fmt.Sprintf("JWT_SECRET must be at least 32 bytes in staging/production (got %d)", len(secret)))
		}
		if strings.Count(secret, secret[:1]) == len(secret) {
			errs = append(errs, "JWT_SECRET must not be a single repeated character in staging/production")
		}
	}
	return errs
}

// Validate checks the typed rules of SHIELD.md §3.3 that do not depend on
// how the values were written (the loader owns boolean parsing and
// JWT_SKIP_VALIDATION presence). It returns the exact messages, in order.
func (o *Options) Validate() []string {
	errs := SecretErrors(o.JWTSecret, o.Profile)
	if (o.SkipValidationSet || o.SkipValidation) && o.Profile != ProfileDevelopment {
		errs = append(errs, "JWT_SKIP_VALIDATION is not allowed in staging/production")
	}
	if o.Port != 0 && o.Port == o.MetricsPort {
		errs = append(errs, fmt.Sprintf("ARQON_SHIELD_METRICS_PORT conflicts with ARQON_SHIELD_PORT (both %d)", o.Port))
	}
	return errs
}

// logAttrs are the effective non-secret settings for `configuration loaded`.
func (o *Options) logAttrs() []any {
	set := func(s string) string {
		if s == "" {
			return "unset"
		}
		return "set"
	}
	rules := make([]string, len(o.MirrorRules))
	for i, r := range o.MirrorRules {
		rules[i] = r.String()
	}
	return []any{
		slog.String("profile", o.Profile),
		slog.String("jwt_secret", set(o.JWTSecret)),
		slog.Bool("jwt_skip_validation", o.SkipValidation),
		slog.String("nats_url", redactURLs(o.NATSURL)),
		slog.String("nats_creds", set(o.NATSCreds)),
		slog.Bool("schema_strict", o.SchemaStrict),
		slog.String("schema_dir", o.SchemaDir),
		slog.String("policy_wasm_path", o.PolicyPath),
		slog.String("host", o.Host),
		slog.Int("port", o.Port),
		slog.Int("metrics_port", o.MetricsPort),
		slog.Bool("allow_query_token", o.AllowQueryToken),
		slog.Any("allowed_origins", o.AllowedOrigins),
		slog.Duration("jwt_leeway", o.JWTLeeway),
		slog.String("jwt_audience", o.JWTAudience),
		slog.String("jwt_issuer", o.JWTIssuer),
		slog.Int64("max_message_size", o.MaxMessageSize),
		slog.Int("max_connections", o.MaxConnections),
		slog.Float64("rate_limit_per_second", o.RateLimitPerSecond),
		slog.Int("rate_limit_burst", o.RateLimitBurst),
		slog.Int("rate_limit_max_violations", o.RateLimitMaxViolations),
		slog.Int("max_violations", o.MaxViolations),
		slog.Int("send_queue_size", o.SendQueueSize),
		slog.Duration("ping_interval", o.PingInterval),
		slog.Duration("ping_timeout", o.PingTimeout),
		slog.Duration("policy_timeout", o.PolicyTimeout),
		slog.Int64("policy_memory_limit", o.PolicyMemoryLimit),
		slog.Bool("jetstream", o.JetStream),
		slog.Duration("publish_timeout", o.PublishTimeout),
		slog.Bool("return_path", o.ReturnPath),
		slog.Bool("welcome", o.Welcome),
		slog.String("mirror_rules", strings.Join(rules, ",")),
		slog.Duration("shutdown_timeout", o.ShutdownTimeout),
	}
}
