// Package config is the one configuration loader of arqonbus. serve, shield,
// dev and preflight all read variables and flags through Load, so a value
// that makes one of them fail makes the others fail the same way.
//
// Every variable is described once, in the table of vars.go; flags, --help
// text, the /admin/config snapshot, the "configuration loaded" log
// attributes and docs/configuration.md are all generated from it.
package config

import (
	"crypto"
	"log/slog"
	"regexp"
	"time"
)

//go:generate env UPDATE_DOCS=1 go test -run TestConfigurationDocIsCurrent .

// Command selects which variables and flags Load reads.
type Command int

const (
	// CommandServe reads the bus variables (OPERATIONS.md §4).
	CommandServe Command = iota
	// CommandShield reads the Shield variables (SHIELD.md §3.2).
	CommandShield
	// CommandDev reads both, with Shield flags prefixed "shield-" (CLI.md §5).
	CommandDev
	// CommandPreflight reads both; its only configuration flags are
	// --profile, --nats-url and --incident-dir (PREFLIGHT.md §2).
	CommandPreflight
)

func (c Command) String() string {
	switch c {
	case CommandServe:
		return "serve"
	case CommandShield:
		return "shield"
	case CommandDev:
		return "dev"
	case CommandPreflight:
		return "preflight"
	}
	return "unknown"
}

// Profiles (OPERATIONS.md §3).
const (
	ProfileDevelopment = "development"
	ProfileStaging     = "staging"
	ProfileProduction  = "production"
)

// Config is the validated result of Load.
type Config struct {
	Command Command
	// Profile is the canonical profile: development, staging or production.
	Profile string
	// PreflightStrict forces the startup preflight in any profile.
	PreflightStrict bool
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// LogFormat is text or json, defaulted by profile.
	LogFormat string
	// PreflightIncidentDir is the default of preflight --incident-dir ("" = unset).
	PreflightIncidentDir string

	Bus    Bus
	Shield Shield
	Dev    Dev

	// Explicit maps a canonical variable name to true when the variable was
	// given by its environment variable (or an alias) or by its flag (§2.1).
	Explicit map[string]bool
	// Warnings are WARN lines to log once logging is set up.
	Warnings []Warning
}

