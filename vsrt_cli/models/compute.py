"""Multiply-accumulate counts, measured by running the modules on the meta device.

torch's FlopCounterMode counts every conv and matmul; meta tensors make that free of
memory and arithmetic, so the count is exact for any config without running the model.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch.utils.flop_counter import FlopCounterMode

from .spynet import PYRAMID_LEVELS, SPyNet
from .vsrt import VSRTConfig, VSRTransformer


@lru_cache(maxsize=32)
def window_macs(config: VSRTConfig) -> int:
    """MACs of one forward pass over a window of T tiles, flows supplied (no SPyNet)."""
    frames, size = config.num_frames, config.tile_size
    with torch.device("meta"):
        model = VSRTransformer(config)
        lrs = torch.empty(1, frames, 3, size, size)
        flow = torch.empty(1, frames, 2, size, size)
        with FlopCounterMode(display=False) as counter:
            model(lrs, flows=(flow, flow))
    return counter.get_total_flops() // 2


@lru_cache(maxsize=32)
def flow_pair_macs(height: int, width: int, levels: int = PYRAMID_LEVELS) -> int:
    """MACs of one SPyNet flow between two frames of this size, ``levels`` pyramid levels."""
    with torch.device("meta"):
        spynet = SPyNet(levels)
        frame = torch.empty(1, 3, height, width)
        with FlopCounterMode(display=False) as counter:
            spynet(frame, frame)
    return counter.get_total_flops() // 2


def parameter_count(config: VSRTConfig) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in VSRTransformer(config).parameters())


def official_pairs_per_window(config: VSRTConfig) -> int:
    """SPyNet pairs one forward pass computes when it is not given flows."""
    frames = config.num_frames
    return 2 * (frames + 1) if config.self_flow == "spynet" else 2 * (frames - 1)


def forward_macs_with_flow(config: VSRTConfig) -> int:
    """One forward pass over a window, SPyNet on the tile included (the official way)."""
    size = config.tile_size
    return window_macs(config) + official_pairs_per_window(config) * flow_pair_macs(size, size, config.flow_levels)
