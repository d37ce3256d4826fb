package preflight

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenReport is a fixed NO-GO run with no live dependency, normalised:
// the clock is fixed, durations are zero, and the closed port and the Go
// version are replaced by placeholders.
func goldenReport(t *testing.T) (*Report, func(string) string) {
	t.Helper()
	dead := closedAddr(t)
	env := []string{
		"ARQONBUS_SERVER_HOST=0.0.0.0", "ARQONBUS_SERVER_PORT=0", "ARQONBUS_STORAGE_MODE=strict",
		"ARQONBUS_STORAGE_BACKEND=redis", "ARQONBUS_ENABLE_AUTH=false", "ARQONBUS_RATE_LIMIT_BURST=abc",
		"JWT_SECRET=arqon-dev-secret", "JWT_SKIP_VALIDATION=", "NATS_URL=nats://user:pw-0123456789@" + dead,
		"ARQON_SCHEMA_STRICT=false", "ARQON_SCHEMA_STRICT_EXCEPTION=SEC-123",
	}
	fixed := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	rep, err := Run(context.Background(), Options{Environ: env, Timeout: 300 * time.Millisecond,
		ConfigFlags: map[string]string{"profile": "production"}, Now: func() time.Time { return fixed }})
	if err != nil {
		t.Fatal(err)
	}
	rep.DurationMS = 0
	for i := range rep.Checks {
		rep.Checks[i].Duration = 0
	}
	rep.Binary = Binary{Version: "0.0.0", Commit: "unknown", Go: "goVERSION"}
	norm := func(s string) string {
		return strings.NewReplacer(dead, "127.0.0.1:CLOSED", runtime.Version(), "goVERSION", PinnedToolchain, "goPINNED").Replace(s)
	}
	return rep, norm
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -run Golden -update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestGoldenText(t *testing.T) {
	rep, norm := goldenReport(t)
	var b bytes.Buffer
	if err := rep.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "report.txt", norm(b.String()))
	// Two runs of the same environment give the same bytes (§1 Deterministic).
	rep2, norm2 := goldenReport(t)
	var b2 bytes.Buffer
	_ = rep2.WriteText(&b2, false)
	if norm2(b2.String()) != norm(b.String()) {
		t.Error("two identical runs differ")
	}
}

func TestGoldenJSON(t *testing.T) {
	rep, norm := goldenReport(t)
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "report.json", norm(b.String()))
}

func TestTextColourOnlyWhenAsked(t *testing.T) {
	rep, _ := goldenReport(t)
	var plain, colour bytes.Buffer
	_ = rep.WriteText(&plain, false)
	_ = rep.WriteText(&colour, true)
	if strings.Contains(plain.String(), "\x1b[") || !strings.Contains(colour.String(), ansiRed) {
		t.Error("colour codes wrong")
	}
	if useColor(&plain, nil) {
		t.Error("a buffer is not a terminal")
	}
}
