"""Experiment: held-out quality when SPyNet stops before its finest pyramid level(s).

SPyNet refines its flow over six pyramid levels; the finest one costs three quarters of
its MACs, and SPyNet is about 60% of vsrt-small's. This measures what stopping early
costs in PSNR (the coarser flow is upsampled to full size), without retraining:

    python benchmarks/flow_levels.py --levels 5 [--weights W] [--ensemble 2]

Not yet an option of the package: the levels are patched into SPyNet for this run only.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

from vsrt_cli.inference import InferenceOptions, keep_freed_memory
from vsrt_cli.models import spynet
from vsrt_cli.quality.evaluate import evaluate
from vsrt_cli.weights.checkpoint import load_checkpoint_model


def truncated_flow(levels: int):
    """A SPyNet._compute_flow that runs only the ``levels`` coarsest levels."""

    def compute_flow(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        ref_levels, supp_levels = self._pyramid(ref), self._pyramid(supp)
        batch, _, height, width = ref.shape
        flow = ref.new_zeros(batch, 2, height // spynet.SIZE_MULTIPLE, width // spynet.SIZE_MULTIPLE)
        for level, module in enumerate(self.basic_module[:levels]):
            flow_up = flow if level == 0 else 2.0 * F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True)
            warped = spynet.flow_warp(supp_levels[level], flow_up.permute(0, 2, 3, 1), padding_mode="border")
            flow = flow_up + module(torch.cat([ref_levels[level], warped, flow_up], dim=1))
        # Flow is in pixels of its own level: scale the values with the grid.
        factor = 2 ** (spynet.PYRAMID_LEVELS - levels)
        return factor * F.interpolate(flow, scale_factor=factor, mode="bilinear", align_corners=True) if factor > 1 else flow

    return compute_flow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, default=spynet.PYRAMID_LEVELS, choices=range(1, spynet.PYRAMID_LEVELS + 1))
    parser.add_argument("--weights", default="weights/vsrt-small.safetensors")
    parser.add_argument("--gt", default="runs/valset/GT")
    parser.add_argument("--lr", default="runs/valset/BIx4")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--ensemble", type=int, default=1)
    args = parser.parse_args()

    spynet.SPyNet._compute_flow = truncated_flow(args.levels)
    keep_freed_memory()
    model = load_checkpoint_model(args.weights)
    options = InferenceOptions(precision=args.precision, ensemble=args.ensemble)
    report = evaluate(args.gt, args.lr, model, inference_options=options)
    clips = {clip.name: clip.psnr_y for clip in report.clips}
    print(json.dumps({"levels": args.levels, "ensemble": args.ensemble, "weights": args.weights, **report.means, "clips": clips}))


if __name__ == "__main__":
    main()
