// Package operators implements the op.* commands of PROTOCOL.md §7 as a bus
// extension: op.store (tenant key/value store), op.webhook (HTTP callbacks on
// routed messages), op.cron (delayed and repeated publishing), op.omega (the
// feature-flagged experimental lane) and op.casil.get / op.casil.reload
// (OPERATIONS.md §8.7).
//
// Construct the Operators first, pass Extension() in bus.Options.Extensions,
// then give it the server with Attach. Close stops the webhook dispatcher.
package operators

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/arqonbus/arqonbus/internal/buildinfo"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/storage"
)

// Options configures the operator commands. Zero values get the defaults of
// OPERATIONS.md §4.8–§4.9.
type Options struct {
	Store   storage.Store
	Metrics *metrics.Bus // nil: webhook outcomes are not counted
	Logger  *slog.Logger

	OmegaEnabled       bool
	OmegaLabRoom       string // default omega-lab
	OmegaLabChannel    string // default signals
	OmegaMaxEvents     int    // default 1000
	OmegaMaxSubstrates int    // default 128

	// WebhookAllowPrivateNetworks lets deliveries reach loopback, link-local,
	// RFC 1918, CGNAT and IPv6 ULA addresses (OPERATIONS.md §4.8).
	WebhookAllowPrivateNetworks bool

	// Version goes into the webhook User-Agent (arqonbus/<version>); default
	// buildinfo.Version.
	Version string

	// ShutdownTimeout bounds how long Close waits for in-flight webhook
	// deliveries (ARQONBUS_SHUTDOWN_TIMEOUT); default 10 s.
	ShutdownTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OmegaLabRoom == "" {
		o.OmegaLabRoom = "omega-lab"
	}
	if o.OmegaLabChannel == "" {
		o.OmegaLabChannel = "signals"
	}
	if o.OmegaMaxEvents <= 0 {
		o.OmegaMaxEvents = 1000
	}
	if o.OmegaMaxSubstrates <= 0 {
		o.OmegaMaxSubstrates = 128
	}
	if o.Version == "" {
		o.Version = buildinfo.Version
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
}

// Fixed limits of PROTOCOL.md Appendix B.
const (
	maxStoreKeys      = 10000
	maxStoreValue     = 65536
	maxStoreKeyLen    = 256
	maxNamespaceLen   = 128
	maxWebhookRules   = 100
	maxWebhookTimeout = 30.0
	maxCronJobs       = 100
	maxCronSeconds    = 86400.0
	minCronInterval   = 0.1
	maxCronRepeats    = 10000
)

// Operators holds the state of every op.* command. It is safe for concurrent
// use.
type Operators struct {
	opts  Options
	store storage.Store
	log   *slog.Logger

	srvMu sync.RWMutex
	srv   *bus.Server

	storeLocks sync.Map // tenant -> *sync.Mutex: serialises the key-limit check and the write

	hooks *webhooks
	crons *crons
	omega *omega

	casilMu sync.Mutex // serialises op.casil.reload (read-modify-swap)
}

// New builds the operators. Call Attach with the bus server before serving.
func New(opts Options) *Operators {
	opts.setDefaults()
	o := &Operators{opts: opts, store: opts.Store, log: opts.Logger.With("component", "operators")}
	o.hooks = newWebhooks(o)
	o.crons = newCrons(o)
	o.omega = newOmega(o)
	return o
}

// Attach gives the operators the server they publish through (cron firings,
// omega events) and whose CASIL engine op.casil.* manage.
func (o *Operators) Attach(srv *bus.Server) {
	o.srvMu.Lock()
	o.srv = srv
	o.srvMu.Unlock()
}

func (o *Operators) server() *bus.Server {
	o.srvMu.RLock()
	defer o.srvMu.RUnlock()
	return o.srv
}

// Extension returns the commands and lifecycle hooks to register with the
// bus.
func (o *Operators) Extension() bus.Extension {
	var cmds []bus.Command
	cmds = append(cmds, o.storeCommands()...)
	cmds = append(cmds, o.webhookCommands()...)
	cmds = append(cmds, o.cronCommands()...)
	cmds = append(cmds, o.casilCommands()...)
	cmds = append(cmds, o.omegaCommands()...)
	return bus.Extension{
		Commands:     cmds,
		OnDisconnect: o.onDisconnect,
		OnShutdown:   o.onShutdown,
		OnMessage:    o.hooks.onMessage,
	}
}

// onDisconnect drops what the connection owned (PROTOCOL.md §3.10): its cron
// jobs and webhook rules. Store data and omega state are unaffected.
func (o *Operators) onDisconnect(c bus.ClientInfo) {
	o.crons.cancelOwner(c.ID)
	o.hooks.removeOwner(c.ID)
}

// onShutdown cancels every cron job and waits for a firing in progress, so
// that no firing follows the shutdown notice (PROTOCOL.md §3.9 step 2).
func (o *Operators) onShutdown() {
	o.crons.stopAll()
}

// Close cancels the cron jobs and stops the webhook dispatcher: deliveries
// in flight may finish within Options.ShutdownTimeout, queued and pending
// retries are abandoned. Close is idempotent.
func (o *Operators) Close() {
	o.crons.stopAll()
	o.hooks.close(o.opts.ShutdownTimeout)
}

func (o *Operators) countWebhook(result string) {
	if o.opts.Metrics != nil {
		o.opts.Metrics.WebhookDeliveries.WithLabelValues(result).Inc()
	}
}

// storageFailure maps a storage error to STORAGE_UNAVAILABLE (PROTOCOL.md
// §6.3); the detail never carries a URL or credentials.
func storageFailure(err error) bus.Result {
	detail := "storage operation failed"
	if errors.Is(err, storage.ErrUnavailable) {
		detail = "storage backend is unhealthy"
	} else if errors.Is(err, context.DeadlineExceeded) {
		detail = "storage operation timed out"
	}
	return bus.Fail(protocol.CodeStorageUnavailable, "Storage unavailable: "+detail)
}

// publishErrorKind describes a Publish failure for logs without the backend's
// error text, which can name hosts or URLs.
func publishErrorKind(err error) string {
	switch {
	case errors.Is(err, bus.ErrChannelLimit):
		return "channel limit reached"
	case errors.Is(err, storage.ErrUnavailable):
		return "storage unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		return "storage timeout"
	}
	return "storage error"
}

// nullable renders "" as JSON null.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// tenantValue is the wire form of a tenant id: null for the default tenant.
func tenantValue(t string) any { return nullable(t) }

func now() time.Time { return time.Now().UTC() }
