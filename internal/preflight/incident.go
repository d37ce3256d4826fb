package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/redact"
)

// sourceInfo records git HEAD and dirtiness of a source checkout (§6).
func sourceInfo(ctx context.Context, dir string) *SourceInfo {
	if !isSourceCheckout(dir) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	head, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return &SourceInfo{Dir: dir, Head: "unknown (not a git work tree)"}
	}
	st, _ := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain").Output()
	return &SourceInfo{Dir: dir, Head: strings.TrimSpace(string(head)), Dirty: len(bytes.TrimSpace(st)) > 0}
}

// PrepareIncidentDir creates dir with mode 0700 when missing and checks
// that it is writable (§2: otherwise a usage error, exit 2).
func PrepareIncidentDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("incident directory %s cannot be created: %w", dir, errors.Unwrap(err))
	}
	f, err := os.CreateTemp(dir, ".preflight-write-test-")
	if err != nil {
		return fmt.Errorf("incident directory %s is not writable: %w", dir, errors.Unwrap(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Incident is the record of §6.
type Incident struct {
	Schema    string `json:"schema"`
	CreatedAt string `json:"created_at"`
	Verdict   string `json:"verdict"`
	// Severity is the label to route with: the highest severity among
	// failing checks.
	Severity       *Severity `json:"severity"`
	Classification []Class   `json:"classification"`
	FailConditions []string  `json:"fail_conditions"`
	Commit         struct {
		Binary         string      `json:"binary"`
		BinaryModified bool        `json:"binary_modified"`
		Source         *SourceInfo `json:"source,omitempty"`
	} `json:"commit"`
	Command struct {
		Argv []string `json:"argv"`
		Line string   `json:"line"`
	} `json:"command"`
	Failing     []IncidentCheck `json:"failing_checks"`
	Warnings    []IncidentCheck `json:"warning_checks"`
	Environment struct {
		Vars     map[string]string `json:"vars"`
		Hostname string            `json:"hostname"`
		OS       string            `json:"os"`
		Arch     string            `json:"arch"`
		Go       string            `json:"go"`
		Profile  string            `json:"profile"`
	} `json:"environment"`
	Report *Report `json:"report"`
}

// IncidentCheck is one failing (or warning) check with everything an
// engineer needs: its detail, and for gates the command and its output.
type IncidentCheck struct {
	ID       string   `json:"id"`
	Status   Status   `json:"status"`
	Severity Severity `json:"severity"`
	Class    Class    `json:"class"`
	Runbook  string   `json:"runbook"`
	Detail   string   `json:"detail"`
	Fix      string   `json:"fix"`
	Command  string   `json:"command,omitempty"`
	Output   string   `json:"output,omitempty"`
}

func (r *Report) incident() *Incident {
	in := &Incident{Schema: "arqonbus.preflight.incident/v1", CreatedAt: r.Started, Verdict: r.Verdict,
		Severity: r.Severity, FailConditions: r.FailConditions, Report: r}
	in.Commit.Binary, in.Commit.BinaryModified, in.Commit.Source = r.Binary.Commit, r.Binary.Modified, r.Source
	in.Command.Argv = make([]string, len(r.Argv))
	for i, a := range r.Argv {
		in.Command.Argv[i] = redactArg(a)
	}
	in.Command.Line = commandLine(in.Command.Argv)
	classes := map[Class]bool{}
	for _, c := range r.Checks {
		ic := IncidentCheck{c.ID, c.Status, c.Severity, c.Class, c.Runbook, c.Detail, c.Fix, c.Command, c.Output}
		switch c.Status {
		case StatusFail:
			in.Failing = append(in.Failing, ic)
			classes[c.Class] = true
		case StatusWarn:
			in.Warnings = append(in.Warnings, ic)
		}
	}
	for _, c := range []Class{ClassConfig, ClassDependency, ClassCode} {
		if classes[c] {
			in.Classification = append(in.Classification, c)
		}
	}
	if in.Classification == nil {
		in.Classification = []Class{}
	}
	if in.Failing == nil {
		in.Failing = []IncidentCheck{}
	}
	if in.Warnings == nil {
		in.Warnings = []IncidentCheck{}
	}
	in.Environment.Vars = r.Environment
	if in.Environment.Vars == nil {
		in.Environment.Vars = map[string]string{}
	}
	in.Environment.Hostname, _ = os.Hostname()
	in.Environment.OS, in.Environment.Arch, in.Environment.Go = runtime.GOOS, runtime.GOARCH, runtime.Version()
	in.Environment.Profile = r.Profile
	return in
}

// redactArg scrubs credentials out of one command-line argument.
func redactArg(a string) string {
	if name, _, ok := strings.Cut(a, "="); ok && strings.HasPrefix(name, "-") && isSecretFlag(name) {
		return name + "=REDACTED"
	}
	return redact.Text(a)
}

func isSecretFlag(name string) bool {
	n := strings.ToUpper(strings.TrimLeft(name, "-"))
	return strings.Contains(n, "SECRET") || strings.Contains(n, "PASSWORD") || strings.Contains(n, "TOKEN") || strings.Contains(n, "API-KEY")
}

// WriteIncident writes incident-<UTC timestamp>.json and .md (0600) into
// dir and sets r.Incident to the JSON path (§6).
func (r *Report) WriteIncident(dir string) (jsonPath, mdPath string, err error) {
	stamp := r.StartedAt.UTC().Format("20060102T150405Z")
	for i := 0; ; i++ {
		base := "incident-" + stamp
		if i > 0 {
			base += fmt.Sprintf("-%d", i)
		}
		jsonPath, mdPath = filepath.Join(dir, base+".json"), filepath.Join(dir, base+".md")
		if _, err := os.Lstat(jsonPath); err == nil {
			continue
		}
		if _, err := os.Lstat(mdPath); err == nil {
			continue
		}
		break
	}
	r.Incident = jsonPath
	in := r.incident()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(in); err != nil {
		return "", "", err
	}
	if err := writeExclusive(jsonPath, r.scrub(b.String())); err != nil {
		return "", "", err
	}
	if err := writeExclusive(mdPath, r.scrub(in.markdown())); err != nil {
		return "", "", err
	}
	return jsonPath, mdPath, nil
}

func writeExclusive(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (in *Incident) markdown() string {
	var b strings.Builder
	sev := "none"
	if in.Severity != nil {
		sev = string(*in.Severity)
	}
	verdict := strings.ToUpper(in.Verdict)
	fmt.Fprintf(&b, "# ArqonBus preflight incident — %s — severity %s\n\n", verdict, sev)
	fmt.Fprintf(&b, "- Created: %s\n- Profile: %s\n- Severity label: `%s`\n", in.CreatedAt, in.Environment.Profile, sev)
	cls := make([]string, len(in.Classification))
	for i, c := range in.Classification {
		cls[i] = string(c)
	}
	fmt.Fprintf(&b, "- Classification: %s\n\n", strings.Join(cls, ", "))
	if len(in.FailConditions) > 0 {
		b.WriteString("## Immediate-stop conditions hit\n\n")
		for _, fc := range in.FailConditions {
			b.WriteString("- " + fc + "\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("## Git commit\n\n")
	fmt.Fprintf(&b, "- Binary: `%s` (modified: %t)\n", in.Commit.Binary, in.Commit.BinaryModified)
	if s := in.Commit.Source; s != nil {
		fmt.Fprintf(&b, "- Source checkout %s: HEAD `%s` (dirty: %t)\n", s.Dir, s.Head, s.Dirty)
	}
	b.WriteString("\n## Failing command\n\n```\n" + in.Command.Line + "\n```\n\n")
	b.WriteString("## Failing checks\n\n")
	if len(in.Failing) == 0 {
		b.WriteString("None.\n\n")
	}
	for _, c := range in.Failing {
		fmt.Fprintf(&b, "### %s — %s, %s\n\n", c.ID, c.Severity, c.Class)
		fmt.Fprintf(&b, "- Runbook: %s\n- Detail: %s\n- Fix: %s\n", c.Runbook, c.Detail, c.Fix)
		if c.Command != "" {
			fmt.Fprintf(&b, "- Command: `%s`\n", c.Command)
		}
		if c.Output != "" {
			b.WriteString("\nOutput and stderr (last 64 KiB):\n\n```\n" + strings.ReplaceAll(c.Output, "```", "` ` `") + "\n```\n")
		}
		b.WriteString("\n")
	}
	if len(in.Warnings) > 0 {
		b.WriteString("## Warnings\n\n")
		for _, c := range in.Warnings {
			fmt.Fprintf(&b, "- `%s` (%s, %s): %s — %s\n", c.ID, c.Severity, c.Class, c.Detail, c.Fix)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Environment snapshot (secrets redacted)\n\n")
	fmt.Fprintf(&b, "- Host: %s, %s/%s, %s\n\n", in.Environment.Hostname, in.Environment.OS, in.Environment.Arch, in.Environment.Go)
	keys := make([]string, 0, len(in.Environment.Vars))
	for k := range in.Environment.Vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		b.WriteString("No ArqonBus, Shield, JWT, NATS or Ollama variables were set.\n")
	} else {
		b.WriteString("```\n")
		for _, k := range keys {
			b.WriteString(k + "=" + in.Environment.Vars[k] + "\n")
		}
		b.WriteString("```\n")
	}
	return b.String()
}
