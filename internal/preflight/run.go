package preflight

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/arqonbus/arqonbus/internal/buildinfo"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/redact"
)

// Options is one preflight run (PREFLIGHT.md §2).
type Options struct {
	// Environ is the process environment (os.Environ()).
	Environ []string
	// ConfigFlags are the configuration flags given on the command line, by
	// flag name: profile, nats-url, incident-dir.
	ConfigFlags map[string]string
	// Argv is the full command line, recorded in the incident (§6).
	Argv []string
	// Component is "bus", "shield" or "all" (the default).
	Component string
	// Runtime and Gates add the checks of §8 and §9.
	Runtime, Gates bool
	// Source is the checkout the gates run in (default: working directory).
	Source string
	// Timeout bounds every network probe (default 3s).
	Timeout time.Duration
	// URLs override the runtime endpoints; empty fields take the defaults of §2.
	URLs RuntimeURLs
	// FailOnWarning makes warnings a NO-GO.
	FailOnWarning bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// DefaultTimeout is the default of --timeout.
const DefaultTimeout = 3 * time.Second

// Load runs the one configuration loader for preflight. The error is a
// *config.UsageError (a bad --profile) or config.ErrHelp; configuration
// problems are not errors but checks.
func Load(opts *Options) (*config.Config, error) {
	l, err := loadConfig(opts.ConfigFlags, opts.Environ)
	if err != nil {
		return nil, err
	}
	return l.cfg, nil
}

// Run evaluates every catalog check and returns the report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Component == "" {
		opts.Component = "all"
	}
	l, err := loadConfig(opts.ConfigFlags, opts.Environ)
	if err != nil {
		return nil, err
	}
	r := newRules(l)
	vcs := readVCS()
	rep := &Report{
		Schema:        Schema,
		Profile:       l.cfg.Profile,
		StartedAt:     start,
		FailOnWarning: opts.FailOnWarning,
		Binary:        Binary{Version: buildinfo.Version, Commit: vcs.revision, Modified: vcs.modified, Go: runtime.Version()},
		Argv:          opts.Argv,
		Environment:   envSnapshot(opts.Environ, l.cfg),
		secrets:       collectSecrets(opts.Environ, l, r),
	}
	if rep.Binary.Commit == "" {
		rep.Binary.Commit = "unknown"
	}
	wanted := func(d Definition) bool {
		switch opts.Component {
		case "bus":
			return d.comp != compShield
		case "shield":
			return d.comp != compBus
		}
		return true
	}
	urls := r.defaultURLs()
	if opts.URLs.BusHTTP != "" {
		urls.BusHTTP = opts.URLs.BusHTTP
	}
	if opts.URLs.Telemetry != "" {
		urls.Telemetry = opts.URLs.Telemetry
	}
	if opts.URLs.Shield != "" {
		urls.Shield = opts.URLs.Shield
	}

	// Dependency probes and runtime checks run concurrently (§1, §8).
	results := map[string]Result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	timed := func(ids []string, f func() []Result) {
		for _, id := range ids {
			if !wanted(definition(id)) {
				return
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			out := f()
			d := time.Since(t0).Milliseconds()
			mu.Lock()
			defer mu.Unlock()
			for i, id := range ids {
				out[i].Duration = d
				results[id] = out[i]
			}
		}()
	}
	timed([]string{IDRedisReach, IDRedisDurable}, func() []Result {
		a, b := r.probeRedis(ctx, opts.Timeout)
		return []Result{a, b}
	})
	timed([]string{IDNATSReach}, func() []Result { return []Result{r.probeNATS(ctx, opts.Timeout)} })
	timed([]string{IDOllama}, func() []Result { return []Result{r.probeOllama(ctx, opts.Timeout)} })
	timed([]string{IDPolicy}, func() []Result { return []Result{r.checkPolicy(ctx)} })
	if opts.Runtime {
		timed([]string{IDBusHealth}, func() []Result { return []Result{busHealth(ctx, urls.BusHTTP, opts.Timeout)} })
		timed([]string{IDTelemetryWS}, func() []Result {
			return []Result{r.telemetryConnect(ctx, urls.Telemetry, opts.Timeout)}
		})
		timed([]string{IDShieldNoTok}, func() []Result {
			return []Result{shieldRejectsMissingToken(ctx, urls.Shield, opts.Timeout)}
		})
		timed([]string{IDShieldRoute}, func() []Result {
			return []Result{r.shieldRoutesValidToken(ctx, urls.Shield, opts.Timeout)}
		})
	}
	wg.Wait()
	if opts.Gates {
		src := opts.Source
		if src == "" {
			src, _ = os.Getwd()
		}
		for id, res := range runGates(ctx, src) {
			results[id] = res
		}
		rep.Source = sourceInfo(ctx, src)
	}

	development := l.cfg.Profile == config.ProfileDevelopment
	for _, d := range Catalog {
		var res Result
		switch {
		case !wanted(d):
			res = skip("not requested")
		case d.kind == kindRuntime && !opts.Runtime, d.kind == kindGate && !opts.Gates:
			res = skip("not requested")
		case d.ID == IDToolchain:
			res = toolchainCheck(runtime.Version())
		case d.ID == IDBuildClean:
			res = buildCleanCheck(vcs)
		case d.ID == IDServices:
			continue // rolled up below
		case len(r.owned[d.ID]) > 0:
			res = r.configCheck(d.ID)
		default:
			var found bool
			if res, found = results[d.ID]; !found {
				t0 := time.Now()
				res = r.configCheck(d.ID)
				res.Duration = time.Since(t0).Milliseconds()
			}
		}
		if development && (d.kind == kindConfig || d.kind == kindDependency) && res.Status == StatusFail && !res.always {
			res.Status = StatusWarn
		}
		res.ID, res.Severity, res.Class, res.Runbook = d.ID, d.Severity, d.Class, d.Runbook
		rep.Checks = append(rep.Checks, res)
	}
	rep.Checks = insertServices(rep.Checks, development)
	rep.DurationMS = now().Sub(start).Milliseconds()
	rep.finish()
	return rep, nil
}