// SlogLevel returns LogLevel as a slog.Level.
func (c *Config) SlogLevel() slog.Level {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// IsProd reports whether the profile is staging or production ("prod" in PREFLIGHT.md).
func (c *Config) IsProd() bool { return c.Profile != ProfileDevelopment }

// Bus holds every bus variable of OPERATIONS.md §4.2–§4.11.
type Bus struct {
	ServerHost             string
	ServerPort             int
	MaxConnections         int
	MaxMessageSize         int
	Compression            bool
	RateLimitPerSecond     float64
	RateLimitBurst         int
	RateLimitMaxViolations int
	MaxSubscriptions       int
	MaxChannels            int
	SendQueueSize          int
	SendQueueBytes         int
	PingInterval           time.Duration
	PingTimeout            time.Duration
	ShutdownTimeout        time.Duration

	EnableAuth           bool
	AuthJWTSecret        string
	AuthJWTAlgorithm     string // HS256, HS384, HS512, RS256, ES256 or EdDSA
	AuthJWTPublicKeyFile string
	// AuthJWTPublicKey is the parsed key of AuthJWTPublicKeyFile, nil when unset.
	AuthJWTPublicKey crypto.PublicKey
	AuthJWTLeeway    time.Duration
	DevAdmin         bool
	AdminAPIKey      string

	StorageBackend string // memory, redis or valkey
	StorageMode    string // degraded or strict
	// RedisURL is the effective Redis/Valkey address for the driver: the
	// configured URL, or the one built from host, port, password, SSL and DB.
	// It may contain a password: log RedisURLRedacted instead.
	RedisURL string
	// RedisURLRedacted is RedisURL with the password shown as *** (§4.14).
	RedisURLRedacted        string
	RedisHost               string
	RedisPort               int
	RedisPassword           string
	RedisSSL                bool
	RedisDB                 int
	HistorySize             int
	HistoryTTL              time.Duration // 0 = no age limit
	RecoveryMaxPublications int
	StorageTimeout          time.Duration

	HTTPEnabled     bool
	HTTPHost        string
	HTTPPort        int
	HTTPCORSOrigins []string

	TelemetryEnabled        bool
	TelemetryHost           string
	TelemetryPort           int
	TelemetryMaxConnections int
	TelemetryMaxEventSize   int

	CASIL CASIL

	WebhookAllowPrivateNetworks bool

	Omega  Omega
	Ollama Ollama

	// NATSURL is ARQONBUS_NATS_URL; setting it is an error in this build (§11).
	NATSURL []string
	NodeID  string
}

// CASIL holds OPERATIONS.md §4.7.
type CASIL struct {
	Enabled               bool
	Mode                  string // monitor or enforce
	DefaultDecision       string // allow or block
	ScopeInclude          []string
	ScopeExclude          []string
	MaxPayloadBytes       int
	MaxInspectBytes       int
	MaxPatterns           int
	BlockOnProbableSecret bool
	RedactionPaths        []string
	RedactionPatterns     []*regexp.Regexp
	TransportRedaction    bool
	NeverLogPayloadFor    []string
	MetadataToLogs        bool
	MetadataToTelemetry   bool
	MetadataToEnvelope    bool
}

// Omega holds OPERATIONS.md §4.9.
type Omega struct {
	Enabled       bool
	LabRoom       string
	LabChannel    string
	MaxEvents     int
	MaxSubstrates int
}

// Ollama holds OPERATIONS.md §4.10.
type Ollama struct {
	Enabled bool
	URL     string
	Model   string
	Timeout time.Duration
}

// Shield holds every variable of SHIELD.md §3.2 except the shared profile
// and logging ones, which live in Config.
type Shield struct {
	JWTSecret string
	// SkipValidation is JWT_SKIP_VALIDATION: Present when the name is in the
	// environment at all; Value is its boolean (empty counts as true).
	SkipValidation SkipValidation
	// NATSURLs is NATS_URL split into its servers.
	NATSURLs               []string
	NATSCreds              string
	SchemaStrict           bool
	SchemaStrictException  string
	SchemaDir              string
	PolicyWASMPath         string
	Host                   string
	Port                   int
	MetricsPort            int
	AllowQueryToken        bool
	AllowedOrigins         []string
	JWTLeeway              time.Duration
	JWTAudience            string
	JWTIssuer              string
	MaxMessageSize         int
	MaxConnections         int
	RateLimitPerSecond     float64
	RateLimitBurst         int
	RateLimitMaxViolations int
	MaxViolations          int
	SendQueueSize          int
	PingInterval           time.Duration
	PingTimeout            time.Duration
	PolicyTimeout          time.Duration
	// PolicyMemoryLimit is in bytes, rounded up to a multiple of 65536.
	PolicyMemoryLimit int
	JetStream         bool
	PublishTimeout    time.Duration
	ReturnPath        bool
	Welcome           bool
	MirrorRules       []MirrorRule
	ShutdownTimeout   time.Duration
}

// SkipValidation is the presence flag JWT_SKIP_VALIDATION (SHIELD.md §3.3).
type SkipValidation struct {
	Present bool
	Value   bool
}

// Dev holds what only `arqonbus dev` has (CLI.md §5).
type Dev struct {
	// NoShield is --no-shield: start neither Shield nor the embedded NATS.
	NoShield bool
	// NATSPort is --nats-port, the embedded NATS port (0 = any free port).
	NATSPort int
	// ExternalNATS is true when NATS_URL (--nats, --nats-url) was given, so
	// no NATS server is embedded and Shield.NATSURLs is used as is.
	ExternalNATS bool
	// GeneratedSecret is true when neither JWT_SECRET nor
	// ARQONBUS_AUTH_JWT_SECRET was set and Load generated one for both.
	GeneratedSecret bool
	// GeneratedAdminAPIKey is true when ARQONBUS_ADMIN_API_KEY was generated.
	GeneratedAdminAPIKey bool
}
