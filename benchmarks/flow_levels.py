"""Experiment: held-out quality when SPyNet stops before its finest pyramid level(s).

SPyNet refines its flow over six pyramid levels; the finest one costs three quarters of
its MACs, and SPyNet is about 60% of vsrt-small's. This measures what stopping early
costs in PSNR (the coarser flow is upsampled to full size), without retraining:

    python benchmarks/flow_levels.py --levels 5 [--weights W] [--ensemble 2]

Not an option of `vsrt` yet: the script sets ``SPyNet.levels`` on the loaded model.
"""

from __future__ import annotations

import argparse
import json

from vsrt_cli.inference import InferenceOptions, keep_freed_memory
from vsrt_cli.models.spynet import PYRAMID_LEVELS
from vsrt_cli.quality.evaluate import evaluate
from vsrt_cli.weights.checkpoint import load_checkpoint_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, default=PYRAMID_LEVELS, choices=range(1, PYRAMID_LEVELS + 1))
    parser.add_argument("--weights", default="weights/vsrt-small.safetensors")
    parser.add_argument("--gt", default="runs/valset/GT")
    parser.add_argument("--lr", default="runs/valset/BIx4")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--ensemble", type=int, default=1)
    args = parser.parse_args()

    keep_freed_memory()
    model = load_checkpoint_model(args.weights)
    model.spynet.spynet.levels = args.levels
    options = InferenceOptions(precision=args.precision, ensemble=args.ensemble)
    report = evaluate(args.gt, args.lr, model, inference_options=options)
    clips = {clip.name: clip.psnr_y for clip in report.clips}
    print(json.dumps({"levels": args.levels, "ensemble": args.ensemble, "weights": args.weights, **report.means, "clips": clips}))


if __name__ == "__main__":
    main()
