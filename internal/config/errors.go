package config

import (
	"errors"
	"log/slog"
	"strings"
)

// ErrHelp is returned by Load when the arguments ask for help (-h, --help).
// The caller prints Usage(cmd) to stdout and exits 0.
var ErrHelp = errors.New("help requested")

// UsageError is a command-line usage problem: an unknown flag, a flag without
// its value, a positional argument, or a malformed value of a command's own
// flag (CLI.md §2). The process exits 2.
type UsageError struct {
	Message string
}

func (e *UsageError) Error() string { return e.Message }

// Rule classifies a FieldError so that preflight can tell apart problems that
// concern the same variable but belong to different checks (PREFLIGHT.md §3.6).
type Rule string

const (
	// RuleValue is a value that does not parse or is out of range (OPERATIONS.md §2.3).
	RuleValue Rule = "value"
	// RuleConflict is an alias/canonical conflict or a listener conflict.
	RuleConflict Rule = "conflict"
	// RuleRequired is a missing value that another setting requires.
	RuleRequired Rule = "required"
	// RuleCombination is an invalid combination of otherwise valid values.
	RuleCombination Rule = "combination"
	// RuleProfile is a value refused because of the profile (OPERATIONS.md §3).
	RuleProfile Rule = "profile"
	// RuleKnownDefault is a known default secret (SHIELD.md §3.4).
	RuleKnownDefault Rule = "known_default"
	// RuleWeakSecret is a short or single-character secret in staging/production.
	RuleWeakSecret Rule = "weak_secret"
	// RuleUnavailable is a feature that this build does not provide.
	RuleUnavailable Rule = "unavailable"
)

// FieldError is one configuration problem, tied to the variables it concerns.
// Vars holds canonical variable names, the first being the one that owns the
// problem (PREFLIGHT.md §3.6), even when Message names a flag instead.
type FieldError struct {
	Vars    []string
	Rule    Rule
	Message string
}

func (e FieldError) Error() string { return e.Message }

// Errors is every configuration problem found by one Load, in a stable order.
// The process reports it once and exits 1.
type Errors struct {
	List []FieldError
}

func (e *Errors) Error() string {
	msgs := make([]string, len(e.List))
	for i, fe := range e.List {
		msgs[i] = fe.Message
	}
	return "Invalid configuration: " + strings.Join(msgs, "; ")
}

// For returns the problems whose first variable is name.
func (e *Errors) For(name string) []FieldError {
	var out []FieldError
	for _, fe := range e.List {
		if len(fe.Vars) > 0 && fe.Vars[0] == name {
			out = append(out, fe)
		}
	}
	return out
}

// Warning is a WARN line the caller logs once logging is set up, for example
// Logger.Warn(w.Message, w.Args()...).
type Warning struct {
	Message string
	Attrs   []slog.Attr
}

// Args returns the attributes in the form slog.Logger.Warn accepts.
func (w Warning) Args() []any {
	out := make([]any, len(w.Attrs))
	for i, a := range w.Attrs {
		out[i] = a
	}
	return out
}

// Warning messages (OPERATIONS.md §2.1, §2.2, §4.4).
const (
	WarnDeprecated      = "deprecated configuration variable"
	WarnUnknown         = "unknown configuration variable"
	WarnSecretFlag      = "command-line secrets are visible to other local users"
	WarnPersistenceFlag = "ARQONBUS_ENABLE_PERSISTENCE is ignored: history is always recorded"
)

type errList struct {
	list []FieldError
}

func (l *errList) add(rule Rule, msg string, vars ...string) {
	l.list = append(l.list, FieldError{Vars: vars, Rule: rule, Message: msg})
}
