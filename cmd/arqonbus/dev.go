package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/arqonbus/arqonbus/internal/app"
	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/redact"
	"github.com/arqonbus/arqonbus/internal/shield"
)

func init() {
	commands["dev"] = command{"Run the bus, Shield and an embedded NATS server in one process (no external services)", runDev}
}

// runDev is `arqonbus dev` (CLI.md §5): the whole stack in one process, with
// a session secret, ready-to-use tokens and the URLs printed as KEY=value
// lines on stdout.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, code := loadConfig(config.CommandDev, args, stdout, stderr)
	if cfg == nil {
		return code
	}
	logger := app.NewLogger(cfg, stderr)
	startupFailed := func(err error) int {
		logger.Error("startup failed", "component", "bus", "error", err.Error())
		return fail(stderr, err)
	}
	withShield := !cfg.Dev.NoShield

	var ns *natsserver.Server
	if withShield && !cfg.Dev.ExternalNATS {
		var err error
		ns, err = startEmbeddedNATS(cfg.Dev.NATSPort)
		if err != nil {
			return startupFailed(err)
		}
		defer ns.Shutdown()
		cfg.Shield.NATSURLs = []string{ns.ClientURL()}
	}

	bus, err := app.Start(ctx, cfg, logger)
	if err != nil {
		return startupFailed(err)
	}
	gwCtx, stopGW := context.WithCancel(context.Background())
	defer stopGW()
	var (
		gw       *shield.Gateway
		gwDone   chan error
		natsShow string
	)
	if withShield {
		gw, err = shield.New(shieldOptions(cfg), logger)
		if err != nil {
			bus.Stop()
			return startupFailed(err)
		}
		gwDone = make(chan error, 1)
		go func() { gwDone <- gw.Run(gwCtx) }()
		select {
		case <-gw.Ready():
		case err := <-gwDone:
			stopGW()
			bus.Stop()
			if err == nil {
				err = errors.New("shield stopped during startup")
			}
			return startupFailed(err)
		}
		natsShow = redact.URL(strings.Join(cfg.Shield.NATSURLs, ","))
	}

	if err := printDevBanner(stdout, stderr, cfg, bus, gw, natsShow); err != nil {
		logger.Warn("could not print the dev banner", "component", "bus", "error", err)
	}

	select {
	case <-ctx.Done():
	case <-bus.Done():
	}
	if withShield {
		stopGW()
		<-gwDone
	}
	bus.Stop()
	return exitOK
}

// startEmbeddedNATS runs core NATS (JetStream off) on loopback.
func startEmbeddedNATS(port int) (*natsserver.Server, error) {
	if port == 0 {
		port = natsserver.RANDOM_PORT
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded NATS did not start within 10s")
	}
	return ns, nil
}

// printableAddr shows a wildcard bind host as loopback (CLI.md §5).
func printableAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch host {
	case "0.0.0.0", "":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

func printDevBanner(stdout, stderr io.Writer, cfg *config.Config, bus *app.Bus, gw *shield.Gateway, natsURL string) error {
	now := time.Now()
	secret := []byte(cfg.Bus.AuthJWTSecret)
	mint := func(sub, role string, tenant bool) (string, error) {
		claims := map[string]any{"sub": sub, "role": role, "iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix()}
		if tenant {
			claims["tenant_id"] = "dev"
		}
		return auth.Sign("HS256", secret, claims)
	}
	admin, err := mint("dev-admin", "admin", true)
	if err != nil {
		return err
	}
	user, err := mint("dev-user", "user", true)
	if err != nil {
		return err
	}
	operator, err := mint("dev-operator", "admin", false)
	if err != nil {
		return err
	}
	storage := "memory storage"
	if cfg.Bus.StorageBackend != "memory" {
		storage = cfg.Bus.StorageBackend + " storage (" + cfg.Bus.StorageMode + ")"
	}
	natsDesc := ", embedded NATS"
	switch {
	case gw == nil:
		natsDesc = ", Shield off"
	case cfg.Dev.ExternalNATS:
		natsDesc = ", external NATS"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ArqonBus dev stack — development profile, %s%s. Ctrl-C stops everything.\n", storage, natsDesc)
	kv := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, v) }
	kv("BUS_WS_URL", "ws://"+printableAddr(bus.Addr())+"/ws")
	if a := bus.TelemetryAddr(); a != "" {
		kv("TELEMETRY_WS_URL", "ws://"+printableAddr(a)+"/")
	}
	if a := bus.HTTPAddr(); a != "" {
		kv("HTTP_URL", "http://"+printableAddr(a))
	}
	if gw != nil {
		kv("SHIELD_WS_URL", "ws://"+printableAddr(gw.Addr())+"/ws")
		kv("SHIELD_METRICS_URL", "http://"+printableAddr(gw.MetricsAddr()))
		kv("NATS_URL", natsURL)
		kv("JWT_SECRET", cfg.Shield.JWTSecret)
		if cfg.Shield.JWTSecret != cfg.Bus.AuthJWTSecret {
			kv("ARQONBUS_AUTH_JWT_SECRET", cfg.Bus.AuthJWTSecret)
		}
	} else {
		kv("ARQONBUS_AUTH_JWT_SECRET", cfg.Bus.AuthJWTSecret)
	}
	kv("ADMIN_TOKEN", admin)
	kv("USER_TOKEN", user)
	kv("OPERATOR_TOKEN", operator)
	kv("ADMIN_API_KEY", cfg.Bus.AdminAPIKey)
	b.WriteString("READY\n")
	if _, err := io.WriteString(stdout, b.String()); err != nil {
		return err
	}
	ws := "ws://" + printableAddr(bus.Addr()) + "/ws"
	fmt.Fprintf(stderr, "\nTry it (in other terminals):\n"+
		"  ARQONBUS_AUTH_JWT=%[1]s arqonbus tail --ws-url %[2]s --channel science:general\n"+
		"  ARQONBUS_AUTH_JWT=%[1]s arqonbus send --ws-url %[2]s --channel science:general --payload '{\"content\":\"hello\"}'\n"+
		"  ARQONBUS_AUTH_JWT=%[1]s arqonbus send --ws-url %[2]s --command history --args '{\"room\":\"science\",\"channel\":\"general\"}'\n"+
		"  arqonbus status --http-url http://%[3]s\n\n", user, ws, printableAddr(bus.HTTPAddr()))
	return nil
}
