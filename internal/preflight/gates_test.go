package preflight

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestGatesOutsideACheckoutSkip(t *testing.T) {
	res := runGates(context.Background(), t.TempDir())
	for _, id := range []string{IDGateDeps, IDGateVet, IDGateUnit, IDGateInteg, IDGateE2E, IDGateRegress, IDGateAdvers} {
		if r := res[id]; r.Status != StatusSkip || !strings.Contains(r.Detail, "not a source checkout") {
			t.Errorf("%s: %s %q", id, r.Status, r.Detail)
		}
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	var tb tailBuffer
	_, _ = tb.Write([]byte(strings.Repeat("a", outputLimit)))
	_, _ = tb.Write([]byte("END"))
	if s := tb.String(); len(s) != outputLimit || !strings.HasSuffix(s, "END") || !tb.truncated {
		t.Errorf("len %d truncated %v", len(s), tb.truncated)
	}
}

// TestIntegrationGatesOnAFakeCheckout runs every gate against a tiny module
// that names this module path: a passing unit test, a failing regression
// test, and a test that needs the private services the gate provides.
func TestIntegrationGatesOnAFakeCheckout(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module "+ModulePath+"\n\ngo 1.26\n")
	write("lib/lib.go", "package lib\n\nfunc Two() int { return 2 }\n")
	write("lib/lib_test.go", `package lib

import (
	"net"
	"os"
	"testing"
)

func TestTwo(t *testing.T) {
	if Two() != 2 {
		t.Fatal("two")
	}
}

func TestIntegrationPrivateRedis(t *testing.T) {
	c, err := net.Dial("tcp", os.Getenv("ARQON_TEST_REDIS_ADDR"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if os.Getenv("ARQON_TEST_NATS_URL") == "" || os.Getenv("NATS_URL") != "" {
		t.Fatal("gate environment wrong")
	}
}

func TestRegressionBroken(t *testing.T) { t.Fatal("the pinned bug is back") }
`)
	write("e2e/e2e_test.go", "package e2e\n\nimport \"testing\"\n\nfunc TestBinary(t *testing.T) {}\n")
	write("cmd/tool/main_test.go", "package main\n\nimport \"testing\"\n\nfunc TestTool(t *testing.T) {}\n")
	t.Setenv("NATS_URL", "nats://must-not-leak-into-gates:4222")
	res := runGates(context.Background(), dir)
	want := map[string]Status{IDGateDeps: StatusOK, IDGateVet: StatusOK, IDGateUnit: StatusOK, IDGateInteg: StatusOK,
		IDGateE2E: StatusOK, IDGateRegress: StatusFail, IDGateAdvers: StatusOK}
	for id, st := range want {
		if r := res[id]; r.Status != st {
			t.Errorf("%s: %s %q\n%s", id, r.Status, r.Detail, r.Output)
		}
	}
	r := res[IDGateRegress]
	if r.Command != "go test -count=1 -run '^TestRegression' ./..." || !strings.Contains(r.Output, "the pinned bug is back") ||
		!strings.Contains(r.Detail, "--- FAIL: TestRegressionBroken") {
		t.Errorf("regression gate record: command %q detail %q", r.Command, r.Detail)
	}
}
