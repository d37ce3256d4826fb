// Package buildinfo holds the identity stamped into the binary at build time.
//
// Stamp with: go build -ldflags "-X github.com/arqonbus/arqonbus/internal/buildinfo.Version=1.0.0 \
// -X github.com/arqonbus/arqonbus/internal/buildinfo.GitCommit=$(git rev-parse --short HEAD) \
// -X github.com/arqonbus/arqonbus/internal/buildinfo.BuildDate=$(date -u +%FT%TZ)"
package buildinfo

import "runtime"

// Values stamped by -ldflags; "unknown" when not stamped (OPERATIONS.md §6.3).
var (
	Version   = "1.0.0"
	GitCommit = "unknown"
	BuildDate = "unknown"
)

// Protocol is the wire protocol version (PROTOCOL.md).
const Protocol = "1.0"

// GoVersion is the toolchain that built the binary.
func GoVersion() string { return runtime.Version() }
