package config

import "time"

type kind int

const (
	kindString kind = iota
	kindSecret
	kindHost
	kindBool
	kindInt
	kindNumber
	kindDuration
	kindEnum
	kindList
	kindRegexList
	kindGlobList
	kindURL
	kindURLList
	kindPath
	kindMirrorRules
	kindPresence // JWT_SKIP_VALIDATION
)

// scope is the set of commands that read a variable.
type scope uint8

const (
	readServe scope = 1 << iota
	readShield
	readDev
	readPreflight

	scopeBus    = readServe | readDev | readPreflight
	scopeShield = readShield | readDev | readPreflight
	scopeBoth   = scopeBus | scopeShield
	scopeClient = scope(0) // known, but read only by the client commands
)

func (s scope) has(cmd Command) bool {
	switch cmd {
	case CommandServe:
		return s&readServe != 0
	case CommandShield:
		return s&readShield != 0
	case CommandDev:
		return s&readDev != 0
	case CommandPreflight:
		return s&readPreflight != 0
	}
	return false
}

func (s scope) doc() string {
	switch {
	case s == scopeClient:
		return "client commands"
	case s == scopeBoth:
		return "bus, shield"
	case s == scopeBus:
		return "bus"
	case s == scopeShield:
		return "shield"
	case s == readPreflight:
		return "preflight"
	}
	return "shield, preflight"
}

type alias struct {
	name       string
	deprecated bool // WARN when used; false for the silent VALKEY names
}

// varSpec describes one variable. Defaults are raw strings parsed by the same
// parser as user input, so the documentation cannot drift from the code.
type varSpec struct {
	name    string
	group   string
	kind    kind
	def     string // raw default; "" = unset
	defDoc  string // default as documented when def does not say it
	rng     *bounds
	values  []string          // enum: canonical values
	valueAl map[string]string // enum: lower-case alias -> canonical
	schemes []string          // URL kinds
	aliases []alias
	// secret follows the name rule of OPERATIONS.md §4.14 literally, which
	// also catches two booleans (…_PROBABLE_SECRET, …_QUERY_TOKEN).
	secret bool
	scope  scope
	noFlag bool // JWT_SKIP_VALIDATION
	doc    string
	// field returns a pointer to the Config field that receives the value.
	field func(c *Config) any
}

const (
	groupProfile   = "Profile and logging"
	groupServer    = "Bus WebSocket server"
	groupAuth      = "Authentication and admin access"
	groupStorage   = "Storage"
	groupHTTP      = "HTTP ops API"
	groupTelemetry = "Telemetry"
	groupCASIL     = "CASIL"
	groupOperators = "Operators"
	groupOmega     = "Tier-Omega (experimental lane)"
	groupOllama    = "Ollama"
	groupCluster   = "Cluster"
	groupShield    = "Shield gateway"
	groupClient    = "Client commands"
)

var groupOrder = []string{groupProfile, groupServer, groupAuth, groupStorage, groupHTTP, groupTelemetry,
	groupCASIL, groupOperators, groupOmega, groupOllama, groupCluster, groupShield, groupClient}

var boolSpellings = []string{"true", "false", "1", "0", "yes", "no", "on", "off"}

func sec(n float64) float64 { return n * float64(time.Second) }

const roomPattern = `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`

