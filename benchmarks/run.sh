#!/usr/bin/env bash
# Reproduce the figures in benchmarks/README.md: every run is `vsrt bench --json`, one file
# per configuration in benchmarks/results/. Run it on an otherwise idle machine.
# Each run times the model alone, then the whole `upscale` pipeline, then (--memory-check)
# the pipeline on a clip and on one twice as long, comparing their peak RSS. The memory
# clips are longer than the encoder's lookahead at that output size (x264 medium: 40
# frames at 1280x720 output; vsrt caps it to 60 Mpx of frames, so 16 at 2560x1440 and 4
# at 5120x2880), so the encoder's buffers are full in both and only growth with length shows;
# at 1280x720 also longer than the first windows' rise in memory (about 17 frames).
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results
mkdir -p "$out"
model="${VSRT_BENCH_MODEL:-vsrt-small}"
vsrt bench -m "$model" --size 320x180 --frames 10 --memory-check --memory-frames 50 --json >"$out/$model-320x180.json"
vsrt bench -m "$model" --size 640x360 --frames 10 --memory-check --memory-frames 40 --json >"$out/$model-640x360.json"
vsrt bench -m "$model" --size 1280x720 --frames 5 --memory-check --memory-frames 30 --json >"$out/$model-1280x720.json"
# The official architecture (timing only: random weights run at the same speed).
# About 37 s, 2.5 min and 10 min per frame on the 2-core reference machine: the last run takes
# close to two hours.
for size in 320x180 640x360 1280x720; do
    vsrt bench --arch official-reds --size "$size" --frames 5 --json >"$out/official-reds-$size.json"
done
