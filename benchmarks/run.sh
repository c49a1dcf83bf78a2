#!/usr/bin/env bash
# Reproduce the figures in benchmarks/README.md: every run is `vsrt bench --json`, one file
# per configuration in benchmarks/results/. Run it on an otherwise idle machine.
# Each run times the model alone, then the whole `upscale` pipeline, then (--memory-check)
# the pipeline on a clip and on one twice as long, comparing their peak RSS. The memory
# clips are longer than the encoder's lookahead at that output size (x264 medium: 40
# frames up to 1280x720 output, 32 at 2560x1440, 8 at 5120x2880), so the encoder's
# buffers are full in both and only growth with length shows.
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results
mkdir -p "$out"
model="${VSRT_BENCH_MODEL:-vsrt-small}"
vsrt bench -m "$model" --size 320x180 --frames 10 --memory-check --memory-frames 50 --json >"$out/$model-320x180.json"
vsrt bench -m "$model" --size 640x360 --frames 10 --memory-check --memory-frames 40 --json >"$out/$model-640x360.json"
vsrt bench -m "$model" --size 1280x720 --frames 5 --memory-check --memory-frames 15 --json >"$out/$model-1280x720.json"
# The official architecture (timing only: random weights run at the same speed).
vsrt bench --preset official-reds --size 320x180 --frames 5 --json >"$out/official-reds-320x180.json"