// vars is the one table of configuration variables.
var vars = []*varSpec{
	// OPERATIONS.md §4.1
	{name: "ARQONBUS_ENVIRONMENT", group: groupProfile, kind: kindEnum, def: "development", scope: scopeBoth,
		values:  []string{ProfileDevelopment, ProfileStaging, ProfileProduction},
		valueAl: map[string]string{"dev": ProfileDevelopment, "prod": ProfileProduction},
		doc:     "Profile: development (alias dev), staging, production (alias prod). preflight defaults to production.",
		field:   func(c *Config) any { return &c.Profile }},
	{name: "ARQONBUS_PREFLIGHT_STRICT", group: groupProfile, kind: kindBool, def: "false", scope: scopeBoth,
		doc:   "Forces the startup preflight in any profile.",
		field: func(c *Config) any { return &c.PreflightStrict }},
	{name: "ARQONBUS_PREFLIGHT_INCIDENT_DIR", group: groupProfile, kind: kindPath, scope: readPreflight,
		doc:   "Default of preflight --incident-dir; created with mode 0700 if missing.",
		field: func(c *Config) any { return &c.PreflightIncidentDir }},
	{name: "ARQONBUS_LOG_LEVEL", group: groupProfile, kind: kindEnum, def: "info", scope: scopeBoth,
		values: []string{"debug", "info", "warn", "error"}, valueAl: map[string]string{"warning": "warn"},
		doc:   "Minimum log level (warning is accepted for warn).",
		field: func(c *Config) any { return &c.LogLevel }},
	{name: "ARQONBUS_LOG_FORMAT", group: groupProfile, kind: kindEnum, scope: scopeBoth,
		defDoc: "text in development, json in staging and production",
		values: []string{"text", "json"},
		doc:    "Log encoding.",
		field:  func(c *Config) any { return &c.LogFormat }},

	// OPERATIONS.md §4.2
	{name: "ARQONBUS_SERVER_HOST", group: groupServer, kind: kindHost, def: "127.0.0.1", scope: scopeBus,
		doc: "Bus WebSocket bind host.", field: func(c *Config) any { return &c.Bus.ServerHost }},
	{name: "ARQONBUS_SERVER_PORT", group: groupServer, kind: kindInt, def: "9100", rng: between(0, 65535), scope: scopeBus,
		doc: "Bus WebSocket bind port; 0 picks a free port.", field: func(c *Config) any { return &c.Bus.ServerPort }},
	{name: "ARQONBUS_MAX_CONNECTIONS", group: groupServer, kind: kindInt, def: "10000", rng: between(1, 1000000), scope: scopeBus,
		doc: "Concurrent bus connections; beyond it upgrades get HTTP 503.", field: func(c *Config) any { return &c.Bus.MaxConnections }},
	{name: "ARQONBUS_MAX_MESSAGE_SIZE", group: groupServer, kind: kindInt, def: "1048576", rng: between(1024, 67108864), scope: scopeBus,
		doc: "Largest inbound frame in bytes; larger frames get close 1009.", field: func(c *Config) any { return &c.Bus.MaxMessageSize }},
	{name: "ARQONBUS_COMPRESSION", group: groupServer, kind: kindBool, def: "false", scope: scopeBus,
		doc: "Negotiate permessage-deflate when the client offers it.", field: func(c *Config) any { return &c.Bus.Compression }},
	{name: "ARQONBUS_RATE_LIMIT_PER_SECOND", group: groupServer, kind: kindNumber, def: "100", rng: atLeast(0), scope: scopeBus,
		doc: "Per-connection token-bucket refill rate; 0 disables rate limiting.", field: func(c *Config) any { return &c.Bus.RateLimitPerSecond }},
	{name: "ARQONBUS_RATE_LIMIT_BURST", group: groupServer, kind: kindInt, def: "200", rng: atLeast(1), scope: scopeBus,
		doc: "Token-bucket capacity.", field: func(c *Config) any { return &c.Bus.RateLimitBurst }},
	{name: "ARQONBUS_RATE_LIMIT_MAX_VIOLATIONS", group: groupServer, kind: kindInt, def: "20", rng: atLeast(0), scope: scopeBus,
		doc: "Rate violations before close 4429; 0 never closes.", field: func(c *Config) any { return &c.Bus.RateLimitMaxViolations }},
	{name: "ARQONBUS_MAX_SUBSCRIPTIONS", group: groupServer, kind: kindInt, def: "128", rng: between(1, 100000), scope: scopeBus,
		doc: "Channels one client may join.", field: func(c *Config) any { return &c.Bus.MaxSubscriptions }},
	{name: "ARQONBUS_MAX_CHANNELS", group: groupServer, kind: kindInt, def: "10000", rng: between(1, 1000000), scope: scopeBus,
		doc: "Channels per tenant (bootstrapped channels do not count).", field: func(c *Config) any { return &c.Bus.MaxChannels }},
	{name: "ARQONBUS_SEND_QUEUE_SIZE", group: groupServer, kind: kindInt, def: "1024", rng: between(16, 65536), scope: scopeBus,
		doc: "Outbound envelopes buffered per client; overflow closes with 4008.", field: func(c *Config) any { return &c.Bus.SendQueueSize }},
	{name: "ARQONBUS_SEND_QUEUE_BYTES", group: groupServer, kind: kindInt, def: "4194304", rng: between(65536, 1073741824), scope: scopeBus,
		doc: "Outbound bytes buffered per client; reaching it closes with 4008.", field: func(c *Config) any { return &c.Bus.SendQueueBytes }},
	{name: "ARQONBUS_PING_INTERVAL", group: groupServer, kind: kindDuration, def: "20s", rng: between(sec(1), sec(300)), scope: scopeBus,
		doc: "WebSocket ping period (bus and telemetry).", field: func(c *Config) any { return &c.Bus.PingInterval }},
	{name: "ARQONBUS_PING_TIMEOUT", group: groupServer, kind: kindDuration, def: "10s", rng: between(sec(1), sec(300)), scope: scopeBus,
		doc: "A pong missing this long closes the connection with 1011.", field: func(c *Config) any { return &c.Bus.PingTimeout }},
	{name: "ARQONBUS_SHUTDOWN_TIMEOUT", group: groupServer, kind: kindDuration, def: "10s", rng: between(sec(1), sec(300)), scope: scopeBus,
		doc: "Graceful drain budget.", field: func(c *Config) any { return &c.Bus.ShutdownTimeout }},

	// OPERATIONS.md §4.3
	{name: "ARQONBUS_ENABLE_AUTH", group: groupAuth, kind: kindBool, def: "false", defDoc: "false (true in dev)", scope: scopeBus,
		doc: "Require a JWT at the bus and telemetry handshakes.", field: func(c *Config) any { return &c.Bus.EnableAuth }},
	{name: "ARQONBUS_AUTH_JWT_SECRET", group: groupAuth, kind: kindSecret, secret: true, scope: scopeBus,
		doc: "HMAC key; required when auth is on with an HS* algorithm.", field: func(c *Config) any { return &c.Bus.AuthJWTSecret }},
	{name: "ARQONBUS_AUTH_JWT_ALGORITHM", group: groupAuth, kind: kindEnum, def: "HS256", scope: scopeBus,
		values: []string{"HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"},
		doc:    "The only alg accepted in token headers.", field: func(c *Config) any { return &c.Bus.AuthJWTAlgorithm }},
	{name: "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE", group: groupAuth, kind: kindPath, scope: scopeBus,
		doc: "PEM public key; required for RS256, ES256 and EdDSA.", field: func(c *Config) any { return &c.Bus.AuthJWTPublicKeyFile }},
	{name: "ARQONBUS_AUTH_JWT_LEEWAY", group: groupAuth, kind: kindDuration, def: "0s", rng: between(0, sec(300)), scope: scopeBus,
		doc: "Clock skew allowed for exp, nbf and iat.", field: func(c *Config) any { return &c.Bus.AuthJWTLeeway }},
	{name: "ARQONBUS_DEV_ADMIN", group: groupAuth, kind: kindBool, def: "false", scope: scopeBus,
		doc: "With auth off, every client is admin. Development profile only.", field: func(c *Config) any { return &c.Bus.DevAdmin }},
	{name: "ARQONBUS_ADMIN_API_KEY", group: groupAuth, kind: kindSecret, secret: true, scope: scopeBus, defDoc: "unset (generated in dev)",
		doc: "Required X-API-Key for /admin/*; the admin API is disabled while unset.", field: func(c *Config) any { return &c.Bus.AdminAPIKey }},

	// OPERATIONS.md §4.4
	{name: "ARQONBUS_STORAGE_BACKEND", group: groupStorage, kind: kindEnum, scope: scopeBus,
		defDoc:  "memory; redis when a Redis/Valkey URL or host is set",
		values:  []string{"memory", "redis", "valkey"},
		valueAl: map[string]string{"memory_storage": "memory", "redis_streams": "redis", "valkey_streams": "valkey"},
		doc:     "History backend (upstream aliases memory_storage, redis_streams, valkey_streams accepted).",
		field:   func(c *Config) any { return &c.Bus.StorageBackend }},
	{name: "ARQONBUS_STORAGE_MODE", group: groupStorage, kind: kindEnum, def: "degraded", scope: scopeBus,
		values: []string{"degraded", "strict"},
		doc:    "Failure semantics; strict requires a redis or valkey backend.", field: func(c *Config) any { return &c.Bus.StorageMode }},
	{name: "ARQONBUS_REDIS_URL", group: groupStorage, kind: kindURL, schemes: []string{"redis", "rediss"}, scope: scopeBus,
		aliases: []alias{{name: "ARQONBUS_VALKEY_URL"}},
		doc:     "Redis/Valkey address including password and DB.", field: func(c *Config) any { return &c.Bus.RedisURL }},
	{name: "ARQONBUS_REDIS_HOST", group: groupStorage, kind: kindHost, def: "localhost", scope: scopeBus,
		aliases: []alias{{name: "ARQONBUS_VALKEY_HOST"}},
		doc:     "Used only when no URL is set.", field: func(c *Config) any { return &c.Bus.RedisHost }},
	{name: "ARQONBUS_REDIS_PORT", group: groupStorage, kind: kindInt, def: "6379", rng: between(1, 65535), scope: scopeBus,
		aliases: []alias{{name: "ARQONBUS_VALKEY_PORT"}},
		doc:     "Used only when no URL is set.", field: func(c *Config) any { return &c.Bus.RedisPort }},
	{name: "ARQONBUS_REDIS_PASSWORD", group: groupStorage, kind: kindSecret, secret: true, scope: scopeBus,
		aliases: []alias{{name: "ARQONBUS_VALKEY_PASSWORD"}},
		doc:     "Used only when no URL is set.", field: func(c *Config) any { return &c.Bus.RedisPassword }},
	{name: "ARQONBUS_REDIS_SSL", group: groupStorage, kind: kindBool, def: "false", scope: scopeBus,
		aliases: []alias{{name: "ARQONBUS_VALKEY_SSL"}},
		doc:     "Use rediss instead of redis; only when no URL is set.", field: func(c *Config) any { return &c.Bus.RedisSSL }},
	{name: "ARQONBUS_REDIS_DB", group: groupStorage, kind: kindInt, def: "0", rng: between(0, 1000), scope: scopeBus,
		doc: "Database number; only when no URL is set.", field: func(c *Config) any { return &c.Bus.RedisDB }},
	{name: "ARQONBUS_HISTORY_SIZE", group: groupStorage, kind: kindInt, def: "500", rng: between(1, 100000), scope: scopeBus,
		aliases: []alias{{name: "ARQONBUS_MAX_HISTORY_SIZE", deprecated: true}},
		doc:     "Messages retained per tenant/room/channel.", field: func(c *Config) any { return &c.Bus.HistorySize }},
	{name: "ARQONBUS_HISTORY_TTL", group: groupStorage, kind: kindDuration, rng: atLeast(0), scope: scopeBus, defDoc: "unset (no age limit)",
		doc: "Age limit of history entries; 0 is the same as unset.", field: func(c *Config) any { return &c.Bus.HistoryTTL }},
	{name: "ARQONBUS_RECOVERY_MAX_PUBLICATIONS", group: groupStorage, kind: kindInt, def: "300", rng: between(1, 100000), scope: scopeBus,
		doc: "Largest gap that recovery will fill.", field: func(c *Config) any { return &c.Bus.RecoveryMaxPublications }},
	{name: "ARQONBUS_STORAGE_TIMEOUT", group: groupStorage, kind: kindDuration, def: "2s", rng: between(float64(100*time.Millisecond), sec(30)), scope: scopeBus,
		doc: "Timeout of each Redis operation.", field: func(c *Config) any { return &c.Bus.StorageTimeout }},
	{name: "ARQONBUS_ENABLE_PERSISTENCE", group: groupStorage, kind: kindBool, scope: scopeBus, defDoc: "–",
		doc: "Deprecated: parsed, then ignored with a WARN (history is always recorded).", field: nil},

	// OPERATIONS.md §4.5
	{name: "ARQONBUS_HTTP_ENABLED", group: groupHTTP, kind: kindBool, def: "true", scope: scopeBus,
		doc: "Serve the HTTP ops API.", field: func(c *Config) any { return &c.Bus.HTTPEnabled }},
	{name: "ARQONBUS_HTTP_HOST", group: groupHTTP, kind: kindHost, def: "127.0.0.1", scope: scopeBus,
		doc: "HTTP ops API bind host.", field: func(c *Config) any { return &c.Bus.HTTPHost }},
	{name: "ARQONBUS_HTTP_PORT", group: groupHTTP, kind: kindInt, def: "8080", rng: between(0, 65535), scope: scopeBus,
		doc: "HTTP ops API bind port.", field: func(c *Config) any { return &c.Bus.HTTPPort }},
	{name: "ARQONBUS_HTTP_CORS_ORIGINS", group: groupHTTP, kind: kindList, scope: scopeBus, defDoc: "empty (CORS off)",
		doc: "Origins allowed to read GET endpoints cross-site.", field: func(c *Config) any { return &c.Bus.HTTPCORSOrigins }},

	// OPERATIONS.md §4.6
	{name: "ARQONBUS_TELEMETRY_ENABLED", group: groupTelemetry, kind: kindBool, def: "true", scope: scopeBus,
		aliases: []alias{{name: "ARQONBUS_ENABLE_TELEMETRY", deprecated: true}},
		doc:     "Serve the telemetry WebSocket and emit bus events.", field: func(c *Config) any { return &c.Bus.TelemetryEnabled }},
	{name: "ARQONBUS_TELEMETRY_HOST", group: groupTelemetry, kind: kindHost, def: "127.0.0.1", scope: scopeBus,
		doc: "Telemetry bind host.", field: func(c *Config) any { return &c.Bus.TelemetryHost }},
	{name: "ARQONBUS_TELEMETRY_PORT", group: groupTelemetry, kind: kindInt, def: "8081", rng: between(0, 65535), scope: scopeBus,
		doc: "Telemetry bind port.", field: func(c *Config) any { return &c.Bus.TelemetryPort }},
	{name: "ARQONBUS_TELEMETRY_MAX_CONNECTIONS", group: groupTelemetry, kind: kindInt, def: "500", rng: between(1, 100000), scope: scopeBus,
		doc: "Telemetry connections beyond this get close 1013.", field: func(c *Config) any { return &c.Bus.TelemetryMaxConnections }},
	{name: "ARQONBUS_TELEMETRY_MAX_EVENT_SIZE", group: groupTelemetry, kind: kindInt, def: "65536", rng: between(1024, 1048576), scope: scopeBus,
		doc: "Larger inbound telemetry events get close 1009.", field: func(c *Config) any { return &c.Bus.TelemetryMaxEventSize }},

	// OPERATIONS.md §4.7
	{name: "ARQONBUS_CASIL_ENABLED", group: groupCASIL, kind: kindBool, def: "false", scope: scopeBus,
		doc: "CASIL master switch.", field: func(c *Config) any { return &c.Bus.CASIL.Enabled }},
	{name: "ARQONBUS_CASIL_MODE", group: groupCASIL, kind: kindEnum, def: "monitor", values: []string{"monitor", "enforce"}, scope: scopeBus,
		doc: "monitor never alters payloads; enforce may block or redact.", field: func(c *Config) any { return &c.Bus.CASIL.Mode }},
	{name: "ARQONBUS_CASIL_DEFAULT_DECISION", group: groupCASIL, kind: kindEnum, def: "allow", values: []string{"allow", "block"}, scope: scopeBus,
		doc: "Outcome of an internal CASIL error.", field: func(c *Config) any { return &c.Bus.CASIL.DefaultDecision }},
	{name: "ARQONBUS_CASIL_SCOPE_INCLUDE", group: groupCASIL, kind: kindGlobList, scope: scopeBus, defDoc: "empty (everything)",
		doc: "Globs over room:channel in scope.", field: func(c *Config) any { return &c.Bus.CASIL.ScopeInclude }},
	{name: "ARQONBUS_CASIL_SCOPE_EXCLUDE", group: groupCASIL, kind: kindGlobList, scope: scopeBus, defDoc: "empty",
		doc: "Globs out of scope; exclude wins over include.", field: func(c *Config) any { return &c.Bus.CASIL.ScopeExclude }},
	{name: "ARQONBUS_CASIL_MAX_PAYLOAD_BYTES", group: groupCASIL, kind: kindInt, def: "262144", rng: atLeast(0), scope: scopeBus,
		doc: "Oversize threshold; 0 disables the check.", field: func(c *Config) any { return &c.Bus.CASIL.MaxPayloadBytes }},
	{name: "ARQONBUS_CASIL_MAX_INSPECT_BYTES", group: groupCASIL, kind: kindInt, def: "65536", rng: atLeast(1), scope: scopeBus,
		doc: "Secret-scan window.", field: func(c *Config) any { return &c.Bus.CASIL.MaxInspectBytes }},
	{name: "ARQONBUS_CASIL_MAX_PATTERNS", group: groupCASIL, kind: kindInt, def: "32", rng: atLeast(0), scope: scopeBus,
		doc: "Most redaction patterns allowed; 0 means unlimited.", field: func(c *Config) any { return &c.Bus.CASIL.MaxPatterns }},
	{name: "ARQONBUS_CASIL_BLOCK_ON_PROBABLE_SECRET", group: groupCASIL, kind: kindBool, def: "false", scope: scopeBus,
		doc: "A probable secret is a block candidate.", field: func(c *Config) any { return &c.Bus.CASIL.BlockOnProbableSecret }},
	{name: "ARQONBUS_CASIL_REDACTION_PATHS", group: groupCASIL, kind: kindList, def: "password,token,secret", scope: scopeBus,
		doc: "Object keys whose values are redacted; - means none.", field: func(c *Config) any { return &c.Bus.CASIL.RedactionPaths }},
	{name: "ARQONBUS_CASIL_REDACTION_PATTERNS", group: groupCASIL, kind: kindRegexList, scope: scopeBus, defDoc: "empty",
		doc: "RE2 redaction patterns; they replace the default secret patterns.", field: func(c *Config) any { return &c.Bus.CASIL.RedactionPatterns }},
	{name: "ARQONBUS_CASIL_TRANSPORT_REDACTION", group: groupCASIL, kind: kindBool, def: "false", scope: scopeBus,
		doc: "In enforce mode, forward and store the redacted payload.", field: func(c *Config) any { return &c.Bus.CASIL.TransportRedaction }},
	{name: "ARQONBUS_CASIL_NEVER_LOG_PAYLOAD_FOR", group: groupCASIL, kind: kindGlobList, scope: scopeBus, defDoc: "empty",
		doc: "Targets whose CASIL logs and telemetry omit flags and key names.", field: func(c *Config) any { return &c.Bus.CASIL.NeverLogPayloadFor }},
	{name: "ARQONBUS_CASIL_METADATA_TO_LOGS", group: groupCASIL, kind: kindBool, def: "true", scope: scopeBus,
		doc: "Log CASIL outcomes.", field: func(c *Config) any { return &c.Bus.CASIL.MetadataToLogs }},
	{name: "ARQONBUS_CASIL_METADATA_TO_TELEMETRY", group: groupCASIL, kind: kindBool, def: "true", scope: scopeBus,
		doc: "Emit casil_decision events.", field: func(c *Config) any { return &c.Bus.CASIL.MetadataToTelemetry }},
	{name: "ARQONBUS_CASIL_METADATA_TO_ENVELOPE", group: groupCASIL, kind: kindBool, def: "false", scope: scopeBus,
		doc: "Add metadata.casil to forwarded and stored envelopes.", field: func(c *Config) any { return &c.Bus.CASIL.MetadataToEnvelope }},

	// OPERATIONS.md §4.8
	{name: "ARQONBUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS", group: groupOperators, kind: kindBool, scope: scopeBus,
		defDoc: "true in development, false in staging and production",
		doc:    "Allow webhook deliveries to loopback, link-local and private addresses.",
		field:  func(c *Config) any { return &c.Bus.WebhookAllowPrivateNetworks }},

	// OPERATIONS.md §4.9
	{name: "ARQONBUS_OMEGA_ENABLED", group: groupOmega, kind: kindBool, def: "false", scope: scopeBus,
		doc: "When false, op.omega.* answers FEATURE_DISABLED.", field: func(c *Config) any { return &c.Bus.Omega.Enabled }},
	{name: "ARQONBUS_OMEGA_LAB_ROOM", group: groupOmega, kind: kindString, def: "omega-lab", scope: scopeBus,
		doc: "Room for omega events (a room name).", field: func(c *Config) any { return &c.Bus.Omega.LabRoom }},
	{name: "ARQONBUS_OMEGA_LAB_CHANNEL", group: groupOmega, kind: kindString, def: "signals", scope: scopeBus,
		doc: "Channel for omega events (a channel name).", field: func(c *Config) any { return &c.Bus.Omega.LabChannel }},
	{name: "ARQONBUS_OMEGA_MAX_EVENTS", group: groupOmega, kind: kindInt, def: "1000", scope: scopeBus,
		rng: &bounds{min: 1, msg: "Tier-Omega max_events must be >= 1"},
		doc: "Event ring size; the newest are kept.", field: func(c *Config) any { return &c.Bus.Omega.MaxEvents }},
	{name: "ARQONBUS_OMEGA_MAX_SUBSTRATES", group: groupOmega, kind: kindInt, def: "128", scope: scopeBus,
		rng: &bounds{min: 1, msg: "Tier-Omega max_substrates must be >= 1"},
		doc: "Substrate registry cap.", field: func(c *Config) any { return &c.Bus.Omega.MaxSubstrates }},

	// OPERATIONS.md §4.10
	{name: "ARQONBUS_OLLAMA_ENABLED", group: groupOllama, kind: kindBool, def: "false", scope: scopeBus,
		doc: "Enable the Ollama integration and its checks.", field: func(c *Config) any { return &c.Bus.Ollama.Enabled }},
	{name: "ARQONBUS_OLLAMA_URL", group: groupOllama, kind: kindURL, def: "http://127.0.0.1:11434", schemes: []string{"http", "https"}, scope: scopeBus,
		doc: "Ollama base URL.", field: func(c *Config) any { return &c.Bus.Ollama.URL }},
	{name: "ARQONBUS_OLLAMA_MODEL", group: groupOllama, kind: kindString, scope: scopeBus,
		doc: "Model that must be installed, if set.", field: func(c *Config) any { return &c.Bus.Ollama.Model }},
	{name: "ARQONBUS_OLLAMA_TIMEOUT", group: groupOllama, kind: kindDuration, def: "30s", rng: between(sec(1), sec(600)), scope: scopeBus,
		doc: "Timeout of each request to Ollama.", field: func(c *Config) any { return &c.Bus.Ollama.Timeout }},

	// OPERATIONS.md §4.11
	{name: "ARQONBUS_NATS_URL", group: groupCluster, kind: kindURLList, schemes: []string{"nats", "tls"}, scope: scopeBus,
		defDoc: "unset (single node)",
		doc:    "Cross-node room traffic. Not available in this build: setting it is an error.",
		field:  func(c *Config) any { return &c.Bus.NATSURL }},
	{name: "ARQONBUS_NODE_ID", group: groupCluster, kind: kindString, scope: scopeBus, defDoc: "node_ + 12 random hex characters",
		doc: "Node identity in headers and logs; [A-Za-z0-9_-]{1,64}.", field: func(c *Config) any { return &c.Bus.NodeID }},

	// SHIELD.md §3.2
	{name: "JWT_SECRET", group: groupShield, kind: kindSecret, secret: true, scope: scopeShield, defDoc: "none (required; generated in dev)",
		doc: "HMAC key for token verification (raw UTF-8 bytes).", field: func(c *Config) any { return &c.Shield.JWTSecret }},
	{name: "JWT_SKIP_VALIDATION", group: groupShield, kind: kindPresence, scope: scopeShield, noFlag: true,
		doc: "Presence flag, environment only: skip signature verification. Development only.", field: nil},
	{name: "NATS_URL", group: groupShield, kind: kindURLList, def: "nats://127.0.0.1:4222", schemes: []string{"nats", "tls"}, scope: scopeShield,
		defDoc: "nats://127.0.0.1:4222 (dev: embedded server)",
		doc:    "Comma-separated NATS servers.", field: func(c *Config) any { return &c.Shield.NATSURLs }},
	{name: "ARQON_SHIELD_NATS_CREDS", group: groupShield, kind: kindPath, scope: scopeShield,
		doc: "Readable NATS .creds file.", field: func(c *Config) any { return &c.Shield.NATSCreds }},
	{name: "ARQON_SCHEMA_STRICT", group: groupShield, kind: kindBool, def: "true", scope: scopeShield,
		doc: "Strict schema enforcement.", field: func(c *Config) any { return &c.Shield.SchemaStrict }},
	{name: "ARQON_SCHEMA_STRICT_EXCEPTION", group: groupShield, kind: kindString, scope: scopeShield,
		doc: "Ticket id; not read by Shield. Preflight accepts ARQON_SCHEMA_STRICT=false with it.", field: func(c *Config) any { return &c.Shield.SchemaStrictException }},
	{name: "ARQON_SCHEMA_DIR", group: groupShield, kind: kindPath, scope: scopeShield,
		doc: "Directory of extra JSON Schemas, one per envelope type (checked at Shield startup).", field: func(c *Config) any { return &c.Shield.SchemaDir }},
	{name: "POLICY_WASM_PATH", group: groupShield, kind: kindPath, scope: scopeShield,
		doc: "WASM policy module (checked at Shield startup); unset means allow all.", field: func(c *Config) any { return &c.Shield.PolicyWASMPath }},
	{name: "ARQON_SHIELD_HOST", group: groupShield, kind: kindHost, def: "127.0.0.1", scope: scopeShield,
		doc: "Bind host of the WebSocket and metrics listeners.", field: func(c *Config) any { return &c.Shield.Host }},
	{name: "ARQON_SHIELD_PORT", group: groupShield, kind: kindInt, def: "4000", rng: between(0, 65535), scope: scopeShield,
		doc: "WebSocket listener port; 0 picks a free port.", field: func(c *Config) any { return &c.Shield.Port }},
	{name: "ARQON_SHIELD_METRICS_PORT", group: groupShield, kind: kindInt, def: "9090", rng: between(0, 65535), scope: scopeShield,
		doc: "Metrics and health port; must differ from ARQON_SHIELD_PORT unless one is 0.", field: func(c *Config) any { return &c.Shield.MetricsPort }},
	{name: "ARQON_SHIELD_ALLOW_QUERY_TOKEN", group: groupShield, kind: kindBool, def: "false", scope: scopeShield,
		doc: "Accept ?access_token=.", field: func(c *Config) any { return &c.Shield.AllowQueryToken }},
	{name: "ARQON_SHIELD_ALLOWED_ORIGINS", group: groupShield, kind: kindList, scope: scopeShield, defDoc: "empty (any origin)",
		doc: "Origin patterns allowed to upgrade.", field: func(c *Config) any { return &c.Shield.AllowedOrigins }},
	{name: "ARQON_SHIELD_JWT_LEEWAY", group: groupShield, kind: kindDuration, def: "5s", rng: between(0, sec(300)), scope: scopeShield,
		doc: "Clock skew allowed for exp, nbf and iat.", field: func(c *Config) any { return &c.Shield.JWTLeeway }},
	{name: "ARQON_SHIELD_JWT_AUDIENCE", group: groupShield, kind: kindString, scope: scopeShield,
		doc: "If set, the token's aud must contain it.", field: func(c *Config) any { return &c.Shield.JWTAudience }},
	{name: "ARQON_SHIELD_JWT_ISSUER", group: groupShield, kind: kindString, scope: scopeShield,
		doc: "If set, the token's iss must equal it.", field: func(c *Config) any { return &c.Shield.JWTIssuer }},
	{name: "ARQON_SHIELD_MAX_MESSAGE_SIZE", group: groupShield, kind: kindInt, def: "1048576", rng: between(1024, 67108864), scope: scopeShield,
		doc: "Largest inbound frame; larger frames get close 1009.", field: func(c *Config) any { return &c.Shield.MaxMessageSize }},
	{name: "ARQON_SHIELD_MAX_CONNECTIONS", group: groupShield, kind: kindInt, def: "10000", rng: between(1, 1000000), scope: scopeShield,
		doc: "Concurrent connections; over the limit gives HTTP 503.", field: func(c *Config) any { return &c.Shield.MaxConnections }},
	{name: "ARQON_SHIELD_RATE_LIMIT_PER_SECOND", group: groupShield, kind: kindNumber, def: "100", rng: atLeast(0), scope: scopeShield,
		doc: "Token-bucket refill rate; 0 disables rate limiting.", field: func(c *Config) any { return &c.Shield.RateLimitPerSecond }},
	{name: "ARQON_SHIELD_RATE_LIMIT_BURST", group: groupShield, kind: kindInt, def: "200", rng: atLeast(1), scope: scopeShield,
		doc: "Token-bucket capacity.", field: func(c *Config) any { return &c.Shield.RateLimitBurst }},
	{name: "ARQON_SHIELD_RATE_LIMIT_MAX_VIOLATIONS", group: groupShield, kind: kindInt, def: "20", rng: atLeast(0), scope: scopeShield,
		doc: "Rate violations before close 4429; 0 never closes.", field: func(c *Config) any { return &c.Shield.RateLimitMaxViolations }},
	{name: "ARQON_SHIELD_MAX_VIOLATIONS", group: groupShield, kind: kindInt, def: "10", rng: atLeast(0), scope: scopeShield,
		doc: "Content rejections before close 1007/1008; 0 never closes.", field: func(c *Config) any { return &c.Shield.MaxViolations }},
	{name: "ARQON_SHIELD_SEND_QUEUE_SIZE", group: groupShield, kind: kindInt, def: "1024", rng: between(16, 65536), scope: scopeShield,
		doc: "Outbound frames buffered per connection; overflow gives close 4008.", field: func(c *Config) any { return &c.Shield.SendQueueSize }},
	{name: "ARQON_SHIELD_PING_INTERVAL", group: groupShield, kind: kindDuration, def: "20s", rng: between(sec(1), sec(300)), scope: scopeShield,
		doc: "WebSocket ping period.", field: func(c *Config) any { return &c.Shield.PingInterval }},
	{name: "ARQON_SHIELD_PING_TIMEOUT", group: groupShield, kind: kindDuration, def: "10s", rng: between(sec(1), sec(300)), scope: scopeShield,
		doc: "A missing pong after this long closes the connection.", field: func(c *Config) any { return &c.Shield.PingTimeout }},
	{name: "ARQON_SHIELD_POLICY_TIMEOUT", group: groupShield, kind: kindDuration, def: "50ms", rng: between(float64(time.Millisecond), sec(10)), scope: scopeShield,
		doc: "Wall-clock limit per policy evaluation.", field: func(c *Config) any { return &c.Shield.PolicyTimeout }},
	{name: "ARQON_SHIELD_POLICY_MEMORY_LIMIT", group: groupShield, kind: kindInt, def: "16777216", rng: between(65536, 1073741824), scope: scopeShield,
		doc: "Maximum policy linear memory in bytes, rounded up to a multiple of 65536.", field: func(c *Config) any { return &c.Shield.PolicyMemoryLimit }},
	{name: "ARQON_SHIELD_JETSTREAM", group: groupShield, kind: kindBool, def: "false", scope: scopeShield,
		doc: "Publish through JetStream and wait for the PubAck.", field: func(c *Config) any { return &c.Shield.JetStream }},
	{name: "ARQON_SHIELD_PUBLISH_TIMEOUT", group: groupShield, kind: kindDuration, def: "5s", rng: between(float64(100*time.Millisecond), sec(60)), scope: scopeShield,
		doc: "Maximum wait for a JetStream PubAck.", field: func(c *Config) any { return &c.Shield.PublishTimeout }},
	{name: "ARQON_SHIELD_RETURN_PATH", group: groupShield, kind: kindBool, def: "true", scope: scopeShield,
		doc: "Subscribe out.t.<tenant>.> and forward to clients.", field: func(c *Config) any { return &c.Shield.ReturnPath }},
	{name: "ARQON_SHIELD_WELCOME", group: groupShield, kind: kindBool, def: "false", scope: scopeShield,
		doc: "Send a welcome text frame after the upgrade.", field: func(c *Config) any { return &c.Shield.Welcome }},
	{name: "ARQON_SHIELD_MIRROR_RULES", group: groupShield, kind: kindMirrorRules, def: "in.t.>=0", scope: scopeShield,
		doc: "Shadow mirroring rules <pattern>=<percent>; the default mirrors nothing.", field: func(c *Config) any { return &c.Shield.MirrorRules }},
	{name: "ARQON_SHIELD_SHUTDOWN_TIMEOUT", group: groupShield, kind: kindDuration, def: "10s", rng: between(sec(1), sec(300)), scope: scopeShield,
		doc: "Graceful drain budget.", field: func(c *Config) any { return &c.Shield.ShutdownTimeout }},

	// OPERATIONS.md §4.12: known here, read by the client commands.
	{name: "ARQONBUS_WS_URL", group: groupClient, kind: kindString, def: "ws://127.0.0.1:9100", scope: scopeClient,
		doc: "Bus WebSocket URL of status, version, tail, send and bench."},
	{name: "ARQONBUS_HTTP_URL", group: groupClient, kind: kindString, def: "http://127.0.0.1:8080", scope: scopeClient,
		doc: "HTTP ops API base URL of the client commands."},
	{name: "ARQONBUS_AUTH_JWT", group: groupClient, kind: kindSecret, secret: true, scope: scopeClient,
		doc: "Bearer token the client commands send."},
}

var varsByName = func() map[string]*varSpec {
	m := make(map[string]*varSpec, len(vars))
	for _, v := range vars {
		m[v.name] = v
	}
	return m
}()

// knownNames is every variable name the specifications define, aliases included.
var knownNames = func() map[string]bool {
	m := make(map[string]bool)
	for _, v := range vars {
		m[v.name] = true
		for _, a := range v.aliases {
			m[a.name] = true
		}
	}
	return m
}()
