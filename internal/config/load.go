package config

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/redact"
)

// Load parses args (the command's flags, without the command name) and
// environ (KEY=value entries, as os.Environ returns) for cmd.
//
// It returns ErrHelp when args ask for help, a *UsageError for a usage
// problem (exit 2), or *Errors listing every configuration problem (exit 1).
func Load(cmd Command, args []string, environ []string) (*Config, error) {
	f, err := parseArgs(cmd, args)
	if err != nil {
		return nil, err
	}
	return LoadFlags(f, environ)
}

// LoadFlags is Load for a command that parsed its FlagSet itself after
// BindFlags (preflight, which has flags of its own).
func LoadFlags(f *Flags, environ []string) (*Config, error) {
	natsPort, err := f.devNATSPort()
	if err != nil {
		return nil, err
	}
	l := &loader{
		cmd:    f.cmd,
		flags:  f,
		env:    parseEnviron(environ),
		failed: map[string]bool{},
		cfg:    &Config{Command: f.cmd, Explicit: map[string]bool{}},
	}
	if f.cmd == CommandPreflight {
		if v, ok := f.byVar["ARQONBUS_ENVIRONMENT"]; ok && v.set && strings.TrimSpace(v.value) != "" {
			spec := varsByName["ARQONBUS_ENVIRONMENT"]
			if _, msg := parseEnum("--profile", strings.TrimSpace(v.value), spec.values, spec.valueAl); msg != "" {
				return nil, &UsageError{Message: msg}
			}
		}
	}
	if f.cmd == CommandDev {
		l.cfg.Dev.NoShield = f.noShield
		l.cfg.Dev.NATSPort = natsPort
		l.applyDevRedis()
	}
	l.warnUnknown()
	for _, v := range vars {
		if v.scope.has(f.cmd) {
			l.resolve(v)
		}
	}
	l.applyDynamicDefaults()
	l.validate()
	if len(l.errs.list) > 0 {
		return nil, &Errors{List: l.errs.list}
	}
	return l.cfg, nil
}

type envEntry struct {
	value string // trimmed
}

// parseEnviron keeps the first entry of each name, as os.Getenv does.
func parseEnviron(environ []string) map[string]envEntry {
	m := make(map[string]envEntry, len(environ))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if _, dup := m[k]; !dup {
			m[k] = envEntry{value: strings.TrimSpace(v)}
		}
	}
	return m
}

type loader struct {
	cmd     Command
	flags   *Flags
	env     map[string]envEntry
	cfg     *Config
	errs    errList
	failed  map[string]bool // variables whose value did not parse
	skipMsg string          // JWT_SKIP_VALIDATION parse error, reported by profile
}

func (l *loader) warn(msg string, attrs ...slog.Attr) {
	l.cfg.Warnings = append(l.cfg.Warnings, Warning{Message: msg, Attrs: attrs})
}

