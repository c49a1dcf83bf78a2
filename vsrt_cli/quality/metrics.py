"""PSNR and SSIM computed the way BasicSR's ``psnr_ssim.py`` computes them.

Published VSR numbers (spec section 4.3) come from BasicSR, so each step below
mirrors it, including where it rounds or changes precision:

* the network output is clamped to [0, 1], multiplied by 255 in float32 and
  rounded half-to-even (``tensor2img``) before any metric sees it;
* Y is BT.601 "MATLAB" luma computed from the uint8 image scaled to [0, 1] in
  float32, mixed in float64 (numpy promotes the Python coefficient list), then
  stored as float32 Y/255 and multiplied back by 255 in float32 - it is *not*
  rounded to an integer;
* PSNR uses float64 with peak 255, and is +inf for identical images;
* SSIM is Wang et al.'s with an 11x11 Gaussian window (sigma 1.5), C1 =
  (0.01*255)^2, C2 = (0.03*255)^2, evaluated only where the window fits
  ("valid"), averaged per channel and then over channels.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

__all__ = ["to_uint8", "rgb_to_y", "psnr", "ssim", "prepare_for_metric", "psnr_planes", "ssim_planes"]

_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def to_uint8(rgb: np.ndarray | torch.Tensor) -> np.ndarray:
    """Float image in [0, 1] (any shape) -> uint8, rounding as BasicSR ``tensor2img`` does."""
    if isinstance(rgb, torch.Tensor):
        arr = rgb.detach().to("cpu", torch.float32).numpy()
    else:
        arr = np.asarray(rgb, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError("image contains NaN or infinite values")
    # float32 throughout: the product must round exactly as it does in BasicSR
    # for pixels that land near .5 after scaling.
    arr = np.clip(arr, np.float32(0.0), np.float32(1.0))
    return np.round(arr * np.float32(255.0)).astype(np.uint8)


def _check_rgb_uint8(img: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        raise TypeError(f"{what} must be uint8, got {arr.dtype}")
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{what} must be HxWx3 RGB, got shape {arr.shape}")
    return arr


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> HxW float64 luma in [16, 235], exactly as BasicSR's ``to_y_channel``."""
    arr = _check_rgb_uint8(rgb, "rgb_to_y input")
    scaled = arr.astype(np.float32) / np.float32(255.0)
    # BasicSR works on BGR and dots with [B, G, R] coefficients; keep its
    # operand order so the float64 sum rounds identically.
    bgr = scaled[..., ::-1]
    y = np.dot(bgr, [24.966, 128.553, 65.481]) + 16.0
    y = (y / 255.0).astype(np.float32) * np.float32(255.0)
    return y.astype(np.float64)


def prepare_for_metric(img: np.ndarray, crop_border: int, y_channel: bool) -> np.ndarray:
    """Crop and convert a uint8 RGB frame to the float64 HxWxC planes the metrics compare."""
    arr = _check_rgb_uint8(img, "image")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        if 2 * crop_border >= min(arr.shape[0], arr.shape[1]):
            raise ValueError(f"crop_border {crop_border} leaves nothing of a {arr.shape[1]}x{arr.shape[0]} image")
        arr = arr[crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        return rgb_to_y(arr)[..., None]
    return arr.astype(np.float64)


def _pair(a: np.ndarray, b: np.ndarray, crop_border: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    return prepare_for_metric(a, crop_border, y_channel), prepare_for_metric(b, crop_border, y_channel)


def psnr(a: np.ndarray, b: np.ndarray, crop_border: int = 0, y_channel: bool = True) -> float:
    """PSNR in dB between two HxWx3 uint8 RGB images (peak 255); inf when identical."""
    pa, pb = _pair(a, b, crop_border, y_channel)
    return psnr_planes(pa, pb)


def psnr_planes(pa: np.ndarray, pb: np.ndarray) -> float:
    """PSNR of two float64 HxWxC arrays already made by :func:`prepare_for_metric`.

    Lets a caller convert the ground truth once and score several candidates against it.
    """
    if pa.shape != pb.shape:
        raise ValueError(f"planes differ in shape: {pa.shape} vs {pb.shape}")
    mse = float(np.mean((pa - pb) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0 * 255.0 / mse)


@lru_cache(maxsize=1)
def _gaussian_1d() -> np.ndarray:
    # Same formula as cv2.getGaussianKernel(11, 1.5) for float64.
    x = np.arange(_SSIM_WINDOW, dtype=np.float64) - (_SSIM_WINDOW - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * _SSIM_SIGMA * _SSIM_SIGMA))
    g = g / g.sum()
    g.setflags(write=False)
    return g


def _filter_valid(planes: np.ndarray) -> np.ndarray:
    """Gaussian-filter [..., H, W] keeping only positions where the window fits."""
    g = _gaussian_1d()
    n = _SSIM_WINDOW
    h, w = planes.shape[-2:]
    # The 2-D window is an outer product, so two 1-D passes give BasicSR's
    # 11x11 filter up to float64 rounding. Shifted-slice sums are used because
    # float64 convolutions on CPU are several times slower.
    rows = g[0] * planes[..., 0 : h - n + 1, :]
    for k in range(1, n):
        rows = rows + g[k] * planes[..., k : h - n + 1 + k, :]
    out = g[0] * rows[..., 0 : w - n + 1]
    for k in range(1, n):
        out = out + g[k] * rows[..., k : w - n + 1 + k]
    return out


def _ssim_per_channel(pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """Mean SSIM of each channel; inputs HxWxC float64, output [C]."""
    a = np.moveaxis(pa, -1, 0)
    b = np.moveaxis(pb, -1, 0)
    mu_a, mu_b, e_aa, e_bb, e_ab = _filter_valid(np.stack([a, b, a * a, b * b, a * b]))
    mu_aa = mu_a * mu_a
    mu_bb = mu_b * mu_b
    mu_ab = mu_a * mu_b
    var_a = e_aa - mu_aa
    var_b = e_bb - mu_bb
    cov = e_ab - mu_ab
    num = (2 * mu_ab + _C1) * (2 * cov + _C2)
    den = (mu_aa + mu_bb + _C1) * (var_a + var_b + _C2)
    return (num / den).mean(axis=(1, 2))


def ssim(a: np.ndarray, b: np.ndarray, crop_border: int = 0, y_channel: bool = True) -> float:
    """SSIM between two HxWx3 uint8 RGB images, as BasicSR ``calculate_ssim``."""
    pa, pb = _pair(a, b, crop_border, y_channel)
    return ssim_planes(pa, pb)


def ssim_planes(pa: np.ndarray, pb: np.ndarray) -> float:
    """SSIM of two float64 HxWxC arrays already made by :func:`prepare_for_metric`."""
    if pa.shape != pb.shape:
        raise ValueError(f"planes differ in shape: {pa.shape} vs {pb.shape}")
    if min(pa.shape[0], pa.shape[1]) < _SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs images of at least {_SSIM_WINDOW}x{_SSIM_WINDOW} after cropping,"
            f" got {pa.shape[1]}x{pa.shape[0]}"
        )
    return float(_ssim_per_channel(pa, pb).mean())
