"""The size of the written video for ``--scale``: the model always makes 4x, and a
smaller factor shrinks its frames before encoding (720p -> 1440p instead of 2880p)."""

from __future__ import annotations

import math

from ..errors import UsageError

MODEL_SCALE = 4  # vsrt's networks are x4 (models/vsrt.py SCALE); asserted in the tests
MIN_SCALE = 1


def check_scale(scale: float) -> float:
    """A scale vsrt can write: from 1 (the source's size) to 4 (the model's own)."""
    try:
        if isinstance(scale, bool):
            raise TypeError(scale)
        value = float(scale)
    except (TypeError, ValueError):
        raise UsageError(f"--scale {scale!r}: expected a number from {MIN_SCALE} to {MODEL_SCALE}") from None
    if not math.isfinite(value) or not MIN_SCALE <= value <= MODEL_SCALE:
        raise UsageError(f"--scale {scale}: must be from {MIN_SCALE} to {MODEL_SCALE} (the model upscales 4x)")
    return value


def output_size(width: int, height: int, scale: float = MODEL_SCALE) -> tuple[int, int]:
    """(width, height) of the output for a ``width`` x ``height`` source.

    Sides are even, because 4:2:0 and 4:2:2 video (nearly all of it) cannot have odd ones:
    the height is the scaled one rounded to the nearest even number, and the width the
    even number nearest the source's shape at that height, so the picture's shape changes
    by under a pixel (rounding each side alone could change it by two). At 4 the sizes
    are exactly 4x, as the model makes them.
    """
    scale = check_scale(scale)
    if scale == MODEL_SCALE:
        return MODEL_SCALE * width, MODEL_SCALE * height
    out_height = _even(height * scale)
    return _even(width * out_height / height), out_height


def _even(length: float) -> int:
    return max(2, 2 * math.floor(length / 2 + 0.5))
