"""The size of the written video: ``--scale`` or ``--height``. The model always makes 4x;
its frames are then resized before encoding (720p -> 1440p instead of 2880p, or every
video of a folder to 1080 lines)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UsageError

MODEL_SCALE = 4  # vsrt's networks are x4 (models/vsrt.py SCALE); asserted in the tests
MIN_SCALE = 1
MAX_HEIGHT = 16384  # FFmpeg's encoders stop at 8K or 16K lines


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


def check_height(height) -> int:
    """An output height in lines: a whole number from 2 to MAX_HEIGHT."""
    try:
        if isinstance(height, bool) or float(height) != int(float(height)):
            raise ValueError(height)
        value = int(float(height))
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"--height {height!r}: expected a whole number of lines, such as 1080") from None
    if not 2 <= value <= MAX_HEIGHT:
        raise UsageError(f"--height {height}: must be from 2 to {MAX_HEIGHT}")
    return value


@dataclass(frozen=True)
class OutputSize:
    """``scale`` times the source (1 to 4), or, when ``height`` is set, that many lines as
    the video is shown (for a video stored sideways with a rotation tag, its stored width)."""

    scale: float = MODEL_SCALE
    height: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "scale", check_scale(self.scale))
        if self.height is not None:
            if self.scale != MODEL_SCALE:
                raise UsageError("use either --scale or --height, not both")
            object.__setattr__(self, "height", check_height(self.height))

    def resolve(self, width: int, height: int, rotation: int = 0) -> tuple[int, int]:
        """(width, height) of the output, as stored, for a ``width`` x ``height`` source."""
        if self.height is None:
            return output_size(width, height, self.scale)
        if rotation % 180 == 90:  # shown turned a quarter: the shown height is the stored width
            out_h, out_w = _fit(height, width, self.height)
            return out_w, out_h
        return _fit(width, height, self.height)

    def note(self, width: int, height: int, rotation: int = 0) -> str | None:
        """What a user should hear: a size the model's 4x does not reach, or smaller than the source."""
        out_w, out_h = self.resolve(width, height, rotation)
        if rotation % 180 == 90:  # said as shown
            width, height, out_w, out_h = height, width, out_h, out_w
        if out_h > MODEL_SCALE * height:
            return (
                f"{out_w}x{out_h} is more than the model's 4x ({MODEL_SCALE * width}x{MODEL_SCALE * height}):"
                " the last step is a bicubic enlargement"
            )
        if out_h < height:
            return f"{out_w}x{out_h} is smaller than the source ({width}x{height})"
        return None


def output_size(width: int, height: int, scale: float = MODEL_SCALE) -> tuple[int, int]:
    """(width, height) of the output for a ``width`` x ``height`` source at ``scale``.

    Sides are even, because 4:2:0 and 4:2:2 video (nearly all of it) cannot have odd ones:
    the height is the scaled one rounded to the nearest even number, and the width the
    even number nearest the source's shape at that height, so the picture's shape changes
    by under a pixel (rounding each side alone could change it by two). At 4 the sizes
    are exactly 4x, as the model makes them.
    """
    scale = check_scale(scale)
    if scale == MODEL_SCALE:
        return MODEL_SCALE * width, MODEL_SCALE * height
    return _fit(width, height, height * scale)


def _fit(width: int, height: int, out_height: float) -> tuple[int, int]:
    out_height = _even(out_height)
    return _even(width * out_height / height), out_height


def _even(length: float) -> int:
    return max(2, 2 * math.floor(length / 2 + 0.5))
