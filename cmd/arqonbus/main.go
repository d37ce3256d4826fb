// Command arqonbus is the ArqonBus real-time message bus: one binary with the
// bus server, the Shield gateway, the preflight runbook and client tools.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/arqonbus/arqonbus/internal/buildinfo"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"serve": {"Run the bus: WebSocket endpoint, HTTP ops API, storage", runServe},
}

// Exit codes (CLI.md §2).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "arqonbus: no command given (see arqonbus --help)")
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		printHelp(stdout)
		return exitOK
	case "--version", "-version":
		fmt.Fprintf(stdout, "arqonbus %s (%s, %s)\n", buildinfo.Version, buildinfo.GitCommit, buildinfo.GoVersion())
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "arqonbus: unknown command %q (see arqonbus --help)\n", args[0])
		return exitUsage
	}
	ctx, stop := signalContext()
	defer stop()
	return cmd.run(ctx, args[1:], stdout, stderr)
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "arqonbus — the ArqonBus real-time message bus")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: arqonbus <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'arqonbus <command> --help' for the flags of a command.")
	fmt.Fprintln(w, "Global: --help, --version")
}

// signalContext is cancelled on the first SIGINT or SIGTERM; a second signal
// exits immediately with status 1 (CLI.md §2).
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
			return
		}
		<-ch
		fmt.Fprintln(os.Stderr, "arqonbus: second signal, exiting immediately")
		os.Exit(exitFailure)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// fail prints the one-line error of CLI.md §2.
func fail(stderr io.Writer, err error) int {
	msg := err.Error()
	if strings.HasPrefix(msg, "Startup preflight failed: ") {
		fmt.Fprintln(stderr, msg)
		return exitFailure
	}
	fmt.Fprintln(stderr, "arqonbus: "+msg)
	var u interface{ Usage() bool }
	if errors.As(err, &u) && u.Usage() {
		return exitUsage
	}
	return exitFailure
}
