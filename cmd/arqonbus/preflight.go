package main

import (
	"context"
	"io"
	"os"

	"github.com/arqonbus/arqonbus/internal/preflight"
)

func init() {
	commands["preflight"] = command{"Run the production preflight runbook: GO or NO-GO", runPreflight}
}

// runPreflight is `arqonbus preflight` (PREFLIGHT.md §2).
func runPreflight(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return preflight.Main(ctx, args, os.Environ(), os.Args, stdout, stderr)
}
