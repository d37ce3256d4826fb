// Package preflight is the production preflight runbook as code
// (PREFLIGHT.md): a catalog of checks with stable IDs, the runners that
// evaluate them (configuration, dependency probes, runtime sanity checks
// and source-checkout gates), the GO/NO-GO report in text and JSON, the
// incident record, and the startup preflight that serve and shield run
// before opening anything.
package preflight

// Status is the outcome of one check (PREFLIGHT.md §4).
type Status string

// Statuses.
const (
	StatusOK   Status = "ok"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
	StatusSkip Status = "skip"
)

// Severity is the routing label of a check (runbook "Incident Notes").
type Severity string

// Severities, highest first.
const (
	SevBlocker  Severity = "blocker"
	SevCritical Severity = "critical"
	SevHigh     Severity = "high"
)

func (s Severity) rank() int {
	switch s {
	case SevBlocker:
		return 3
	case SevCritical:
		return 2
	case SevHigh:
		return 1
	}
	return 0
}

// Class says whether a failure is a config, dependency or code problem.
type Class string

// Classes.
const (
	ClassConfig     Class = "config"
	ClassDependency Class = "dependency"
	ClassCode       Class = "code"
)

// Check IDs (PREFLIGHT.md §3, §8, §9). They are stable API.
const (
	IDConfig       = "pre.config"
	IDToolchain    = "pre.toolchain"
	IDBuildClean   = "pre.build_clean"
	IDServices     = "pre.services"
	IDServerHost   = "bus.server_host"
	IDServerPort   = "bus.server_port"
	IDStorageMode  = "bus.storage_mode"
	IDRedisURL     = "bus.redis_url"
	IDRedisReach   = "bus.redis_reachable"
	IDRedisDurable = "bus.redis_durability"
	IDTelemetry    = "bus.telemetry_addr"
	IDBusAuth      = "bus.auth"
	IDAdminAPIKey  = "bus.admin_api_key"
	IDJWTSecret    = "shield.jwt_secret"
	IDJWTDefault   = "shield.jwt_secret_default"
	IDJWTStrength  = "shield.jwt_secret_strength"
	IDSkipValid    = "shield.skip_validation"
	IDNATSURL      = "shield.nats_url"
	IDNATSReach    = "shield.nats_reachable"
	IDSchemaStrict = "shield.schema_strict"
	IDPolicy       = "shield.policy"
	IDOllama       = "deps.ollama"
	IDBusHealth    = "runtime.bus_health"
	IDTelemetryWS  = "runtime.telemetry_connect"
	IDShieldNoTok  = "runtime.shield_rejects_missing_token"
	IDShieldRoute  = "runtime.shield_routes_valid_token"
	IDGateDeps     = "gate.deps"
	IDGateVet      = "gate.vet"
	IDGateUnit     = "gate.unit"
	IDGateInteg    = "gate.integration"
	IDGateE2E      = "gate.e2e"
	IDGateRegress  = "gate.regression"
	IDGateAdvers   = "gate.adversarial"
)

// component says which side a check belongs to, for --component.
type component int

const (
	compAll component = iota
	compBus
	compShield
)

// kind groups checks by how they are evaluated.
type kind int

const (
	kindConfig kind = iota
	kindDependency
	kindRuntime
	kindGate
)

// Definition is one catalog entry.
type Definition struct {
	ID       string
	Severity Severity
	Class    Class
	// Runbook is the line of the founding runbook the check enforces.
	Runbook string
	comp    component
	kind    kind
}

// Runbook lines, verbatim from seed/production_preflight_runbook.md.
const (
	rbServices   = "Required services reachable (Redis/Valkey, NATS, Ollama if enabled)."
	rbHost       = "ARQONBUS_SERVER_HOST set explicitly."
	rbPort       = "ARQONBUS_SERVER_PORT set explicitly (no hardcoded defaults relied on)."
	rbMode       = "ARQONBUS_STORAGE_MODE set (strict recommended for production)."
	rbRedis      = "ARQONBUS_REDIS_URL configured and reachable for strict mode."
	rbTelemetry  = "ARQONBUS_TELEMETRY_HOST / ARQONBUS_TELEMETRY_PORT configured."
	rbSecret     = "JWT_SECRET configured with strong non-default value."
	rbSkip       = "JWT_SKIP_VALIDATION not set in production."
	rbNATS       = "NATS_URL configured and reachable."
	rbSchema     = "ARQON_SCHEMA_STRICT=true unless explicit, approved exception."
	rbHealth     = "ArqonBus health endpoint returns healthy."
	rbTelemetryW = "Telemetry endpoint accepts connection."
	rbNoToken    = "Shield websocket upgrade path enforces auth rejection for missing token."
	rbRoute      = "Shield valid token path accepts and routes expected payload."
	rbGates      = "Any failing unit/integration/e2e/regression/adversarial gates."
)

