package preflight

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/arqonbus/arqonbus/internal/config"
)

// StartupPrefix begins the one stderr line of a startup refusal (§7).
const StartupPrefix = "Startup preflight failed: "

// StartupRequired reports whether serve/shield must run the startup
// preflight: a staging or production profile, or ARQONBUS_PREFLIGHT_STRICT=true (§7).
func StartupRequired(cfg *config.Config) bool {
	return cfg.IsProd() || cfg.PreflightStrict
}

// StartupError is the refusal of §7. Its Error() is exactly
// "Startup preflight failed: " + the failing checks' messages joined by "; ".
type StartupError struct {
	Messages []string
}

func (e *StartupError) Error() string { return StartupPrefix + strings.Join(e.Messages, "; ") }

// Startup runs the startup preflight of PREFLIGHT.md §7 for component "bus"
// (serve: the bus.* checks of §3.2) or "shield" (the shield.* checks of
// §3.3), logging warnings to slog.Default. See StartupContext.
func Startup(cfg *config.Config, component string) error {
	return StartupContext(context.Background(), cfg, component, slog.Default())
}

// StartupContext runs the startup preflight: the component's configuration
// and dependency checks, strictly (in development with
// ARQONBUS_PREFLIGHT_STRICT=true the staging rules apply; nothing softens).
// Checks that end as warn are logged at WARN. The only network access is the
// dependency probes of those checks (Redis/Valkey for the bus when a redis
// backend is configured, NATS for Shield), each bounded by DefaultTimeout.
// It returns nil or a *StartupError.
func StartupContext(ctx context.Context, cfg *config.Config, name string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var ids []string
	comp := compAll
	switch name {
	case "bus":
		comp = compBus
	case "shield":
		comp = compShield
	default:
		return errors.New("preflight: unknown startup component " + name)
	}
	for _, d := range Catalog {
		if d.comp == comp && (d.kind == kindConfig || d.kind == kindDependency) {
			ids = append(ids, d.ID)
		}
	}
	r := &rules{cfg: cfg, prod: true, production: cfg.Profile == config.ProfileProduction,
		owned: map[string][]string{}, secret: cfg.Shield.JWTSecret}
	results := map[string]Result{}
	for _, id := range ids {
		switch id {
		case IDRedisReach:
			results[IDRedisReach], results[IDRedisDurable] = r.probeRedis(ctx, DefaultTimeout)
		case IDRedisDurable:
		case IDNATSReach:
			results[id] = r.probeNATS(ctx, DefaultTimeout)
		case IDOllama:
			// Ollama is optional: an outage never stops the bus (OPERATIONS.md §4.10).
		case IDPolicy:
			// Shield loads and checks the policy itself at startup (SHIELD.md §4.1).
		default:
			results[id] = r.configCheck(id)
		}
	}
	var msgs []string
	for _, id := range ids {
		res, ok := results[id]
		if !ok {
			continue
		}
		switch res.Status {
		case StatusFail:
			if res.startup != "" {
				msgs = append(msgs, res.startup)
			} else {
				msgs = append(msgs, res.Detail)
			}
		case StatusWarn:
			logger.Warn("startup preflight warning", "check", id, "detail", res.Detail, "fix", res.Fix)
		}
	}
	if len(msgs) > 0 {
		return &StartupError{Messages: msgs}
	}
	return nil
}