func (l *loader) warnUnknown() {
	var names []string
	for k := range l.env {
		if (strings.HasPrefix(k, "ARQONBUS_") || strings.HasPrefix(k, "ARQON_SHIELD_")) && !knownNames[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		l.warn(WarnUnknown, slog.String("name", n))
	}
}

// applyDevRedis expands dev's --redis URL into --storage-backend redis
// --redis-url URL, unless those flags were given themselves.
func (l *loader) applyDevRedis() {
	r := l.flags.redis
	if r == nil || !r.set || strings.TrimSpace(r.value) == "" {
		return
	}
	if b := l.flags.byVar["ARQONBUS_STORAGE_BACKEND"]; !b.set {
		_ = b.Set("redis")
	}
	if u := l.flags.byVar["ARQONBUS_REDIS_URL"]; !u.set {
		_ = u.Set(r.value)
	} else if strings.TrimSpace(u.value) != strings.TrimSpace(r.value) {
		l.errs.add(RuleConflict, "--redis and --redis-url are both set with different values", "ARQONBUS_REDIS_URL")
	}
}

// lookup returns the raw value of v and the label to use in messages, after
// trimming, aliases and flags; ok is false when v is unset.
func (l *loader) lookup(v *varSpec) (raw, label string, ok bool) {
	if e, set := l.env[v.name]; set && e.value != "" {
		raw, label, ok = e.value, v.name, true
	}
	for _, a := range v.aliases {
		e, set := l.env[a.name]
		if !set || e.value == "" {
			continue
		}
		if ok && e.value != raw {
			l.errs.add(RuleConflict, fmt.Sprintf("%s and %s are both set with different values", a.name, v.name), v.name, a.name)
			l.failed[v.name] = true
			continue
		}
		if a.deprecated {
			l.warn(WarnDeprecated, slog.String("name", a.name), slog.String("replacement", v.name))
		}
		if !ok {
			raw, label, ok = e.value, a.name, true
		}
	}
	if rf, has := l.flags.byVar[v.name]; has && rf.set {
		if fv := strings.TrimSpace(rf.value); fv != "" {
			name := "--" + l.flags.names[v.name]
			if v.kind == kindSecret {
				l.warn(WarnSecretFlag, slog.String("flag", name))
			}
			raw, label, ok = fv, name, true
		}
	}
	return raw, label, ok
}

func (l *loader) resolve(v *varSpec) {
	if v.kind == kindPresence {
		l.resolveSkipValidation()
		return
	}
	raw, label, ok := l.lookup(v)
	if l.failed[v.name] {
		return
	}
	if ok {
		l.cfg.Explicit[v.name] = true
	} else {
		if v.def == "" {
			return // unset; dynamic defaults are applied later
		}
		raw, label = v.def, v.name
	}
	value, msgs := parseValue(v, label, raw)
	if len(msgs) > 0 {
		for _, m := range msgs {
			l.errs.add(RuleValue, m, v.name)
		}
		l.failed[v.name] = true
		return
	}
	if v.name == "ARQONBUS_ENABLE_PERSISTENCE" {
		l.warn(WarnPersistenceFlag, slog.String("name", v.name))
		return
	}
	if v.field != nil {
		assign(v.field(l.cfg), value)
	}
}

func (l *loader) resolveSkipValidation() {
	e, present := l.env["JWT_SKIP_VALIDATION"]
	if !present {
		return
	}
	sv := &l.cfg.Shield.SkipValidation
	sv.Present = true
	l.cfg.Explicit["JWT_SKIP_VALIDATION"] = true
	if e.value == "" {
		sv.Value = true
		return
	}
	b, msg := parseBool("JWT_SKIP_VALIDATION", e.value)
	if msg != "" {
		l.failed["JWT_SKIP_VALIDATION"] = true
		l.skipMsg = msg
		return
	}
	sv.Value = b
}

// parseValue parses raw for v; label names the source in messages.
func parseValue(v *varSpec, label, raw string) (any, []string) {
	one := func(x any, msg string) (any, []string) {
		if msg != "" {
			return nil, []string{msg}
		}
		return x, nil
	}
	switch v.kind {
	case kindString, kindSecret, kindPath:
		return raw, nil
	case kindHost:
		return one(parseHost(label, raw))
	case kindBool:
		return one(parseBool(label, raw))
	case kindInt:
		return one(parseInt(label, raw, v.rng))
	case kindNumber:
		return one(parseNumber(label, raw, v.rng))
	case kindDuration:
		return one(parseDuration(label, raw, v.rng))
	case kindEnum:
		s, msg := parseEnum(label, raw, v.values, v.valueAl)
		if msg != "" && v.name == "ARQONBUS_STORAGE_BACKEND" {
			msg = fmt.Sprintf("Unsupported storage backend: %s. Expected one of: %s", raw, strings.Join(v.values, ", "))
		}
		return one(s, msg)
	case kindList:
		return one(parseList(label, raw))
	case kindRegexList:
		res, msgs := parseRegexList(label, raw)
		return res, msgs
	case kindGlobList:
		res, msgs := parseGlobList(label, raw)
		return res, msgs
	case kindURL:
		return one(parseURL(label, raw, v.schemes))
	case kindURLList:
		return one(parseURLList(label, raw, v.schemes))
	case kindMirrorRules:
		res, msgs := parseMirrorRules(label, raw)
		return res, msgs
	}
	return nil, []string{fmt.Sprintf("%s: unsupported variable type", label)}
}

// assign stores a parsed value into the field pointer p.
func assign(p any, value any) {
	switch dst := p.(type) {
	case *string:
		*dst = value.(string)
	case *bool:
		*dst = value.(bool)
	case *int:
		*dst = value.(int)
	case *float64:
		*dst = value.(float64)
	case *time.Duration:
		*dst = value.(time.Duration)
	case *[]string:
		*dst = value.([]string)
	case *[]*regexp.Regexp:
		*dst = value.([]*regexp.Regexp)
	case *[]MirrorRule:
		*dst = value.([]MirrorRule)
	}
}

func (l *loader) applyDynamicDefaults() {
	c := l.cfg
	if !l.cfg.Explicit["ARQONBUS_ENVIRONMENT"] && !l.failed["ARQONBUS_ENVIRONMENT"] && l.cmd == CommandPreflight {
		c.Profile = ProfileProduction
	}
	if c.Profile == "" {
		c.Profile = ProfileDevelopment
	}
	if !c.Explicit["ARQONBUS_LOG_FORMAT"] {
		if c.Profile == ProfileDevelopment {
			c.LogFormat = "text"
		} else {
			c.LogFormat = "json"
		}
	}
	if !l.readsBus() {
		return
	}
	if !c.Explicit["ARQONBUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS"] {
		c.Bus.WebhookAllowPrivateNetworks = c.Profile == ProfileDevelopment
	}
	if l.cmd == CommandDev && !c.Explicit["ARQONBUS_ENABLE_AUTH"] {
		c.Bus.EnableAuth = true
	}
	if !c.Explicit["ARQONBUS_STORAGE_BACKEND"] {
		c.Bus.StorageBackend = "memory"
		if c.Explicit["ARQONBUS_REDIS_URL"] || c.Explicit["ARQONBUS_REDIS_HOST"] {
			c.Bus.StorageBackend = "redis"
		}
	}
	if !c.Explicit["ARQONBUS_NODE_ID"] {
		c.Bus.NodeID = "node_" + randomHex(6)
	}
	if !c.Explicit["ARQONBUS_REDIS_URL"] {
		scheme := "redis"
		if c.Bus.RedisSSL {
			scheme = "rediss"
		}
		u := url.URL{Scheme: scheme, Host: net.JoinHostPort(c.Bus.RedisHost, strconv.Itoa(c.Bus.RedisPort)), Path: "/" + strconv.Itoa(c.Bus.RedisDB)}
		if c.Bus.RedisPassword != "" {
			u.User = url.UserPassword("", c.Bus.RedisPassword)
		}
		c.Bus.RedisURL = u.String()
	}
	c.Bus.RedisURLRedacted = redact.URL(c.Bus.RedisURL)
	if l.cmd == CommandDev {
		l.devSecrets()
	}
}

func (l *loader) readsBus() bool    { return l.cmd != CommandShield }
func (l *loader) readsShield() bool { return l.cmd != CommandServe && !l.cfg.Dev.NoShield }

// devSecrets shares or generates the secrets of `arqonbus dev` (CLI.md §5).
func (l *loader) devSecrets() {
	c := l.cfg
	c.Dev.ExternalNATS = c.Explicit["NATS_URL"]
	hs := strings.HasPrefix(c.Bus.AuthJWTAlgorithm, "HS")
	switch {
	case c.Shield.JWTSecret == "" && c.Bus.AuthJWTSecret == "":
		s := randomHex(32)
		c.Shield.JWTSecret = s
		if hs {
			c.Bus.AuthJWTSecret = s
		}
		c.Dev.GeneratedSecret = true
	case c.Shield.JWTSecret == "":
		c.Shield.JWTSecret = c.Bus.AuthJWTSecret
	case c.Bus.AuthJWTSecret == "" && hs:
		c.Bus.AuthJWTSecret = c.Shield.JWTSecret
	}
	if c.Bus.AdminAPIKey == "" {
		c.Bus.AdminAPIKey = randomHex(32)
		c.Dev.GeneratedAdminAPIKey = true
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// label returns the name to use in a message about v: its flag when the
// value came from a flag, else the variable name.
func (l *loader) label(name string) string {
	if rf, ok := l.flags.byVar[name]; ok && rf.set && strings.TrimSpace(rf.value) != "" {
		return "--" + l.flags.names[name]
	}
	return name
}

func readable(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	return f.Close()
}
