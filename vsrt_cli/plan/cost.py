"""What a run costs: LR pixels and multiply-accumulates per output frame."""

from __future__ import annotations

from dataclasses import dataclass

from .tiles import padded_frame_size, plan_tiles


@dataclass(frozen=True)
class FrameCost:
    tiles_per_window: int
    model_macs: float  # per output frame, the transformer on all tiles of its window share
    flow_macs: float  # per output frame, SPyNet on whole frames
    redundancy: float  # LR pixels the model processes per output LR pixel

    @property
    def total_macs(self) -> float:
        return self.model_macs + self.flow_macs


def frame_cost(
    height: int,
    width: int,
    *,
    num_frames: int,
    tile_size: int,
    overlap: int,
    stride: int,
    window_macs: int,
    flow_pair_macs: int,
    spynet_self_flow: bool,
    ensemble: int = 1,
) -> FrameCost:
    """Cost per output frame in steady state (away from the video's ends).

    Each window of T frames runs every tile once per ensemble version and yields
    ``stride`` frames; flows are computed once per neighbouring pair in each direction
    (whatever the ensemble), plus two self-flows per window when the model warps its end
    frames with SPyNet(x, x).
    """
    padded_h, padded_w = padded_frame_size(height, width, tile_size)
    tiles = len(plan_tiles(padded_h, padded_w, tile_size, overlap))
    model_macs = tiles * window_macs * ensemble / stride
    pairs_per_frame = 2 + (2 / stride if spynet_self_flow else 0)
    redundancy = tiles * num_frames * tile_size * tile_size / (stride * height * width)
    return FrameCost(tiles, model_macs, pairs_per_frame * flow_pair_macs, redundancy)


def official_protocol_macs(height: int, width: int, tile_size: int, forward_macs: int) -> float:
    """MACs per output frame under the official test protocol.

    One window per frame; every window is cut into tile_size crops at stride tile_size/2
    (``height // (tile_size/2)`` by ``width // (tile_size/2)`` crops) and each crop runs a
    full forward pass, SPyNet included (``forward_macs``).
    """
    half = tile_size // 2
    return (height // half) * (width // half) * forward_macs
