package e2e

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestStartupPreflightRefusesProduction is PREFLIGHT.md §10 vector 11 through
// the real binary: production without the core variables exits 1 before
// binding, with exactly one unprefixed `Startup preflight failed: ` line
// naming the three core variables in catalog order.
func TestStartupPreflightRefusesProduction(t *testing.T) {
	cmd := exec.Command(binPath, "serve")
	cmd.Env = append(cleanEnviron(), "ARQONBUS_ENVIRONMENT=production")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("serve in production without configuration: %v, want exit 1; stderr:\n%s", err, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Fatalf("stdout is not empty: %q", stdout.String())
	}
	var refusals []string
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if strings.HasPrefix(line, "Startup preflight failed: ") {
			refusals = append(refusals, line)
		}
		if strings.Contains(line, `"msg":"listening"`) || strings.Contains(line, "msg=listening") {
			t.Fatalf("a listener was bound before the refusal: %s", line)
		}
	}
	if len(refusals) != 1 {
		t.Fatalf("want exactly one 'Startup preflight failed: ' line, got %d:\n%s", len(refusals), stderr.String())
	}
	line := refusals[0]
	host := strings.Index(line, "ARQONBUS_SERVER_HOST")
	port := strings.Index(line, "ARQONBUS_SERVER_PORT")
	mode := strings.Index(line, "ARQONBUS_STORAGE_MODE")
	if host < 0 || port < host || mode < port {
		t.Fatalf("the refusal must name SERVER_HOST, SERVER_PORT, STORAGE_MODE in that order: %s", line)
	}
	if !strings.Contains(line, "Missing required environment variable in strict preflight: ARQONBUS_SERVER_HOST") {
		t.Fatalf("unexpected message: %s", line)
	}
}
