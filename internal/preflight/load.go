package preflight

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"strings"

	"github.com/arqonbus/arqonbus/internal/config"
)

// loaded is the configuration as the one loader sees it (PREFLIGHT.md §1
// "One loader"). The loader returns either a Config or every problem; to
// run every other check "with the values that did parse", preflight loads
// again without the variables the problems name, so that each check still
// sees real values, and reports the first load's problems under their
// owning checks (§3.6).
type loaded struct {
	cfg      *config.Config
	problems []config.FieldError
	// secretReplaced is true when JWT_SECRET was refused by the loader and a
	// placeholder stood in for it; rawSecret is then the refused value.
	secretReplaced bool
	rawSecret      string
}

// configFlags maps preflight's configuration flags to their variables.
var configFlags = map[string]string{
	"profile":      "ARQONBUS_ENVIRONMENT",
	"nats-url":     "NATS_URL",
	"incident-dir": "ARQONBUS_PREFLIGHT_INCIDENT_DIR",
}

// aliasesOf lists the other spellings of a canonical variable (OPERATIONS.md §4).
func aliasesOf(name string) []string {
	var out []string
	if rest, ok := strings.CutPrefix(name, "ARQONBUS_REDIS_"); ok {
		out = append(out, "ARQONBUS_VALKEY_"+rest)
	}
	if rest, ok := strings.CutPrefix(name, "ARQONBUS_VALKEY_"); ok {
		out = append(out, "ARQONBUS_REDIS_"+rest)
	}
	switch name {
	case "ARQONBUS_HISTORY_SIZE":
		out = append(out, "ARQONBUS_MAX_HISTORY_SIZE")
	case "ARQONBUS_TELEMETRY_ENABLED":
		out = append(out, "ARQONBUS_ENABLE_TELEMETRY")
	}
	return out
}

// loadConfig runs config.LoadFlags with the given flag values (flag name ->
// raw value, only flags that were given) and environment.
func loadConfig(flagValues map[string]string, environ []string) (*loaded, error) {
	env := append([]string(nil), environ...)
	flags := map[string]string{}
	for k, v := range flagValues {
		flags[k] = v
	}
	out := &loaded{}
	const rounds = 6
	for round := 0; round <= rounds; round++ {
		if round == rounds {
			// Last resort: defaults only, so that every check can still run.
			env = keepOnly(env, "ARQONBUS_ENVIRONMENT", "JWT_SECRET")
			kept := map[string]string{}
			if p, ok := flags["profile"]; ok {
				kept["profile"] = p
			}
			flags = kept
		}
		cfg, err := loadOnce(flags, env)
		if err == nil {
			out.cfg = cfg
			return out, nil
		}
		var ce *config.Errors
		if !errors.As(err, &ce) {
			return nil, err // usage error (--profile) or help
		}
		if round == 0 {
			out.problems = ce.List
		}
		drop := map[string]bool{}
		for _, fe := range ce.List {
			for _, v := range fe.Vars {
				drop[v] = true
				for _, a := range aliasesOf(v) {
					drop[a] = true
				}
			}
			// The message names the variable (or alias, or flag) it came from.
			if label, _, ok := strings.Cut(fe.Message, ":"); ok && !strings.ContainsAny(label, " '") {
				drop[strings.TrimPrefix(label, "--")] = true
				drop[label] = true
			}
		}
		if drop["JWT_SECRET"] {
			if !out.secretReplaced {
				out.rawSecret = lookupEnv(environ, "JWT_SECRET")
			}
			out.secretReplaced = true
			delete(drop, "JWT_SECRET")
			env = setEnv(env, "JWT_SECRET", placeholderSecret())
		}
		env = dropEnv(env, drop)
		for name, v := range configFlags {
			if drop[v] || drop[name] {
				delete(flags, name)
			}
		}
	}
	return nil, errors.New("preflight: configuration could not be loaded with defaults")
}

func loadOnce(flagValues map[string]string, env []string) (*config.Config, error) {
	fs := flag.NewFlagSet("preflight", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := config.BindFlags(config.CommandPreflight, fs)
	for name, v := range flagValues {
		if err := fs.Set(name, v); err != nil {
			return nil, &config.UsageError{Message: err.Error()}
		}
	}
	return config.LoadFlags(f, env)
}

func placeholderSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// lookupEnv returns the trimmed value of the first entry named name.
func lookupEnv(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// presentEnv reports whether name is in environ at all (even empty).
func presentEnv(environ []string, name string) bool {
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}

func dropEnv(env []string, drop map[string]bool) []string {
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	return out
}

func setEnv(env []string, name, value string) []string {
	out := dropEnv(env, map[string]bool{name: true})
	return append(out, name+"="+value)
}

func keepOnly(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		for _, n := range names {
			if k == n {
				out = append(out, kv)
			}
		}
	}
	return out
}
