package config

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/redact"
)

// defaultDoc is the default of v as shown in --help and the reference.
func defaultDoc(v *varSpec, cmd Command) string {
	switch {
	case cmd == CommandDev && v.name == "ARQONBUS_ENABLE_AUTH":
		return "true"
	case cmd == CommandPreflight && v.name == "ARQONBUS_ENVIRONMENT":
		return "production"
	case v.defDoc != "":
		return v.defDoc
	}
	return v.def
}

// isURLKind reports whether v's value is redacted as a URL.
func isURLKind(v *varSpec) bool { return v.kind == kindURL || v.kind == kindURLList }

// effective returns v's value in c in a JSON-friendly form: durations as
// seconds, lists as []string, URLs redacted, unset optional values as nil.
// Secrets are returned raw; callers mask them.
func effective(v *varSpec, c *Config) any {
	if v.name == "JWT_SKIP_VALIDATION" {
		if !c.Shield.SkipValidation.Present {
			return nil
		}
		return c.Shield.SkipValidation.Value
	}
	if v.name == "ARQONBUS_REDIS_URL" {
		return c.Bus.RedisURLRedacted
	}
	if v.field == nil {
		return nil
	}
	switch x := v.field(c).(type) {
	case *string:
		if *x == "" {
			return nil
		}
		if isURLKind(v) {
			return redact.URL(*x)
		}
		return *x
	case *bool:
		return *x
	case *int:
		return *x
	case *float64:
		return *x
	case *time.Duration:
		if v.name == "ARQONBUS_HISTORY_TTL" && *x == 0 {
			return nil
		}
		return x.Seconds()
	case *[]string:
		if *x == nil && isURLKind(v) {
			return nil
		}
		out := make([]string, len(*x))
		for i, s := range *x {
			if isURLKind(v) {
				s = redact.URL(s)
			}
			out[i] = s
		}
		return out
	case *[]*regexp.Regexp:
		out := make([]string, len(*x))
		for i, re := range *x {
			out[i] = re.String()
		}
		return out
	case *[]MirrorRule:
		out := make([]string, len(*x))
		for i, r := range *x {
			out[i] = r.String()
		}
		return out
	}
	return nil
}

// snapshotVars are the variables c's command reads, in table order.
func (c *Config) snapshotVars() []*varSpec {
	var out []*varSpec
	for _, v := range vars {
		if v.scope.has(c.Command) && (v.field != nil || v.kind == kindPresence) {
			out = append(out, v)
		}
	}
	return out
}

// Snapshot returns canonical variable name -> effective value for
// /admin/config (OPERATIONS.md §6.3): secrets are "***" when set and nil
// when unset, durations are seconds, URLs have their credentials redacted.
func (c *Config) Snapshot() map[string]any {
	m := make(map[string]any)
	for _, v := range c.snapshotVars() {
		val := effective(v, c)
		if v.secret {
			if val != nil {
				val = "***"
			}
		}
		m[v.name] = val
	}
	return m
}

// LogAttrs returns the effective settings for the "configuration loaded"
// line (OPERATIONS.md §9): one attribute per variable, keyed by its
// canonical name; secrets are "set" or "unset", URLs are redacted.
func (c *Config) LogAttrs() []slog.Attr {
	var out []slog.Attr
	for _, v := range c.snapshotVars() {
		val := effective(v, c)
		switch {
		case v.secret && val != nil:
			out = append(out, slog.String(v.name, "set"))
		case v.secret:
			out = append(out, slog.String(v.name, "unset"))
		case val == nil:
			out = append(out, slog.String(v.name, "unset"))
		default:
			if p, ok := v.field(c).(*time.Duration); ok {
				out = append(out, slog.String(v.name, formatDuration(*p)))
				continue
			}
			out = append(out, slog.Any(v.name, val))
		}
	}
	return out
}

var commandSummary = map[Command]string{
	CommandServe:     "Runs the bus: WebSocket endpoint, telemetry WebSocket, HTTP ops API and storage.",
	CommandShield:    "Runs the Shield gateway: authenticating WebSocket ingress in front of NATS.",
	CommandDev:       "Runs bus, Shield and an embedded NATS server in one process (development profile only).",
	CommandPreflight: "Configuration flags of the production preflight.",
}

