package shield

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publish failure reasons (SHIELD.md §9.10).
const (
	publishReasonDisconnected = "nats disconnected"
	publishReasonTimeout      = "publish timeout"
	publishReasonJetStream    = "jetstream error"
)

// jetStreamProbeSubject is the subject whose capturing stream is looked up
// at startup (SHIELD.md §4.1 step 7).
const jetStreamProbeSubject = "in.t.probe.raw"

// redactURLs replaces user info in each URL of a comma-separated list:
// a password becomes ***, and a bare user (a token) becomes ***.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		if err != nil || u.User == nil {
			if err != nil && strings.Contains(p, "@") {
				p = "***"
			}
			parts[i] = p
			continue
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "***")
		} else {
			u.User = url.User("***")
		}
		parts[i] = strings.ReplaceAll(u.String(), "%2A%2A%2A", "***")
	}
	return strings.Join(parts, ",")
}

// upstream is Shield's NATS side: the connection, publishes and the
// JetStream readiness state.
type upstream struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	jsEnabled bool
	timeout   time.Duration
	jsFailed  atomic.Bool
	logger    *slog.Logger
}

type publishResult struct {
	stream    string
	seq       uint64
	duplicate bool
}

func connectUpstream(ctx context.Context, o *Options, logger *slog.Logger) (*upstream, error) {
	redacted := redactURLs(o.NATSURL)
	opts := []nats.Option{
		nats.Name("arqon-shield"),
		nats.Timeout(5 * time.Second),
		nats.RetryOnFailedConnect(false),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, time.Second),
		// A publish while disconnected must fail, never be queued silently.
		nats.ReconnectBufSize(-1),
		nats.DrainTimeout(o.ShutdownTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil { // our own close or drain at shutdown: not an outage
				logger.Debug("nats connection closed")
				return
			}
			logger.Warn("nats disconnected", "error", err.Error())
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", "url", redactURLs(nc.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			logger.Warn("nats async error", "subject", subj, "error", err.Error())
		}),
	}
	if o.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(o.NATSCreds))
	}
	nc, err := nats.Connect(o.NATSURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("NATS unreachable at %s: %v", redacted, err)
	}
	logger.Info("nats connected", "url", redactURLs(nc.ConnectedUrlRedacted()))
	u := &upstream{nc: nc, jsEnabled: o.JetStream, timeout: o.PublishTimeout, logger: logger}
	if o.JetStream {
		u.js, err = jetstream.New(nc)
		if err == nil {
			err = u.probeStream(ctx)
		}
		if err != nil {
			nc.Close()
			return nil, errors.New("JetStream publishing is enabled but no stream captures subject " + jetStreamProbeSubject)
		}
	}
	return u, nil
}

func (u *upstream) probeStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := u.js.StreamNameBySubject(ctx, jetStreamProbeSubject)
	return err
}

func (u *upstream) connected() bool { return u != nil && u.nc != nil && u.nc.IsConnected() }

// publish sends msg and returns the publish failure reason on error.
func (u *upstream) publish(ctx context.Context, msg *nats.Msg) (publishResult, string) {
	if !u.connected() {
		return publishResult{}, publishReasonDisconnected
	}
	if !u.jsEnabled {
		if err := u.nc.PublishMsg(msg); err != nil {
			return publishResult{}, publishReasonDisconnected
		}
		return publishResult{}, ""
	}
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	ack, err := u.js.PublishMsg(ctx, msg, jetstream.WithRetryAttempts(0))
	if err != nil {
		u.jsFailed.Store(true)
		switch {
		case !u.connected():
			return publishResult{}, publishReasonDisconnected
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
			return publishResult{}, publishReasonTimeout
		default:
			return publishResult{}, publishReasonJetStream
		}
	}
	u.jsFailed.Store(false)
	return publishResult{stream: ack.Stream, seq: ack.Sequence, duplicate: ack.Duplicate}, ""
}

// watchJetStream re-checks a failed JetStream every 30 s until ctx ends.
func (u *upstream) watchJetStream(ctx context.Context) {
	if !u.jsEnabled {
		return
	}
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if u.jsFailed.Load() && u.probeStream(ctx) == nil {
				u.jsFailed.Store(false)
			}
		}
	}
}

// drain flushes pending publishes and closes the connection within budget.
func (u *upstream) drain(budget time.Duration) {
	if u == nil || u.nc == nil {
		return
	}
	if u.nc.IsClosed() {
		return
	}
	done := make(chan struct{})
	u.nc.SetClosedHandler(func(*nats.Conn) { close(done) })
	if err := u.nc.Drain(); err != nil {
		u.nc.Close()
		return
	}
	select {
	case <-done:
	case <-time.After(budget):
		u.nc.Close()
	}
}
