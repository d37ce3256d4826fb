package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/arqonbus/arqonbus/internal/auth"
)

var (
	roomName = regexp.MustCompile(roomPattern)
	nodeID   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// validate applies the cross-field rules of OPERATIONS.md §3, §4, §11 and
// SHIELD.md §3.3. A rule is skipped when a value it needs did not parse.
func (l *loader) validate() {
	c := l.cfg
	if l.cmd == CommandDev && !l.failed["ARQONBUS_ENVIRONMENT"] && c.Profile != ProfileDevelopment {
		l.errs.add(RuleProfile, "dev runs only in the development profile", "ARQONBUS_ENVIRONMENT")
	}
	if l.readsBus() {
		l.validateBus()
	}
	if l.readsShield() {
		l.validateShield()
	}
	l.validateListeners()
}

func (l *loader) ok(names ...string) bool {
	for _, n := range names {
		if l.failed[n] {
			return false
		}
	}
	return true
}

func (l *loader) validateBus() {
	c, b := l.cfg, &l.cfg.Bus
	if b.DevAdmin && c.IsProd() && l.ok("ARQONBUS_ENVIRONMENT") {
		l.errs.add(RuleProfile, "ARQONBUS_DEV_ADMIN is only allowed in the development profile", "ARQONBUS_DEV_ADMIN")
	}
	if b.StorageMode == "strict" && b.StorageBackend == "memory" && l.ok("ARQONBUS_STORAGE_BACKEND", "ARQONBUS_STORAGE_MODE") {
		l.errs.add(RuleCombination, "Storage mode 'strict' requires Redis backend (redis or valkey)",
			"ARQONBUS_STORAGE_BACKEND", "ARQONBUS_STORAGE_MODE")
	}
	l.validateBusAuth()
	if len(b.CASIL.RedactionPatterns) > b.CASIL.MaxPatterns && b.CASIL.MaxPatterns > 0 &&
		l.ok("ARQONBUS_CASIL_MAX_PATTERNS", "ARQONBUS_CASIL_REDACTION_PATTERNS") {
		l.errs.add(RuleCombination, fmt.Sprintf("ARQONBUS_CASIL_REDACTION_PATTERNS: %d patterns exceed ARQONBUS_CASIL_MAX_PATTERNS (%d)",
			len(b.CASIL.RedactionPatterns), b.CASIL.MaxPatterns), "ARQONBUS_CASIL_REDACTION_PATTERNS", "ARQONBUS_CASIL_MAX_PATTERNS")
	}
	if !roomName.MatchString(b.Omega.LabRoom) && l.ok("ARQONBUS_OMEGA_LAB_ROOM") {
		l.errs.add(RuleValue, "Tier-Omega lab_room must match "+roomPattern, "ARQONBUS_OMEGA_LAB_ROOM")
	}
	if !roomName.MatchString(b.Omega.LabChannel) && l.ok("ARQONBUS_OMEGA_LAB_CHANNEL") {
		l.errs.add(RuleValue, "Tier-Omega lab_channel must match "+roomPattern, "ARQONBUS_OMEGA_LAB_CHANNEL")
	}
	if c.Explicit["ARQONBUS_NODE_ID"] && !nodeID.MatchString(b.NodeID) {
		l.errs.add(RuleValue, fmt.Sprintf("%s: invalid value %q (must match [A-Za-z0-9_-]{1,64})", l.label("ARQONBUS_NODE_ID"), b.NodeID), "ARQONBUS_NODE_ID")
	}
	if c.Explicit["ARQONBUS_NATS_URL"] || l.failed["ARQONBUS_NATS_URL"] {
		// Reported whatever the value: a build must never silently run single-node.
		l.dropErrors("ARQONBUS_NATS_URL")
		l.errs.add(RuleUnavailable, "ARQONBUS_NATS_URL: multi-node mode is not available in this build", "ARQONBUS_NATS_URL")
	}
}

// dropErrors removes earlier problems owned by name.
func (l *loader) dropErrors(name string) {
	kept := l.errs.list[:0]
	for _, fe := range l.errs.list {
		if len(fe.Vars) == 0 || fe.Vars[0] != name {
			kept = append(kept, fe)
		}
	}
	l.errs.list = kept
}

func (l *loader) validateBusAuth() {
	b := &l.cfg.Bus
	if !l.ok("ARQONBUS_ENABLE_AUTH", "ARQONBUS_AUTH_JWT_ALGORITHM") {
		return
	}
	alg := b.AuthJWTAlgorithm
	hs := strings.HasPrefix(alg, "HS")
	if b.AuthJWTSecret != "" && b.AuthJWTPublicKeyFile != "" {
		l.errs.add(RuleCombination, "ARQONBUS_AUTH_JWT_SECRET and ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE are mutually exclusive",
			"ARQONBUS_AUTH_JWT_SECRET", "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE")
		return
	}
	if b.EnableAuth && hs && b.AuthJWTSecret == "" {
		l.errs.add(RuleRequired, "JWT secret is required when authentication is enabled", "ARQONBUS_AUTH_JWT_SECRET", "ARQONBUS_ENABLE_AUTH")
	}
	if hs {
		return
	}
	if b.AuthJWTPublicKeyFile == "" {
		if b.EnableAuth {
			l.errs.add(RuleRequired, "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE is required for algorithm "+alg,
				"ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE", "ARQONBUS_AUTH_JWT_ALGORITHM")
		}
		return
	}
	key, err := auth.LoadPublicKey(b.AuthJWTPublicKeyFile, alg)
	if err != nil {
		var msg string
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			msg = fmt.Sprintf("%s: cannot read %q: %v", l.label("ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE"), b.AuthJWTPublicKeyFile, err)
		} else {
			// auth words a type mismatch as "key type <type> does not match algorithm <alg>".
			msg = "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE: " + err.Error()
		}
		l.errs.add(RuleValue, msg, "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE", "ARQONBUS_AUTH_JWT_ALGORITHM")
		return
	}
	b.AuthJWTPublicKey = key
}

