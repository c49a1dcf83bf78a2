"""Experiment: held-out quality when SPyNet stops before its finest pyramid level(s).

SPyNet refines its flow over six pyramid levels; the finest one costs three quarters of
its MACs, and SPyNet is about 60% of vsrt-small's. This measures what stopping early
costs in PSNR (the coarser flow is upsampled to full size), without retraining:

    python benchmarks/flow_levels.py --levels 5 [--weights W] [--ensemble 2]

Networks trained to use fewer levels carry ``flow_levels`` in their config (see
``vsrt_cli/training/configs/vsrt-small-flow5.json``); this script scores any weights at
any number of levels (default: the weights' own) by rebuilding them with another
``flow_levels``, without retraining.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from vsrt_cli.inference import InferenceOptions, keep_freed_memory
from vsrt_cli.models.spynet import PYRAMID_LEVELS
from vsrt_cli.quality.evaluate import evaluate
from vsrt_cli.weights.checkpoint import build_model, load_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, default=None, choices=range(1, PYRAMID_LEVELS + 1))
    parser.add_argument("--weights", default="weights/vsrt-small.safetensors")
    parser.add_argument("--gt", default="runs/valset/GT")
    parser.add_argument("--lr", default="runs/valset/BIx4")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--ensemble", type=int, default=1)
    args = parser.parse_args()

    keep_freed_memory()
    config, state, _ = load_checkpoint(args.weights)
    levels = args.levels or config.flow_levels
    model = build_model(dataclasses.replace(config, flow_levels=levels), state, source=args.weights)
    options = InferenceOptions(precision=args.precision, ensemble=args.ensemble)
    report = evaluate(args.gt, args.lr, model, inference_options=options)
    clips = {clip.name: clip.psnr_y for clip in report.clips}
    print(json.dumps({"levels": levels, "ensemble": args.ensemble, "weights": args.weights, **report.means, "clips": clips}))


if __name__ == "__main__":
    main()
