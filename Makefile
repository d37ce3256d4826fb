# Convenience targets; each is one command you can also run by hand.
.PHONY: dev test bench build

dev:            ## the whole stack on one machine, no external services
	go run ./cmd/arqonbus dev

test:           ## every test (the README's command)
	go test -race -count=1 ./...

bench:          ## Go micro-benchmarks of the hot paths, saved in benchstat format
	scripts/bench.sh

build:
	go build -o arqonbus ./cmd/arqonbus
