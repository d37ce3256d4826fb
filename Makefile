# Convenience targets; each is one command you can also run by hand.
.PHONY: dev test bench build

dev:            ## the whole stack on one machine, no external services
	go run ./cmd/arqonbus dev

test:           ## every test (the README's command)
	go test -race -count=1 ./...

bench:          ## Go micro-benchmarks of the hot paths, saved in benchstat format
	scripts/bench.sh

PKG := github.com/arqonbus/arqonbus/internal/buildinfo
LDFLAGS := -X $(PKG).GitCommit=$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown) \
           -X $(PKG).BuildDate=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)

build:          ## a release binary stamped with its commit and build date (/version, preflight)
	go build -ldflags "$(LDFLAGS)" -o arqonbus ./cmd/arqonbus