// Usage returns the --help text of cmd: every configuration flag with its
// default and environment variable, grouped as in docs/configuration.md.
func Usage(cmd Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: arqonbus %s [flags]\n\n%s\n", cmd, commandSummary[cmd])
	b.WriteString("A flag beats its environment variable, which beats the built-in default.\n")
	b.WriteString("A malformed flag value is a configuration error (exit 1); an unknown flag is a usage error (exit 2).\n")
	if cmd == CommandDev {
		b.WriteString("\nDev flags:\n")
		b.WriteString("  --redis URL\n      Use Redis/Valkey at URL for history (same as --storage-backend redis --redis-url URL) (default unset: memory storage)\n")
		b.WriteString("  --nats URL\n      Use an external NATS server, alias of --nats-url (default unset: embedded NATS; env NATS_URL)\n")
		b.WriteString("  --no-shield\n      Start neither Shield nor the embedded NATS (default off)\n")
		b.WriteString("  --nats-port PORT\n      Embedded NATS port; 0 picks a free port (default 0)\n")
	}
	for _, g := range groupOrder {
		first := true
		for _, v := range vars {
			if v.group != g {
				continue
			}
			name := flagName(v, cmd)
			if name == "" {
				continue
			}
			if first {
				fmt.Fprintf(&b, "\n%s:\n", g)
				first = false
			}
			arg := " " + flagArg(v)
			if v.kind == kindBool {
				arg = ""
			}
			def := defaultDoc(v, cmd)
			if def == "" {
				def = "unset"
			}
			fmt.Fprintf(&b, "  --%s%s\n      %s (default %s; env %s)\n", name, arg, v.doc, def, v.name)
		}
	}
	if cmd == CommandShield || cmd == CommandDev {
		b.WriteString("\nJWT_SKIP_VALIDATION has no flag: its presence in the environment is what counts (development only).\n")
	}
	return b.String()
}

func flagArg(v *varSpec) string {
	switch v.kind {
	case kindInt:
		return "INT"
	case kindNumber:
		return "NUMBER"
	case kindDuration:
		return "DURATION"
	case kindEnum:
		return strings.Join(v.values, "|")
	case kindList, kindRegexList, kindGlobList, kindMirrorRules:
		return "LIST"
	case kindURL, kindURLList:
		return "URL"
	case kindPath:
		return "PATH"
	case kindHost:
		return "HOST"
	case kindSecret:
		return "SECRET"
	}
	return "STRING"
}

