#!/usr/bin/env bash
# Reproduce the figures in benchmarks/README.md: every run is `vsrt bench --json`, one file
# per configuration in benchmarks/results/. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results
mkdir -p "$out"
model="${VSRT_BENCH_MODEL:-vsrt-small}"
for size in 320x180 640x360 1280x720; do
  frames=12
  [ "$size" = 1280x720 ] && frames=6
  vsrt bench -m "$model" --size "$size" --frames "$frames" --json >"$out/$model-$size.json"
done
vsrt bench -m "$model" --size 640x360 --frames 6 --memory-check --json >"$out/$model-memory-640x360.json"
vsrt bench -m "$model" --size 1280x720 --frames 3 --memory-check --json >"$out/$model-memory-1280x720.json"
# The official architecture (timing only: random weights run at the same speed).
vsrt bench --preset official-reds --size 320x180 --frames 3 --json >"$out/official-reds-320x180.json"
