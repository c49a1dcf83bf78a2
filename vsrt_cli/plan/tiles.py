"""Spatial tiles: where the fixed-size model input is cut from a frame, and how the
4x outputs are blended back without seams.

Tiles overlap by at least ``overlap`` LR pixels; the last tile in each direction is
aligned to the frame's edge, so no tile hangs off the frame (frames smaller than a tile
are padded first; see :func:`padded_frame_size`). Each tile's output is weighted by a
separable window that is near zero at the tile's inner edges (where the model sees zero
padding instead of image), rises smoothly across the middle of the overlap, and is one at
the frame's own edges, where no neighbour shares the work. The
weighted sum divided by the summed weights is independent of tile order and batching.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tile:
    """An LR tile's top-left corner in the (padded) frame; all tiles share one size."""

    top: int
    left: int


def padded_frame_size(height: int, width: int, tile_size: int) -> tuple[int, int]:
    """A frame smaller than a tile in some dimension is padded up to the tile size."""
    return max(height, tile_size), max(width, tile_size)


def tile_starts(length: int, tile_size: int, overlap: int) -> list[int]:
    """Start offsets covering ``[0, length)`` with tiles overlapping by >= ``overlap``.

    The tiles are spread evenly, so the actual overlap is as uniform as possible.
    """
    if length < tile_size:
        raise ValueError(f"length {length} is smaller than the tile size {tile_size}; pad first")
    if not 0 <= overlap < tile_size:
        raise ValueError(f"tile overlap must be in [0, {tile_size - 1}], got {overlap}")
    if length == tile_size:
        return [0]
    step = tile_size - overlap
    count = math.ceil((length - tile_size) / step) + 1
    span = length - tile_size
    return [round(i * span / (count - 1)) for i in range(count)]


def plan_tiles(height: int, width: int, tile_size: int, overlap: int) -> list[Tile]:
    """Row-major tiles over a frame already padded to at least one tile."""
    return [
        Tile(top, left)
        for top in tile_starts(height, tile_size, overlap)
        for left in tile_starts(width, tile_size, overlap)
    ]


# Weight of a tile's outermost pixels: nearly nothing, but never zero, so every pixel of
# the frame keeps a defined value whatever the tiling.
EDGE_WEIGHT = 1e-4


def ramp(length: int, overlap: int) -> np.ndarray:
    """1-D blend weights for a tile of ``length`` samples whose ends overlap by ``overlap``.

    The outer quarter of the overlap is near zero, because a tile's outermost pixels see
    zero padding instead of image; the middle half rises as a raised cosine; the inner
    quarter is one. Two tiles overlapping by exactly ``overlap`` then have weights that
    sum to one across the seam (sin^2 + cos^2).
    """
    weights = np.ones(length, dtype=np.float32)
    if overlap <= 0:
        return weights
    margin = overlap // 4
    rise_length = overlap - 2 * margin
    positions = (np.arange(rise_length, dtype=np.float64) + 0.5) / rise_length
    rise = np.concatenate(
        [np.full(margin, EDGE_WEIGHT), np.sin(0.5 * np.pi * positions) ** 2, np.ones(margin)]
    ).astype(np.float32)
    rise = np.maximum(rise, EDGE_WEIGHT)
    weights[:overlap] = rise
    weights[length - overlap :] = np.minimum(weights[length - overlap :], rise[::-1])
    return weights


def tile_weights(
    tile: Tile,
    frame_height: int,
    frame_width: int,
    tile_size: int,
    overlap: int,
    scale: int = 4,
) -> np.ndarray:
    """[scale*tile, scale*tile] float32 weights for ``tile``'s upscaled output.

    The sides that touch the frame's edge keep full weight: there is nothing to blend with.
    """
    size = tile_size * scale
    edge = overlap * scale

    def axis(start: int, length: int) -> np.ndarray:
        weights = ramp(size, edge)
        if start == 0:
            weights[: size // 2] = 1.0
        if start + tile_size == length:
            weights[size // 2 :] = 1.0
        return weights

    return np.outer(axis(tile.top, frame_height), axis(tile.left, frame_width))


def lr_pixels_computed(height: int, width: int, tile_size: int, overlap: int) -> int:
    """LR pixels the model processes per window for one frame of this size."""
    padded_h, padded_w = padded_frame_size(height, width, tile_size)
    return len(plan_tiles(padded_h, padded_w, tile_size, overlap)) * tile_size * tile_size
