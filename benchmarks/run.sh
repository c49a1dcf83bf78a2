#!/usr/bin/env bash
# Reproduce the figures in benchmarks/README.md: every run is `vsrt bench --json`, one file
# per configuration in benchmarks/results/. Run it on an otherwise idle machine.
# Each run times the model alone, then the whole `upscale` pipeline, then (--memory-check)
# the pipeline on the clip and on one twice as long, comparing their peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results
mkdir -p "$out"
model="${VSRT_BENCH_MODEL:-vsrt-small}"
vsrt bench -m "$model" --size 320x180 --frames 10 --memory-check --json >"$out/$model-320x180.json"
vsrt bench -m "$model" --size 640x360 --frames 10 --memory-check --json >"$out/$model-640x360.json"
vsrt bench -m "$model" --size 1280x720 --frames 5 --memory-check --json >"$out/$model-1280x720.json"
# The official architecture (timing only: random weights run at the same speed).
vsrt bench --preset official-reds --size 320x180 --frames 5 --json >"$out/official-reds-320x180.json"
