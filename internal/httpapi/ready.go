package httpapi

// Check statuses used in /ready (OPERATIONS.md §6.3).
const (
	CheckOK       = "ok"
	CheckDegraded = "degraded"
	CheckFail     = "fail"
	CheckDisabled = "disabled"
)

// Overall readiness states reported by /ready and as /status "ready".
const (
	StateReady    = "ready"
	StateDegraded = "degraded"
	StateNotReady = "not_ready"
)

// Check is the state of one dependency.
type Check struct {
	Status string `json:"status"`
}

// StorageCheck is the storage entry of /ready. Detail must never contain a
// secret (a Redis URL with its password, for example).
type StorageCheck struct {
	Status  string `json:"status"`
	Backend string `json:"backend"`
	Mode    string `json:"mode"`
	Detail  string `json:"detail"`
}

// Checks are the four dependency checks of /ready.
type Checks struct {
	Storage  StorageCheck `json:"storage"`
	NATS     Check        `json:"nats"`
	Ollama   Check        `json:"ollama"`
	Shutdown Check        `json:"shutdown"`
}

// Ready is the /ready body. A Source fills Checks from cached state; the
// handler sets Status (with RollUp) and Timestamp.
type Ready struct {
	Status    string `json:"status"`
	Timestamp string `json:"timestamp"`
	Checks    Checks `json:"checks"`
}

// RollUp derives the overall readiness from the checks: not_ready if any
// check fails, otherwise degraded if any is degraded, otherwise ready.
// A status that is not one of the known values (including "") counts as a
// failure, so a check that was never filled in cannot report ready.
func RollUp(c Checks) string {
	state := StateReady
	for _, s := range [...]string{c.Storage.Status, c.NATS.Status, c.Ollama.Status, c.Shutdown.Status} {
		switch s {
		case CheckOK, CheckDisabled:
		case CheckDegraded:
			state = StateDegraded
		default:
			return StateNotReady
		}
	}
	return state
}

// StorageCheckFor applies the storage rule of OPERATIONS.md §6.3: ok for
// memory or a healthy Redis; while Redis is unhealthy, degraded in degraded
// mode and fail in strict mode.
func StorageCheckFor(backend, mode string, healthy bool, detail string) StorageCheck {
	status := CheckOK
	if backend != "memory" && !healthy {
		status = CheckDegraded
		if mode == "strict" {
			status = CheckFail
		}
	}
	return StorageCheck{Status: status, Backend: backend, Mode: mode, Detail: detail}
}

// NATSCheckFor is disabled without a NATS URL and fail while disconnected.
func NATSCheckFor(enabled, connected bool) Check {
	switch {
	case !enabled:
		return Check{CheckDisabled}
	case !connected:
		return Check{CheckFail}
	}
	return Check{CheckOK}
}

// OllamaCheckFor is disabled when the integration is off and degraded when
// the cached probe failed; an Ollama outage never makes the bus not ready.
func OllamaCheckFor(enabled, probeOK bool) Check {
	switch {
	case !enabled:
		return Check{CheckDisabled}
	case !probeOK:
		return Check{CheckDegraded}
	}
	return Check{CheckOK}
}

// ShutdownCheckFor is fail once shutdown has begun.
func ShutdownCheckFor(begun bool) Check {
	if begun {
		return Check{CheckFail}
	}
	return Check{CheckOK}
}
