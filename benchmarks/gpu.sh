#!/usr/bin/env bash
# The GPU figures in benchmarks/README.md ("On a GPU"), in one run of a few minutes:
# the CUDA tests, `vsrt bench` in the default precision (fp16) for the bundled model and the
# official-size preset, vsrt-small again with x264 veryfast, fp16 against fp32 in 8-bit
# codes, memory for a clip and one twice as long, and PSNR of fp16 and fp32 (and the
# official protocol, with GPU_EVAL_OFFICIAL=1) on the held-out clips (runs/valset, made by
# `vsrt train --prepare-val runs/valset`) when they are there.
# About 8 minutes on an H200 machine (2026-12-04: 432 s to the last bench, then the evals).
# Usage: benchmarks/gpu.sh [RESULTS_DIR]   (VSRT="python3 -m vsrt_cli" where vsrt is not installed)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/gpu}"
vsrt=(${VSRT:-vsrt})
mkdir -p "$out"
step() { echo "== ${SECONDS}s $*" >&2; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >&2
python3 -c "import torch, av, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'av', av.__version__, 'numpy', numpy.__version__, torch.cuda.get_device_name())" >&2
nproc >&2

step "CUDA tests"
timeout 180 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_inference.py tests/test_bench.py >&2

for size in 320x180:48 640x360:48 1280x720:24; do
    step "bench vsrt-small ${size%%:*}"
    timeout 150 "${vsrt[@]}" bench -m vsrt-small --device cuda --size "${size%%:*}" --frames "${size##*:}" \
        --precision-check --json >"$out/vsrt-small-${size%%:*}.json"
done
# The same with a fast x264 preset: does end to end reach the model when the encoder keeps up?
for size in 640x360:48 1280x720:24; do
    step "bench vsrt-small ${size%%:*} x264 veryfast"
    timeout 150 "${vsrt[@]}" bench -m vsrt-small --device cuda --size "${size%%:*}" --frames "${size##*:}" \
        --encoder-preset veryfast --json >"$out/vsrt-small-${size%%:*}-veryfast.json"
done
step "memory vsrt-small 1280x720"
timeout 200 "${vsrt[@]}" bench -m vsrt-small --device cuda --size 1280x720 --frames 4 --memory-check \
    --memory-frames 20 --json >"$out/vsrt-small-1280x720-memory.json"
for size in 320x180:24 640x360:12 1280x720:6; do
    step "bench official-reds ${size%%:*}"
    timeout 150 "${vsrt[@]}" bench --arch official-reds --device cuda --size "${size%%:*}" \
        --frames "${size##*:}" --json >"$out/official-reds-${size%%:*}.json"
done

if [ -d runs/valset/GT ]; then
    for run in "fp16:--precision fp16" "fp32:--precision fp32" ${GPU_EVAL_OFFICIAL:+"official-fp32:--precision fp32 --protocol official"}; do
        step "eval ${run%%:*}"
        timeout 200 "${vsrt[@]}" eval runs/valset/GT --lr runs/valset/BIx4 --device cuda ${run#*:} --json \
            >"$out/eval-${run%%:*}.json"
    done
fi
step "done"
