package preflight

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Result is the outcome of one check as reported (PREFLIGHT.md §5).
type Result struct {
	ID       string   `json:"id"`
	Status   Status   `json:"status"`
	Severity Severity `json:"severity"`
	Class    Class    `json:"class"`
	Runbook  string   `json:"runbook"`
	Detail   string   `json:"detail"`
	Fix      string   `json:"fix"`
	// Command is the exact command line a gate ran.
	Command  string `json:"command,omitempty"`
	Duration int64  `json:"duration_ms"`
	// Output is the last 64 KiB of a gate's output; it goes to the incident
	// record only, never to the report.
	Output string `json:"-"`
	// startup is the message of the startup refusal (§7) when it differs from Detail.
	startup string
	// always marks a failure that does not soften in development (§3).
	always bool
}

// Binary identifies the running arqonbus build.
type Binary struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
}

// Report is one preflight run.
type Report struct {
	Schema         string    `json:"schema"`
	Verdict        string    `json:"verdict"`
	Profile        string    `json:"profile"`
	StartedAt      time.Time `json:"-"`
	Started        string    `json:"started_at"`
	DurationMS     int64     `json:"duration_ms"`
	Binary         Binary    `json:"binary"`
	Severity       *Severity `json:"severity"`
	FailConditions []string  `json:"fail_conditions"`
	Checks         []Result  `json:"checks"`
	Incident       string    `json:"incident,omitempty"`

	// FailOnWarning is --fail-on-warning: warnings make the verdict NO-GO.
	FailOnWarning bool `json:"-"`
	// Incident context (§6), not part of the report itself.
	Argv        []string          `json:"-"`
	Environment map[string]string `json:"-"`
	Source      *SourceInfo       `json:"-"`
	secrets     []string
}

// SourceInfo is the git state of a source checkout (§6).
type SourceInfo struct {
	Dir   string `json:"dir"`
	Head  string `json:"head"`
	Dirty bool   `json:"dirty"`
}

// Verdicts.
const (
	VerdictGo   = "go"
	VerdictNoGo = "no-go"
)

// Schema is the JSON report schema id.
const Schema = "arqonbus.preflight/v1"

// Counts returns the number of failing and warning checks.
func (r *Report) Counts() (fails, warns int) {
	for _, c := range r.Checks {
		switch c.Status {
		case StatusFail:
			fails++
		case StatusWarn:
			warns++
		}
	}
	return fails, warns
}

// Go reports whether the verdict is GO.
func (r *Report) Go() bool { return r.Verdict == VerdictGo }

// Check returns the result with the given ID.
func (r *Report) Check(id string) (Result, bool) {
	for _, c := range r.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Result{}, false
}

// finish computes the verdict, severity and fail conditions.
func (r *Report) finish() {
	fails, warns := r.Counts()
	r.Verdict = VerdictGo
	if fails > 0 || (r.FailOnWarning && warns > 0) {
		r.Verdict = VerdictNoGo
	}
	var top Severity
	for _, c := range r.Checks {
		if c.Status == StatusFail && c.Severity.rank() > top.rank() {
			top = c.Severity
		}
	}
	r.Severity = nil
	if top != "" {
		r.Severity = &top
	}
	r.FailConditions = []string{}
	for _, fc := range FailConditions {
		for _, id := range fc.Checks {
			if c, ok := r.Check(id); ok && c.Status == StatusFail {
				r.FailConditions = append(r.FailConditions, fc.Text)
				break
			}
		}
	}
	r.Started = r.StartedAt.UTC().Format("2006-01-02T15:04:05Z")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Summary is the second line of the text report: "GO: …" or "NO-GO: …".
func (r *Report) Summary() string {
	fails, warns := r.Counts()
	var b strings.Builder
	if r.Go() {
		b.WriteString("GO: ")
	} else {
		b.WriteString("NO-GO: ")
	}
	b.WriteString(plural(fails, "failing check", "failing checks"))
	if r.Severity != nil {
		fmt.Fprintf(&b, " (%s)", *r.Severity)
	}
	b.WriteString(", " + plural(warns, "warning", "warnings"))
	if fails == 0 && !r.Go() {
		b.WriteString(" (--fail-on-warning)")
	}
	return b.String()
}

const (
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiGreen  = "\x1b[32m"
	ansiDim    = "\x1b[2m"
	ansiReset  = "\x1b[0m"
)

// WriteText writes the text report (PREFLIGHT.md §5); color adds ANSI
// colours to statuses and the verdict.
func (r *Report) WriteText(w io.Writer, color bool) error {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "ArqonBus preflight — profile %s — %s — arqonbus %s (%s)\n", r.Profile, r.Started, r.Binary.Version, r.Binary.Commit)
	if r.Go() {
		b.WriteString(paint(ansiGreen, r.Summary()) + "\n")
	} else {
		b.WriteString(paint(ansiRed, r.Summary()) + "\n")
	}
	if len(r.FailConditions) > 0 {
		b.WriteString("Immediate-stop conditions hit:\n")
		for _, fc := range r.FailConditions {
			b.WriteString("  - " + fc + "\n")
		}
	}
	const row = "%-8s%-38s%-10s%-12s%s\n"
	fmt.Fprintf(&b, row, "STATUS", "ID", "SEV", "CLASS", "DETAIL")
	indent := strings.Repeat(" ", 8+38+10+12)
	for _, c := range r.Checks {
		st := fmt.Sprintf("%-8s", c.Status)
		switch c.Status {
		case StatusFail:
			st = paint(ansiRed, st)
		case StatusWarn:
			st = paint(ansiYellow, st)
		case StatusOK:
			st = paint(ansiGreen, st)
		case StatusSkip:
			st = paint(ansiDim, st)
		}
		detail := c.Detail
		if c.Fix != "" && (c.Status == StatusFail || c.Status == StatusWarn) {
			detail += " — " + c.Fix
		}
		b.WriteString(st)
		fmt.Fprintf(&b, "%-38s%-10s%-12s%s\n", c.ID, c.Severity, c.Class, detail)
		if c.Status == StatusFail || c.Status == StatusWarn {
			b.WriteString(indent + "runbook: " + c.Runbook + "\n")
			if c.Command != "" {
				b.WriteString(indent + "command: " + c.Command + "\n")
			}
		}
	}
	if r.Incident != "" {
		b.WriteString("Incident record: " + r.Incident + "\n")
	}
	_, err := w.Write([]byte(r.scrub(b.String())))
	return err
}

// WriteJSON writes the report as one JSON object with a stable key order.
func (r *Report) WriteJSON(w io.Writer) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return err
	}
	_, err := w.Write([]byte(r.scrub(b.String())))
	return err
}

// scrub is the last line of defence of §1 "Never leaks secrets": every
// secret value known to this run is replaced, wherever it appears.
func (r *Report) scrub(s string) string {
	for _, v := range r.secrets {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, "REDACTED")
		}
	}
	return s
}