func typeDoc(v *varSpec) string {
	r := ""
	if v.rng != nil {
		r = " " + v.rng.doc(v.kind)
	}
	switch v.kind {
	case kindBool:
		return "boolean"
	case kindInt:
		return "integer" + r
	case kindNumber:
		return "number" + r
	case kindDuration:
		return "duration" + r
	case kindEnum:
		s := "enum `" + strings.Join(v.values, "`, `") + "`"
		if len(v.valueAl) > 0 {
			var al []string
			for _, canon := range v.values {
				for a, c := range v.valueAl {
					if c == canon {
						al = append(al, "`"+a+"`→`"+c+"`")
					}
				}
			}
			sortStrings(al)
			s += " (aliases " + strings.Join(al, ", ") + ")"
		}
		return s
	case kindList:
		return "list"
	case kindRegexList:
		return "regex list"
	case kindGlobList:
		return "glob list"
	case kindURL:
		return "URL (" + strings.Join(v.schemes, ", ") + ")"
	case kindURLList:
		return "URL list (" + strings.Join(v.schemes, ", ") + ")"
	case kindPath:
		return "path"
	case kindHost:
		return "host or IP"
	case kindSecret:
		return "secret"
	case kindMirrorRules:
		return "mirror rule list"
	case kindPresence:
		return "presence (environment only)"
	}
	return "string"
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// docFlags lists v's flags for the reference: its serve/shield flag, and
// the dev flag when it differs.
func docFlags(v *varSpec) string {
	if v.scope == scopeClient {
		return "client command flags (CLI.md)"
	}
	var parts []string
	base := ""
	for _, cmd := range []Command{CommandServe, CommandShield} {
		if n := flagName(v, cmd); n != "" {
			base = n
			parts = append(parts, "`--"+n+"`")
			break
		}
	}
	if d := flagName(v, CommandDev); d != "" && d != base {
		parts = append(parts, "dev: `--"+d+"`")
	} else if d == "" && base != "" && v.scope.has(CommandDev) {
		parts = append(parts, "none in dev")
	}
	if p := flagName(v, CommandPreflight); p != "" {
		parts = append(parts, "preflight: `--"+p+"`")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func mdEscape(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// MarkdownReference renders docs/configuration.md from the variable table.
func MarkdownReference() string {
	var b strings.Builder
	b.WriteString(`# Configuration reference

<!-- Generated from internal/config/vars.go by MarkdownReference. Do not edit by hand:
     run "go generate ./internal/config" (or UPDATE_DOCS=1 go test ./internal/config). -->

` + "`arqonbus serve`, `shield`, `dev` and `preflight` read their configuration through one loader, so a value\n" +
		"that makes one of them fail makes the others fail the same way.\n\n" +
		`## Sources and precedence

- Built-in default < environment variable < command-line flag: **a flag beats the environment variable**.
- The flag name is the variable name without its first prefix among ` + "`ARQONBUS_`, `ARQON_SHIELD_`, `ARQON_`" + `,
  lower-cased, with ` + "`_`" + ` replaced by ` + "`-`" + ` (` + "`ARQONBUS_SERVER_PORT` → `--server-port`, `ARQON_SHIELD_PORT` → `--port`" + `).
  In ` + "`dev`" + ` the Shield's ` + "`ARQON_SHIELD_*`" + ` flags keep a ` + "`shield-`" + ` prefix (` + "`--shield-port`" + `).
- ` + "`JWT_SKIP_VALIDATION`" + ` has no flag: only its presence in the environment counts.
- Leading and trailing whitespace is removed; an empty value means unset, so the default applies
  (except ` + "`JWT_SKIP_VALIDATION`" + `).
- Deprecated aliases are accepted with a WARN ` + "`deprecated configuration variable`" + `; the ` + "`ARQONBUS_VALKEY_*`" + ` names are
  silent aliases. An alias and its canonical name set to different values is an error.
- An unknown ` + "`ARQONBUS_*`" + ` or ` + "`ARQON_SHIELD_*`" + ` variable gives a WARN ` + "`unknown configuration variable`" + `, never an error.
- Secrets given as flags (` + "`--jwt-secret`, `--auth-jwt-secret`, `--admin-api-key`, `--redis-password`" + `) are
  visible to other local users; the process logs a WARN when one is used.
- Every problem is collected and reported once: ` + "`Invalid configuration: `" + ` + the problems joined by ` + "`; `" + `,
  exit status 1. A malformed flag value names the flag (` + "`--server-port: invalid integer \"abc\"`" + `).

## Value types

| Type | Accepted input |
|---|---|
| boolean | ` + "`true`, `false`, `1`, `0`, `yes`, `no`, `on`, `off`" + ` (case-insensitive) |
| integer | base-10 digits with an optional leading ` + "`-`" + ` |
| number | decimal, e.g. ` + "`2.5`" + ` |
| duration | Go syntax (` + "`500ms`, `5s`, `1m30s`" + `) or a bare number of seconds (` + "`5`, `0.5`" + `) |
| enum | one of the listed words, case-insensitive |
| list | a JSON array of strings (starts with ` + "`[`" + `) or comma-separated items; ` + "`-`" + ` is an explicitly empty list |
| regex list | a list of RE2 expressions; use the JSON form for patterns containing ` + "`,`" + ` |
| glob list | a list of fnmatch-style globs (` + "`*`, `?`, `[…]`" + `) |
| URL | an absolute URL with one of the listed schemes; the value is never echoed in errors |

## Profiles

` + "`ARQONBUS_ENVIRONMENT`" + ` selects ` + "`development`" + ` (default, alias ` + "`dev`" + `), ` + "`staging`" + ` or ` + "`production`" + ` (alias ` + "`prod`" + `).
Staging and production default the log format to ` + "`json`" + `, refuse ` + "`ARQONBUS_DEV_ADMIN=true`" + ` and
` + "`JWT_SKIP_VALIDATION`" + `, require a Shield ` + "`JWT_SECRET`" + ` of at least 32 bytes that is not one repeated character,
and refuse webhook deliveries to private networks by default. A known default secret
(` + "`" + strings.Join(knownDefaultSecrets, "`, `") + "`" + `) is refused by Shield in every profile.
` + "`dev`" + ` runs only in the development profile and defaults ` + "`ARQONBUS_ENABLE_AUTH`" + ` to ` + "`true`" + `.

Secret values are shown as ` + "`set`/`unset`" + ` in logs and ` + "`\"***\"`/`null`" + ` in ` + "`/admin/config`" + `; URLs are shown
with their user info as ` + "`***`" + `.
`)
	for _, g := range groupOrder {
		fmt.Fprintf(&b, "\n## %s\n\n", g)
		b.WriteString("| Variable | Flag | Default | Type | Read by | Description |\n|---|---|---|---|---|---|\n")
		for _, v := range vars {
			if v.group != g {
				continue
			}
			def := defaultDoc(v, CommandServe)
			if def == "" {
				def = "unset"
			} else if v.defDoc == "" {
				def = "`" + def + "`"
			}
			desc := v.doc
			for _, a := range v.aliases {
				if a.deprecated {
					desc += " Deprecated alias: `" + a.name + "`."
				} else {
					desc += " Alias: `" + a.name + "`."
				}
			}
			if v.secret {
				desc += " Secret."
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", v.name, mdEscape(docFlags(v)), mdEscape(def),
				mdEscape(typeDoc(v)), v.scope.doc(), mdEscape(desc))
		}
	}
	b.WriteString("\n## `dev` flags\n\n| Flag | Environment | Default | Meaning |\n|---|---|---|---|\n" +
		"| `--redis URL` | — | unset (memory storage) | Same as `--storage-backend redis --redis-url URL` |\n" +
		"| `--nats URL` | `NATS_URL` | unset (embedded NATS) | Use an external NATS server (alias `--nats-url`) |\n" +
		"| `--no-shield` | — | off | Start neither Shield nor the embedded NATS |\n" +
		"| `--nats-port` | — | `0` (any free port) | Embedded NATS port |\n")
	return b.String()
}
