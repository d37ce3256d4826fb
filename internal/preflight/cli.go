package preflight

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/config"
)

// Exit codes (PREFLIGHT.md §2).
const (
	ExitGo    = 0
	ExitNoGo  = 1
	ExitUsage = 2
)

// CLI is the parsed command line of `arqonbus preflight`.
type CLI struct {
	Options
	Format       string // text or json
	AlwaysRecord bool
}

type urlFlag struct {
	dst     *string
	schemes []string
}

func (u urlFlag) String() string {
	if u.dst == nil {
		return ""
	}
	return *u.dst
}

func (u urlFlag) Set(s string) error {
	s = strings.TrimSpace(s)
	p, err := url.Parse(s)
	if err != nil || p.Host == "" {
		return fmt.Errorf("invalid URL (scheme must be %s)", strings.Join(u.schemes, " or "))
	}
	for _, sc := range u.schemes {
		if strings.EqualFold(p.Scheme, sc) {
			*u.dst = s
			return nil
		}
	}
	return fmt.Errorf("invalid URL (scheme must be %s)", strings.Join(u.schemes, " or "))
}

type durationFlag struct{ dst *time.Duration }

func (d durationFlag) String() string {
	if d.dst == nil {
		return ""
	}
	return d.dst.String()
}

func (d durationFlag) Set(s string) error {
	s = strings.TrimSpace(s)
	v, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != f {
			return errors.New("invalid duration (use e.g. 500ms, 5s or a number of seconds)")
		}
		v = time.Duration(f * float64(time.Second))
	}
	if v <= 0 || v > time.Hour {
		return errors.New("must be greater than 0 and at most 1h")
	}
	*d.dst = v
	return nil
}

type enumFlag struct {
	dst    *string
	values []string
}

func (e enumFlag) String() string {
	if e.dst == nil {
		return ""
	}
	return *e.dst
}

func (e enumFlag) Set(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, v := range e.values {
		if s == v {
			*e.dst = v
			return nil
		}
	}
	return fmt.Errorf("invalid value (expected one of: %s)", strings.Join(e.values, ", "))
}

func newFlagSet(c *CLI) *flag.FlagSet {
	fs := flag.NewFlagSet("preflight", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	c.Component, c.Format, c.Timeout = "all", "text", DefaultTimeout
	fs.Var(enumFlag{&c.Component, []string{"bus", "shield", "all"}}, "component", "Limit the checks to one side: bus, shield or all (default all)")
	fs.BoolVar(&c.Runtime, "runtime", false, "Add the runtime sanity checks against running services (default false)")
	fs.BoolVar(&c.Gates, "gates", false, "Add the build and test gates; needs a source checkout (default false)")
	fs.StringVar(&c.Source, "source", "", "Source checkout the gates run in (default the working directory)")
	fs.Var(enumFlag{&c.Format, []string{"text", "json"}}, "format", "Report format: text or json (default text)")
	fs.BoolVar(&c.AlwaysRecord, "always-record", false, "Also write the incident files for a GO run (default false)")
	fs.Var(durationFlag{&c.Timeout}, "timeout", "Timeout of every network probe (default 3s)")
	fs.Var(urlFlag{&c.URLs.BusHTTP, []string{"http", "https"}}, "bus-http-url", "Bus HTTP ops API for --runtime (default http://<ARQONBUS_HTTP_HOST>:<ARQONBUS_HTTP_PORT>)")
	fs.Var(urlFlag{&c.URLs.Telemetry, []string{"ws", "wss"}}, "telemetry-url", "Telemetry WebSocket for --runtime (default ws://<ARQONBUS_TELEMETRY_HOST>:<ARQONBUS_TELEMETRY_PORT>/)")
	fs.Var(urlFlag{&c.URLs.Shield, []string{"ws", "wss"}}, "shield-url", "Shield WebSocket for --runtime (default ws://<ARQON_SHIELD_HOST>:<ARQON_SHIELD_PORT>/ws)")
	fs.BoolVar(&c.FailOnWarning, "fail-on-warning", false, "Treat warnings as NO-GO (default false)")
	return fs
}

// ParseArgs parses the preflight command line. It returns config.ErrHelp
// for --help and a *config.UsageError for a usage problem (exit 2).
func ParseArgs(args []string) (*CLI, error) {
	c := &CLI{}
	fs := newFlagSet(c)
	config.BindFlags(config.CommandPreflight, fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, config.ErrHelp
		}
		return nil, &config.UsageError{Message: err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, &config.UsageError{Message: fmt.Sprintf("unexpected argument %q: preflight takes no positional arguments", fs.Arg(0))}
	}
	c.ConfigFlags = map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		if _, ok := configFlags[f.Name]; ok {
			c.ConfigFlags[f.Name] = f.Value.String()
		}
	})
	return c, nil
}

// Usage is the text of `arqonbus preflight --help`.
func Usage() string {
	var b strings.Builder
	b.WriteString(`Usage: arqonbus preflight [flags]

Runs the production preflight runbook (PREFLIGHT.md; docs/preflight.md lists
every check) and prints a GO or NO-GO report on stdout.
Exit status: 0 GO, 1 NO-GO, 2 usage error.

Flags:
`)
	c := &CLI{}
	fs := newFlagSet(c)
	config.BindFlags(config.CommandPreflight, fs)
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(&b, "  --%s\n        %s\n", f.Name, f.Usage)
	})
	return b.String()
}

// Main is `arqonbus preflight`: args are the flags, environ the process
// environment and argv the full command line (recorded in an incident).
func Main(ctx context.Context, args, environ, argv []string, stdout, stderr io.Writer) int {
	c, err := ParseArgs(args)
	if errors.Is(err, config.ErrHelp) {
		fmt.Fprint(stdout, Usage())
		return ExitGo
	}
	var ue *config.UsageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "arqonbus: "+ue.Message)
		return ExitUsage
	}
	c.Environ, c.Argv = environ, argv
	cfg, err := Load(&c.Options)
	if err != nil {
		if errors.As(err, &ue) {
			fmt.Fprintln(stderr, "arqonbus: "+ue.Message)
			return ExitUsage
		}
		fmt.Fprintln(stderr, "arqonbus: "+err.Error())
		return ExitNoGo
	}
	dir := cfg.PreflightIncidentDir
	if dir != "" {
		if err := PrepareIncidentDir(dir); err != nil {
			fmt.Fprintln(stderr, "arqonbus: "+err.Error())
			return ExitUsage
		}
	}
	rep, err := Run(ctx, c.Options)
	if err != nil {
		fmt.Fprintln(stderr, "arqonbus: "+err.Error())
		return ExitNoGo
	}
	var incidentErr error
	if dir != "" && (!rep.Go() || c.AlwaysRecord) {
		_, _, incidentErr = rep.WriteIncident(dir)
	}
	if c.Format == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout, useColor(stdout, environ))
	}
	if err != nil {
		fmt.Fprintln(stderr, "arqonbus: write report: "+err.Error())
		return ExitNoGo
	}
	if incidentErr != nil {
		fmt.Fprintln(stderr, "arqonbus: cannot write the incident record: "+incidentErr.Error())
		return ExitUsage
	}
	if !rep.Go() {
		return ExitNoGo
	}
	return ExitGo
}

func useColor(w io.Writer, environ []string) bool {
	if presentEnv(environ, "NO_COLOR") {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