// Catalog is every check in report order (PREFLIGHT.md §1, §10 vector 9).
var Catalog = []Definition{
	{IDConfig, SevBlocker, ClassConfig, "If any command fails, do not deploy.", compAll, kindConfig},
	{IDToolchain, SevHigh, ClassCode, "Rust toolchain pinned to 1.82 for core crates.", compAll, kindConfig},
	{IDBuildClean, SevHigh, ClassCode, "git commit hash", compAll, kindConfig},
	{IDServices, SevBlocker, ClassDependency, rbServices, compAll, kindConfig},
	{IDServerHost, SevCritical, ClassConfig, rbHost, compBus, kindConfig},
	{IDServerPort, SevCritical, ClassConfig, rbPort, compBus, kindConfig},
	{IDStorageMode, SevCritical, ClassConfig, rbMode, compBus, kindConfig},
	{IDRedisURL, SevBlocker, ClassConfig, rbRedis, compBus, kindConfig},
	{IDRedisReach, SevBlocker, ClassDependency, rbRedis, compBus, kindDependency},
	{IDRedisDurable, SevHigh, ClassConfig, rbRedis, compBus, kindDependency},
	{IDTelemetry, SevHigh, ClassConfig, rbTelemetry, compBus, kindConfig},
	{IDBusAuth, SevCritical, ClassConfig, rbSecret, compBus, kindConfig},
	{IDAdminAPIKey, SevHigh, ClassConfig, rbSecret, compBus, kindConfig},
	{IDJWTSecret, SevBlocker, ClassConfig, rbSecret, compShield, kindConfig},
	{IDJWTDefault, SevBlocker, ClassConfig, "Missing JWT_SECRET or detected default secret value", compShield, kindConfig},
	{IDJWTStrength, SevCritical, ClassConfig, rbSecret, compShield, kindConfig},
	{IDSkipValid, SevBlocker, ClassConfig, rbSkip, compShield, kindConfig},
	{IDNATSURL, SevCritical, ClassConfig, rbNATS, compShield, kindConfig},
	{IDNATSReach, SevBlocker, ClassDependency, rbNATS, compShield, kindDependency},
	{IDSchemaStrict, SevHigh, ClassConfig, rbSchema, compShield, kindConfig},
	{IDPolicy, SevCritical, ClassConfig, rbRoute, compShield, kindConfig},
	{IDOllama, SevCritical, ClassDependency, rbServices, compBus, kindDependency},
	{IDBusHealth, SevBlocker, ClassDependency, rbHealth, compBus, kindRuntime},
	{IDTelemetryWS, SevBlocker, ClassDependency, rbTelemetryW, compBus, kindRuntime},
	{IDShieldNoTok, SevBlocker, ClassDependency, rbNoToken, compShield, kindRuntime},
	{IDShieldRoute, SevBlocker, ClassDependency, rbRoute, compShield, kindRuntime},
	{IDGateDeps, SevBlocker, ClassDependency, "conda run -n helios-gpu-118 python -m pip install -e .", compAll, kindGate},
	{IDGateVet, SevBlocker, ClassCode, "cargo check -p shield", compAll, kindGate},
	{IDGateUnit, SevBlocker, ClassCode, "conda run -n helios-gpu-118 pytest -q tests/unit tests/integration --maxfail=20", compAll, kindGate},
	{IDGateInteg, SevBlocker, ClassCode, "conda run -n helios-gpu-118 pytest -q tests/unit tests/integration --maxfail=20", compAll, kindGate},
	{IDGateE2E, SevBlocker, ClassCode, "cargo test -p shield --tests", compAll, kindGate},
	{IDGateRegress, SevBlocker, ClassCode, rbGates, compAll, kindGate},
	{IDGateAdvers, SevBlocker, ClassCode, rbGates, compAll, kindGate},
}

func definition(id string) Definition {
	for _, d := range Catalog {
		if d.ID == id {
			return d
		}
	}
	panic("preflight: unknown check " + id)
}

// FailConditions are the runbook's "Fail Conditions (Immediate Stop)" in
// report order, each with the checks that hit it (PREFLIGHT.md §3.5).
var FailConditions = []struct {
	Text   string
	Checks []string
}{
	{"Missing JWT_SECRET or detected default secret value", []string{IDJWTSecret, IDJWTDefault}},
	{"JWT_SKIP_VALIDATION present in production environment", []string{IDSkipValid}},
	{"Storage mode strict with Redis unavailable", []string{IDRedisURL, IDRedisReach}},
	{"Dependency import errors in clean environment", []string{IDGateDeps}},
	{"Any failing unit/integration/e2e/regression/adversarial gates", []string{IDGateUnit, IDGateInteg, IDGateE2E,
		IDGateRegress, IDGateAdvers, IDBusHealth, IDTelemetryWS, IDShieldNoTok, IDShieldRoute}},
}
