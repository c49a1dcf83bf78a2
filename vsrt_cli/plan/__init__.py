"""Inference planning as pure functions: temporal windows and spatial tiles."""

from .tiles import Tile, padded_frame_size, plan_tiles, tile_starts, tile_weights
from .windows import Window, chunk_window, default_stride, plan_windows, reflection_circle

__all__ = [
    "Tile",
    "Window",
    "chunk_window",
    "default_stride",
    "padded_frame_size",
    "plan_tiles",
    "plan_windows",
    "reflection_circle",
    "tile_starts",
    "tile_weights",
]
