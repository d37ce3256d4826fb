package config

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// flagName is the flag of variable v in command cmd, or "" when it has none
// (OPERATIONS.md §2.1, CLI.md §5, PREFLIGHT.md §2).
func flagName(v *varSpec, cmd Command) string {
	if v.noFlag || !v.scope.has(cmd) {
		return ""
	}
	if cmd == CommandPreflight {
		switch v.name {
		case "ARQONBUS_ENVIRONMENT":
			return "profile"
		case "NATS_URL":
			return "nats-url"
		case "ARQONBUS_PREFLIGHT_INCIDENT_DIR":
			return "incident-dir"
		}
		return ""
	}
	if cmd == CommandDev && v.name == "ARQONBUS_NATS_URL" {
		return "" // --nats-url is Shield's NATS_URL in dev
	}
	return ruleFlagName(v.name, cmd == CommandDev)
}

// ruleFlagName applies the name rule of OPERATIONS.md §2.1; with
// shieldPrefix, ARQON_SHIELD_* names keep a "shield-" prefix (dev).
func ruleFlagName(name string, shieldPrefix bool) string {
	rest := name
	prefix := ""
	switch {
	case strings.HasPrefix(name, "ARQONBUS_"):
		rest = strings.TrimPrefix(name, "ARQONBUS_")
	case strings.HasPrefix(name, "ARQON_SHIELD_"):
		rest = strings.TrimPrefix(name, "ARQON_SHIELD_")
		if shieldPrefix {
			prefix = "shield-"
		}
	case strings.HasPrefix(name, "ARQON_"):
		rest = strings.TrimPrefix(name, "ARQON_")
	}
	return prefix + strings.ReplaceAll(strings.ToLower(rest), "_", "-")
}

// rawFlag records a configuration flag's raw text. Parsing happens later, in
// Load, so that a malformed value is a configuration error (exit 1) and not
// a usage error (OPERATIONS.md §2.1).
type rawFlag struct {
	value  string
	set    bool
	isBool bool
}

func (f *rawFlag) String() string     { return f.value }
func (f *rawFlag) IsBoolFlag() bool   { return f.isBool }
func (f *rawFlag) Set(s string) error { f.value, f.set = s, true; return nil }

// Flags is the set of configuration flags of one command bound to a
// flag.FlagSet. A command with flags of its own (preflight) creates the
// FlagSet, defines its flags, calls BindFlags, parses, then calls LoadFlags.
type Flags struct {
	cmd   Command
	fs    *flag.FlagSet
	byVar map[string]*rawFlag // canonical variable name -> flag
	names map[string]string   // canonical variable name -> flag name

	// dev's own flags (CLI.md §5)
	redis    *rawFlag
	noShield bool
	natsPort *rawFlag
}

// BindFlags defines on fs one flag per configuration variable that cmd reads
// (plus dev's own flags for CommandDev) and returns them.
func BindFlags(cmd Command, fs *flag.FlagSet) *Flags {
	f := &Flags{cmd: cmd, fs: fs, byVar: map[string]*rawFlag{}, names: map[string]string{}}
	for _, v := range vars {
		name := flagName(v, cmd)
		if name == "" {
			continue
		}
		rf := &rawFlag{isBool: v.kind == kindBool}
		f.byVar[v.name] = rf
		f.names[v.name] = name
		fs.Var(rf, name, flagUsage(v, cmd))
	}
	if cmd == CommandDev {
		f.redis = &rawFlag{}
		fs.Var(f.redis, "redis", "Use Redis/Valkey at this URL for history (same as --storage-backend redis --redis-url URL)")
		fs.Var(f.byVar["NATS_URL"], "nats", "Use an external NATS server (alias of --nats-url)")
		fs.BoolVar(&f.noShield, "no-shield", false, "Start neither Shield nor the embedded NATS")
		f.natsPort = &rawFlag{}
		fs.Var(f.natsPort, "nats-port", "Embedded NATS port; 0 picks a free port (default 0)")
	}
	return f
}

func flagUsage(v *varSpec, cmd Command) string {
	def := defaultDoc(v, cmd)
	if def == "" {
		def = "unset"
	}
	return fmt.Sprintf("%s (default %s; env %s)", v.doc, def, v.name)
}

// parseArgs parses args with a FlagSet of its own.
func parseArgs(cmd Command, args []string) (*Flags, error) {
	fs := flag.NewFlagSet(cmd.String(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	f := BindFlags(cmd, fs)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, ErrHelp
		}
		return nil, &UsageError{Message: err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, &UsageError{Message: fmt.Sprintf("unexpected argument %q: %s takes no positional arguments", fs.Arg(0), cmd)}
	}
	return f, nil
}

func (f *Flags) devNATSPort() (int, error) {
	if f.natsPort == nil || !f.natsPort.set {
		return 0, nil
	}
	v := strings.TrimSpace(f.natsPort.value)
	n, err := strconv.Atoi(v)
	if err != nil || !intSyntax.MatchString(v) || n < 0 || n > 65535 {
		return 0, &UsageError{Message: fmt.Sprintf("invalid value %q for flag -nats-port: must be an integer between 0 and 65535", f.natsPort.value)}
	}
	return n, nil
}
