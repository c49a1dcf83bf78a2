"""The BI degradation and the MATLAB-bicubic shrink that cleans lossy sources.

LR = MATLAB-bicubic x1/4 of the GT, rounded to uint8 levels: the degradation of Vid4's,
REDS's and Vimeo's "BIx4" frames, so training sees the degradation the standard benchmarks use.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..quality.imresize import imresize

# MATLAB's antialiased cubic x1/4 reaches 6 GT pixels beyond a pixel's footprint, so the
# 2 outer LR pixels of a resized crop see mirrored GT instead of the scene. Clips are cut
# this much larger on every side and the margin dropped after the resize, so training LR
# is what an interior tile of a whole degraded frame looks like.
LR_CONTEXT = 2
GT_CONTEXT = 4 * LR_CONTEXT


def round_levels(x: torch.Tensor) -> torch.Tensor:
    """Values in 0..255 (float) to the nearest integer level: saturate, then round half up,
    as MATLAB's double-to-uint8 cast does."""
    return torch.floor(x.clamp(0.0, 255.0) + 0.5)


def shrink(frame: np.ndarray, factor: float) -> np.ndarray:
    """MATLAB-bicubic shrink of an HxWx3 uint8 frame by ``factor`` (>= 1), rounded to uint8.

    Whole factors run tile by tile: imresize's dense resize matrices for a 5312-pixel side
    would cost 100+ MB each and a dense product, while a tile only needs a band of them.
    """
    if factor == 1:
        return np.ascontiguousarray(frame)
    chw = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)
    if float(factor).is_integer():
        out = _shrink_tiled(chw, int(factor))
    else:
        out = imresize(chw.double(), 1.0 / factor)
    return round_levels(out).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def _shrink_tiled(chw: torch.Tensor, factor: int, tile: int = 256) -> torch.Tensor:
    """imresize(chw, 1/factor) computed on overlapping tiles; equal to the one-shot result.

    Output pixel i of a 1/f shrink is centred on input (i + 0.5) f - 0.5 and its taps reach
    2f input pixels either side. A tile whose input starts at a multiple of f therefore has
    the same phase as the whole image, and its outputs at least ``margin`` input pixels from
    a cut edge see exactly the taps, weights and mirroring of the one-shot resize. Only the
    cut edges' outputs differ, and those are discarded.
    """
    _, height, width = chw.shape
    margin = 4 * factor  # > 2f taps, and a multiple of f
    out_h, out_w = math.ceil(height / factor), math.ceil(width / factor)
    out = torch.empty(chw.shape[0], out_h, out_w, dtype=torch.float64)
    for top in range(0, out_h, tile):
        bottom = min(top + tile, out_h)
        in_top = max(0, top * factor - margin)
        in_bottom = min(height, bottom * factor + margin)
        for left in range(0, out_w, tile):
            right = min(left + tile, out_w)
            in_left = max(0, left * factor - margin)
            in_right = min(width, right * factor + margin)
            piece = imresize(chw[:, in_top:in_bottom, in_left:in_right].double(), 1.0 / factor)
            row0, col0 = top - in_top // factor, left - in_left // factor
            out[:, top:bottom, left:right] = piece[:, row0 : row0 + bottom - top, col0 : col0 + right - left]
    return out


def degrade(gt: torch.Tensor) -> torch.Tensor:
    """The BI degradation: MATLAB-bicubic x1/4, rounded to uint8 levels, back in [0, 1].

    ``gt`` is [..., 3, H, W] in [0, 1] holding uint8 levels. The resize runs in float64 on
    the integer levels, as MATLAB does on a uint8 image, so the rounding matches the
    ``BIx4`` frames of the validation set (and of Vid4) pixel for pixel.
    """
    levels = torch.round(gt.double() * 255.0)
    return (round_levels(imresize(levels, 0.25)) / 255.0).to(gt.dtype)
