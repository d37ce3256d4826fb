package main

import (
	"context"
	"io"
	"strings"

	"github.com/arqonbus/arqonbus/internal/app"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/preflight"
	"github.com/arqonbus/arqonbus/internal/shield"
)

func init() {
	commands["shield"] = command{"Run the Shield edge gateway: authenticated WebSocket ingress to NATS", runShield}
}

// runShield is `arqonbus shield` (CLI.md §4): the startup order of
// SHIELD.md §4.1, then serving until the first SIGINT or SIGTERM cancels
// ctx, then the drain of §4.3. Stdout stays empty.
func runShield(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Step 1: flags and environment, validated (SHIELD.md §3.3).
	cfg, code := loadConfig(config.CommandShield, args, stdout, stderr)
	if cfg == nil {
		return code
	}
	// Step 2: logging.
	logger := app.NewLogger(cfg, stderr)
	app.LogWarnings(cfg, logger)
	startupFailed := func(err error) int {
		logger.Error("startup failed", "component", "shield", "error", err.Error())
		return fail(stderr, err)
	}
	// Step 3: the startup preflight, before NATS or any listener is opened.
	if preflight.StartupRequired(cfg) {
		if err := preflight.StartupContext(ctx, cfg, "shield", logger.With("component", "shield")); err != nil {
			return startupFailed(err)
		}
	}
	// Steps 4–7: schemas, policy, NATS, JetStream.
	g, err := shield.New(shieldOptions(cfg), logger)
	if err != nil {
		return startupFailed(err)
	}
	if ctx.Err() != nil { // stopped before any listener was bound
		_ = g.Close()
		logger.Info("shutdown complete", "component", "shield")
		return exitOK
	}
	// Steps 8–10, serving, and the drain once ctx is cancelled.
	if err := g.Run(ctx); err != nil {
		select {
		case <-g.Ready():
			logger.Error("shield stopped", "component", "shield", "error", err.Error())
			return fail(stderr, err)
		default:
			return startupFailed(err)
		}
	}
	return exitOK
}

// shieldOptions maps the loaded configuration onto the gateway's typed
// options, one field per variable of SHIELD.md §3.2.
// ARQON_SCHEMA_STRICT_EXCEPTION is read by the preflight only, and logging
// by app.NewLogger.
func shieldOptions(cfg *config.Config) shield.Options {
	s := &cfg.Shield
	return shield.Options{
		Profile:                cfg.Profile,
		JWTSecret:              s.JWTSecret,
		SkipValidationSet:      s.SkipValidation.Present,
		SkipValidation:         s.SkipValidation.Present && s.SkipValidation.Value,
		NATSURL:                strings.Join(s.NATSURLs, ","),
		NATSCreds:              s.NATSCreds,
		SchemaStrict:           s.SchemaStrict,
		SchemaDir:              s.SchemaDir,
		PolicyPath:             s.PolicyWASMPath,
		Host:                   s.Host,
		Port:                   s.Port,
		MetricsPort:            s.MetricsPort,
		AllowQueryToken:        s.AllowQueryToken,
		AllowedOrigins:         s.AllowedOrigins,
		JWTLeeway:              s.JWTLeeway,
		JWTAudience:            s.JWTAudience,
		JWTIssuer:              s.JWTIssuer,
		MaxMessageSize:         int64(s.MaxMessageSize),
		MaxConnections:         s.MaxConnections,
		RateLimitPerSecond:     s.RateLimitPerSecond,
		RateLimitBurst:         s.RateLimitBurst,
		RateLimitMaxViolations: s.RateLimitMaxViolations,
		MaxViolations:          s.MaxViolations,
		SendQueueSize:          s.SendQueueSize,
		PingInterval:           s.PingInterval,
		PingTimeout:            s.PingTimeout,
		PolicyTimeout:          s.PolicyTimeout,
		PolicyMemoryLimit:      int64(s.PolicyMemoryLimit),
		JetStream:              s.JetStream,
		PublishTimeout:         s.PublishTimeout,
		ReturnPath:             s.ReturnPath,
		Welcome:                s.Welcome,
		MirrorRules:            s.MirrorRules,
		ShutdownTimeout:        s.ShutdownTimeout,
	}
}
