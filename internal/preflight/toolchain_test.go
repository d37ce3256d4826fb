package preflight

import (
	"os"
	"strings"
	"testing"
)

func TestPinnedToolchainMatchesGoMod(t *testing.T) {
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "toolchain" {
			want = f[1]
		}
		if len(f) == 2 && f[0] == "go" && want == "" {
			want = "go" + f[1]
		}
	}
	if want != PinnedToolchain {
		t.Fatalf("PinnedToolchain = %q, go.mod pins %q: update internal/preflight/toolchain.go", PinnedToolchain, want)
	}
}

func TestToolchainCheck(t *testing.T) {
	for _, tc := range []struct {
		running string
		want    Status
	}{
		{PinnedToolchain, StatusOK},
		{"go1.26.1", StatusWarn},
		{"go1.25.8", StatusFail},
		{"go2.26.8", StatusFail},
		{"devel go1.27-abcdef", StatusFail},
		{"go1.26.8 X:nocoverageredesign", StatusOK},
	} {
		if got := toolchainCheck(tc.running).Status; got != tc.want {
			t.Errorf("toolchainCheck(%q) = %s, want %s", tc.running, got, tc.want)
		}
	}
}

func TestBuildCleanCheck(t *testing.T) {
	if got := buildCleanCheck(vcsInfo{}).Status; got != StatusWarn {
		t.Errorf("unknown revision: %s, want warn", got)
	}
	if got := buildCleanCheck(vcsInfo{revision: "abc", modified: true, fromVCS: true}).Status; got != StatusFail {
		t.Errorf("modified: %s, want fail", got)
	}
	if got := buildCleanCheck(vcsInfo{revision: "abc", fromVCS: true}).Status; got != StatusOK {
		t.Errorf("clean: %s, want ok", got)
	}
}