func (l *loader) validateShield() {
	c, s := l.cfg, &l.cfg.Shield
	profileOK := l.ok("ARQONBUS_ENVIRONMENT")
	secret := s.JWTSecret // already trimmed (§2.2)
	if secret == "" {
		l.errs.add(RuleRequired, "JWT_SECRET must be configured for Shield startup", "JWT_SECRET")
	} else {
		if IsKnownDefaultSecret(secret) {
			l.errs.add(RuleKnownDefault, "JWT_SECRET is a known default value; configure a unique secret", "JWT_SECRET")
		}
		if c.IsProd() && profileOK {
			if len(secret) < 32 {
				l.errs.add(RuleWeakSecret, fmt.Sprintf("JWT_SECRET must be at least 32 bytes in staging/production (got %d)", len(secret)), "JWT_SECRET")
			}
			if isRepeatedChar(secret) {
				l.errs.add(RuleWeakSecret, "JWT_SECRET must not be a single repeated character in staging/production", "JWT_SECRET")
			}
		}
	}
	if s.SkipValidation.Present && profileOK {
		if c.IsProd() {
			l.errs.add(RuleProfile, "JWT_SKIP_VALIDATION is not allowed in staging/production", "JWT_SKIP_VALIDATION")
		} else if l.skipMsg != "" {
			l.errs.add(RuleValue, l.skipMsg, "JWT_SKIP_VALIDATION")
		}
	}
	if s.NATSCreds != "" {
		if err := readable(s.NATSCreds); err != nil {
			l.errs.add(RuleValue, fmt.Sprintf("%s: cannot read %q: %v", l.label("ARQON_SHIELD_NATS_CREDS"), s.NATSCreds, err), "ARQON_SHIELD_NATS_CREDS")
		}
	}
	if r := s.PolicyMemoryLimit % 65536; r != 0 {
		s.PolicyMemoryLimit += 65536 - r
	}
}

// isRepeatedChar reports whether s is one character repeated (at least twice).
func isRepeatedChar(s string) bool {
	r := []rune(s)
	if len(r) < 2 {
		return false
	}
	for _, x := range r[1:] {
		if x != r[0] {
			return false
		}
	}
	return true
}

type listener struct {
	portVar string
	host    string
	port    int
	shield  bool
}

// validateListeners reports two listeners on the same non-zero host:port
// (OPERATIONS.md §2.3), naming the later listener first.
func (l *loader) validateListeners() {
	c := l.cfg
	var ls []listener
	add := func(hostVar, portVar, host string, port int, shield bool) {
		if l.ok(hostVar, portVar) && port != 0 {
			ls = append(ls, listener{portVar: portVar, host: host, port: port, shield: shield})
		}
	}
	if l.readsBus() {
		add("ARQONBUS_SERVER_HOST", "ARQONBUS_SERVER_PORT", c.Bus.ServerHost, c.Bus.ServerPort, false)
		if c.Bus.TelemetryEnabled {
			add("ARQONBUS_TELEMETRY_HOST", "ARQONBUS_TELEMETRY_PORT", c.Bus.TelemetryHost, c.Bus.TelemetryPort, false)
		}
		if c.Bus.HTTPEnabled {
			add("ARQONBUS_HTTP_HOST", "ARQONBUS_HTTP_PORT", c.Bus.HTTPHost, c.Bus.HTTPPort, false)
		}
	}
	if l.readsShield() {
		add("ARQON_SHIELD_HOST", "ARQON_SHIELD_PORT", c.Shield.Host, c.Shield.Port, true)
		add("ARQON_SHIELD_HOST", "ARQON_SHIELD_METRICS_PORT", c.Shield.Host, c.Shield.MetricsPort, true)
	}
	// preflight checks each side on its own: bus and Shield may be deployed apart.
	cross := l.cmd == CommandDev
	for j := 1; j < len(ls); j++ {
		for i := 0; i < j; i++ {
			a, b := ls[i], ls[j]
			if a.port != b.port || !sameHost(a.host, b.host) || (a.shield != b.shield && !cross) {
				continue
			}
			if a.shield && b.shield {
				l.errs.add(RuleConflict, fmt.Sprintf("%s conflicts with %s (both %d)", b.portVar, a.portVar, b.port), b.portVar, a.portVar)
			} else {
				l.errs.add(RuleConflict, fmt.Sprintf("%s conflicts with %s (both %s)", b.portVar, a.portVar,
					net.JoinHostPort(b.host, strconv.Itoa(b.port))), b.portVar, a.portVar)
			}
			break
		}
	}
}

func sameHost(a, b string) bool {
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	if wild(a) || wild(b) {
		return true
	}
	if strings.EqualFold(a, b) {
		return true
	}
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	return ia != nil && ib != nil && ia.Equal(ib)
}
