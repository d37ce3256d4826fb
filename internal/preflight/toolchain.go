package preflight

import (
	"runtime/debug"
	"strings"

	"github.com/arqonbus/arqonbus/internal/buildinfo"
)

// PinnedToolchain is the go.mod toolchain line of the module this binary was
// built from (PREFLIGHT.md §3.1 pre.toolchain). TestPinnedToolchainMatchesGoMod
// keeps it equal to go.mod, so a change of the pin that forgets this constant
// fails the unit gate.
const PinnedToolchain = "go1.26.8"

// toolchainCheck compares the pinned toolchain with the running one.
func toolchainCheck(running string) Result {
	pmaj, pmin, ppatch, ok1 := parseVersion(strings.TrimPrefix(PinnedToolchain, "go"))
	field := strings.Fields(running)
	rv := ""
	if len(field) > 0 {
		rv = field[0]
	}
	rmaj, rmin, rpatch, ok2 := parseVersion(strings.TrimPrefix(rv, "go"))
	detail := running + " (pinned " + PinnedToolchain + ")"
	fix := "build with the pinned toolchain: GOTOOLCHAIN=" + PinnedToolchain + " go build ./cmd/arqonbus"
	switch {
	case !ok1 || !ok2 || !strings.HasPrefix(rv, "go"):
		return fail(detail+": cannot compare versions", fix)
	case pmaj != rmaj || pmin != rmin:
		return fail(detail+": minor or major version differs", fix)
	case ppatch != rpatch:
		return warn(detail+": patch version differs", fix)
	}
	return ok(detail)
}

// vcsInfo is the commit the binary was built from.
type vcsInfo struct {
	revision string
	modified bool
	// fromVCS is true when the revision came from the Go VCS build info,
	// which also says whether the tree was modified.
	fromVCS bool
}

func readVCS() vcsInfo {
	var v vcsInfo
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.revision, v.fromVCS = s.Value, true
			case "vcs.modified":
				v.modified = s.Value == "true"
			}
		}
	}
	if v.revision == "" && buildinfo.GitCommit != "" && buildinfo.GitCommit != "unknown" {
		v.revision = buildinfo.GitCommit
	}
	return v
}

func buildCleanCheck(v vcsInfo) Result {
	fix := "build the release binary from a clean, committed tree (git status shows nothing) or stamp it with -ldflags"
	switch {
	case v.revision == "":
		return warn("commit unknown: no VCS build info and no -ldflags stamp", fix)
	case v.modified:
		return fail("built from commit "+v.revision+" with uncommitted changes (vcs.modified=true)", fix)
	case !v.fromVCS:
		return ok("commit " + v.revision + " (stamped by -ldflags)")
	}
	return ok("commit " + v.revision + ", clean tree")
}