// insertServices adds the pre.services roll-up (§3.5) in its catalog place.
func insertServices(checks []Result, development bool) []Result {
	var failed, warned, applied []string
	for _, c := range checks {
		if definition(c.ID).kind != kindDependency || c.Class != ClassDependency {
			continue
		}
		switch c.Status {
		case StatusFail:
			failed = append(failed, c.ID)
		case StatusWarn:
			warned = append(warned, c.ID)
		case StatusOK:
			applied = append(applied, c.ID)
		}
	}
	var res Result
	switch {
	case len(failed) > 0:
		res = fail("required dependency unreachable: "+strings.Join(failed, ", "),
			"see the failing dependency checks below")
		if development {
			res.Status = StatusWarn
		}
	case len(warned) > 0:
		res = warn("dependency warnings: "+strings.Join(warned, ", "), "see the dependency checks below")
	case len(applied) > 0:
		res = ok("reachable: " + strings.Join(applied, ", "))
	default:
		res = skip("no dependency probe applies")
	}
	d := definition(IDServices)
	res.ID, res.Severity, res.Class, res.Runbook = d.ID, d.Severity, d.Class, d.Runbook
	out := make([]Result, 0, len(checks)+1)
	for _, c := range checks {
		out = append(out, c)
		if c.ID == IDBuildClean {
			out = append(out, res)
		}
	}
	return out
}

// isSnapshotVar reports whether an environment variable belongs in the
// incident's environment snapshot (§6).
func isSnapshotVar(k string) bool {
	for _, p := range []string{"ARQONBUS_", "ARQON_", "JWT_", "NATS_", "OLLAMA_", "SHIELD_"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return k == "POLICY_WASM_PATH"
}

// envSnapshot is the redacted environment snapshot of §6.
func envSnapshot(environ []string, cfg *config.Config) map[string]string {
	m := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !isSnapshotVar(k) {
			continue
		}
		if _, dup := m[k]; dup {
			continue
		}
		if redact.IsSecretName(k) {
			m[k] = redact.Summary(strings.TrimSpace(v))
		} else {
			m[k] = redact.Text(v)
		}
	}
	return m
}

// collectSecrets lists every secret value this run knows, for the final scrub.
func collectSecrets(environ []string, l *loaded, r *rules) []string {
	set := map[string]bool{}
	add := func(v string) {
		for _, s := range []string{v, strings.TrimSpace(v)} {
			// Short values and the public known defaults are not scrubbed:
			// replacing "secret" or "true" everywhere would mangle check IDs
			// and details, and they cannot be leaked by being shown.
			if len(s) < 8 || config.IsKnownDefaultSecret(s) {
				continue
			}
			set[s] = true
			if b, err := json.Marshal(s); err == nil {
				set[string(b[1:len(b)-1])] = true
			}
			if e := url.QueryEscape(s); e != s {
				set[e] = true
			}
		}
	}
	addURL := func(raw string) {
		for _, part := range strings.Split(raw, ",") {
			u, err := url.Parse(strings.TrimSpace(part))
			if err != nil || u.User == nil {
				continue
			}
			if p, ok := u.User.Password(); ok {
				add(p)
			} else {
				add(u.User.Username()) // NATS token URLs
			}
			for k, vs := range u.Query() {
				if redact.IsSecretName(k) || strings.EqualFold(k, "token") {
					for _, v := range vs {
						add(v)
					}
				}
			}
		}
	}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if redact.IsSecretName(k) {
			add(v)
		} else if strings.Contains(v, "://") {
			addURL(v)
		}
	}
	c := l.cfg
	add(r.secret)
	add(c.Shield.JWTSecret)
	add(c.Bus.AuthJWTSecret)
	add(c.Bus.AdminAPIKey)
	add(c.Bus.RedisPassword)
	addURL(c.Bus.RedisURL)
	addURL(strings.Join(c.Shield.NATSURLs, ","))
	addURL(c.Bus.Ollama.URL)
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}
