"""Pictures whose size changes mid-stream, fitted to the size the video started at.

Broadcast recordings switch resolution at an advert or a programme change (an SD insert in
an HD channel), and files joined with ``cat`` do so at the join; the encoder and the tile
plan need one size. As FFmpeg's command line does, such pictures are scaled to the first
picture's size; unlike it, one whose shape (display aspect ratio) differs is not stretched
but fitted inside and bordered in black.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F

# Stretching by less than this is invisible, and spares a picture one-pixel borders that
# only come from rounding its shape.
STRETCH_TOLERANCE = 0.01


@dataclass(frozen=True)
class Placement:
    """Where a picture lands inside the video's frame, in the frame's pixels."""

    width: int
    height: int
    left: int = 0
    top: int = 0

    def fills(self, size: tuple[int, int]) -> bool:
        return (self.width, self.height) == tuple(size)


def display_aspect(size: tuple[int, int], pixel_aspect: Fraction | None) -> Fraction:
    width, height = size
    return Fraction(width, height) * (pixel_aspect or 1)


def fit_placement(
    source_size: tuple[int, int],
    source_pixel_aspect: Fraction | None,
    target_size: tuple[int, int],
    target_pixel_aspect: Fraction | None,
) -> Placement:
    """The largest placement of ``source`` in ``target`` that keeps its displayed shape.

    Sizes are (width, height); a pixel aspect of None means square pixels.
    """
    width, height = target_size
    shape_ratio = display_aspect(source_size, source_pixel_aspect) / display_aspect(target_size, target_pixel_aspect)
    if abs(shape_ratio - 1) <= STRETCH_TOLERANCE:
        return Placement(width, height)
    if shape_ratio > 1:
        # Wider than the frame: full width, bars above and below.
        fitted = Placement(width, max(1, min(height, round(height / shape_ratio))))
    else:
        fitted = Placement(max(1, min(width, round(width * shape_ratio))), height)
    return Placement(fitted.width, fitted.height, (width - fitted.width) // 2, (height - fitted.height) // 2)


def fit_picture(rgb: np.ndarray, placement: Placement, target_size: tuple[int, int]) -> np.ndarray:
    """``rgb`` (float32 HxWx3 in [0, 1]) resized into ``placement`` on a black frame."""
    width, height = target_size
    picture = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    if picture.shape[-2:] != (placement.height, placement.width):
        # Antialiased so that an HD insert shrunk into an SD video does not alias; bicubic
        # overshoots at edges, hence the clamp.
        picture = F.interpolate(
            picture, size=(placement.height, placement.width), mode="bicubic", align_corners=False, antialias=True
        ).clamp_(0.0, 1.0)
    resized = picture[0].permute(1, 2, 0).numpy()
    if placement.fills(target_size):
        return np.ascontiguousarray(resized, dtype=np.float32)
    framed = np.zeros((height, width, 3), dtype=np.float32)
    framed[placement.top:placement.top + placement.height, placement.left:placement.left + placement.width] = resized
    return framed


def refit_note(frames: int, sizes: list[tuple[int, int]], target_size: tuple[int, int], bordered: bool) -> str:
    """What a run tells the user about pictures that were not the video's size."""
    listed = ", ".join(f"{w}x{h}" for w, h in sizes)
    plural = frames != 1
    note = (
        f"{frames} frame{'s' if plural else ''} of another size ({listed}) "
        f"{'were' if plural else 'was'} scaled to the video's {target_size[0]}x{target_size[1]}"
    )
    return note + (", with black borders to keep their shape" if bordered else "")
