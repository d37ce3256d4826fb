package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/arqonbus/arqonbus/internal/app"
	"github.com/arqonbus/arqonbus/internal/config"
)

// loadConfig runs the one configuration loader for a server command and
// prints help or errors. It returns the exit code to use when cfg is nil.
func loadConfig(cmd config.Command, args []string, stdout, stderr io.Writer) (*config.Config, int) {
	cfg, err := config.Load(cmd, args, os.Environ())
	if err == nil {
		return cfg, 0
	}
	if errors.Is(err, config.ErrHelp) {
		fmt.Fprint(stdout, config.Usage(cmd))
		return nil, exitOK
	}
	var usage *config.UsageError
	if errors.As(err, &usage) {
		fmt.Fprintln(stderr, "arqonbus: "+usage.Message)
		return nil, exitUsage
	}
	fmt.Fprintln(stderr, "arqonbus: "+err.Error())
	return nil, exitFailure
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, code := loadConfig(config.CommandServe, args, stdout, stderr)
	if cfg == nil {
		return code
	}
	logger := app.NewLogger(cfg, stderr)
	if err := app.Serve(ctx, cfg, logger); err != nil {
		logger.Error("startup failed", "component", "bus", "error", err.Error())
		return fail(stderr, err)
	}
	return exitOK
}
