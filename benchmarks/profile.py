"""Where the model-only time goes: torch.profiler over one synthetic clip.

    python benchmarks/profile.py [--model vsrt-small] [--size 640x360] [--frames 10] [--device cuda]

Prints the wall time, then the operators with the most self time on the device (CUDA) or
the CPU. A GPU that waits on Python shows as device time far below the wall time.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from vsrt_cli.bench import parse_size, synthetic_frames
from vsrt_cli.inference import InferenceOptions, WindowedUpscaler, keep_freed_memory
from vsrt_cli.weights.loading import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--rows", type=int, default=25)
    args = parser.parse_args()
    keep_freed_memory()  # as every vsrt command does (README, Allocator)
    width, height = parse_size(args.size)
    model = load_model(args.model)
    options = InferenceOptions(device=args.device, precision=args.precision)
    clip = synthetic_frames(width, height, args.frames)
    list(WindowedUpscaler(model, options).upscale(clip[: model.config.num_frames]))  # warm-up
    upscaler = WindowedUpscaler(model, options)
    cuda = upscaler.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        started = time.perf_counter()
        for _ in upscaler.upscale(clip):
            pass
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    stats = upscaler.stats
    print(f"{args.frames} frames in {seconds:.3f} s ({args.frames / seconds:.2f} fps), {stats.tiles} tiles,"
          f" tile batch {stats.tile_batch}, {stats.device} {stats.precision}")
    sort = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=args.rows))


if __name__ == "__main__":
    main()
