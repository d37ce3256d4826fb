#!/usr/bin/env bash
# Reruns the Go micro-benchmarks of the hot paths and saves them in benchstat
# format under bench/results/, so regressions are visible over time:
#
#   scripts/bench.sh                 # COUNT=6 runs of each benchmark
#   benchstat bench/results/<old>.txt bench/results/<new>.txt
#
# benchstat: go install golang.org/x/perf/cmd/benchstat@latest
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-6}
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
mkdir -p bench/results
out="bench/results/$(date -u +%Y%m%dT%H%M%SZ)-$commit.txt"
pkgs=(./internal/protocol ./internal/bus ./internal/casil ./internal/storage ./internal/shield ./internal/auth ./internal/telemetry)
{
  echo "# commit: $commit"
  echo "# go: $(go version)"
  echo "# cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  go test -run '^$' -bench . -benchmem -count "$count" -cpu 2 "${pkgs[@]}"
} | tee "$out"
echo "saved $out" >&2
if command -v benchstat >/dev/null 2>&1; then
  prev=$(ls -1 bench/results/*.txt | grep -v "$out" | tail -1 || true)
  if [ -n "$prev" ]; then benchstat "$prev" "$out"; fi
fi
