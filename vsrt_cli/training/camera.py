"""Clips from still photos: a crop window moving along a smooth random camera path.

This gives exactly known, realistic global motion (translation with a little acceleration,
a slow zoom and a slow roll, all sub-pixel) on high-quality content, which the few real
videos cannot supply in quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UsageError
from .config import DataConfig
from .degradation import round_levels


@dataclass(frozen=True)
class CameraPath:
    """Per-frame view of a photo: where each GT frame's centre lies (source pixels, x then
    y), how many source pixels one GT pixel spans, and the view's roll in radians."""

    centres: np.ndarray  # [T, 2]
    scales: np.ndarray  # [T]
    angles: np.ndarray  # [T]

    def corners(self, size: int) -> np.ndarray:
        """Source coordinates of every frame's four corner pixel centres, [T, 4, 2]."""
        half = (size - 1) / 2.0
        offsets = np.array([[-half, -half], [half, -half], [-half, half], [half, half]])
        cos, sin = np.cos(self.angles), np.sin(self.angles)
        rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)  # [T, 2, 2]
        turned = np.einsum("tij,kj->tki", rot, offsets) * self.scales[:, None, None]
        return self.centres[:, None, :] + turned


def sample_camera_path(
    rng: np.random.Generator,
    num_frames: int,
    source_height: int,
    source_width: int,
    size: int,
    config: DataConfig,
) -> CameraPath:
    """A random smooth path whose every frame lies inside the source, 2 pixels clear of its
    edges (bicubic sampling reads 2 pixels either side).

    Motion is a quadratic in time (constant velocity plus constant acceleration), a
    geometric zoom and a linear roll, so frame-to-frame change is smooth and bounded. If the
    motion does not fit in the photo it is halved until it does.
    """
    tau = np.arange(num_frames, dtype=np.float64) - (num_frames - 1) / 2.0
    base_scale = rng.uniform(config.min_zoom, config.max_zoom)
    heading = rng.uniform(0.0, 2.0 * math.pi)
    speed = rng.uniform(config.min_speed, config.max_speed)
    velocity = speed * np.array([math.cos(heading), math.sin(heading)])
    accel = rng.uniform(-config.max_accel, config.max_accel, size=2)
    zoom_rate = rng.uniform(-config.max_zoom_rate, config.max_zoom_rate)
    tilt = math.radians(rng.uniform(-config.max_tilt_deg, config.max_tilt_deg))
    spin = math.radians(rng.uniform(-config.max_spin_deg, config.max_spin_deg))
    anchor = rng.uniform(0.0, 1.0, size=2)
    margin = 2.0
    low_bound = np.array([margin, margin])
    high_bound = np.array([source_width - 1 - margin, source_height - 1 - margin])

    for _ in range(8):
        scales = base_scale * np.exp(zoom_rate * tau)
        # Lifted as a whole rather than clipped, so the zoom stays smooth while never
        # magnifying past min_zoom.
        scales = scales * max(1.0, config.min_zoom / scales.min())
        drift = (velocity[None, :] * tau[:, None] + 0.5 * accel[None, :] * tau[:, None] ** 2) * base_scale
        relative = CameraPath(drift, scales, tilt + spin * tau).corners(size).reshape(-1, 2)
        low = low_bound - relative.min(axis=0)
        high = high_bound - relative.max(axis=0)
        if np.all(high >= low):
            origin = low + anchor * (high - low)
            return CameraPath(drift + origin, scales, tilt + spin * tau)
        velocity, accel, zoom_rate, spin, tilt = velocity / 2, accel / 2, zoom_rate / 2, spin / 2, tilt / 2
        base_scale = max(config.min_zoom, base_scale / 1.1)
    raise UsageError(
        f"a {source_width}x{source_height} photo is too small for {size}x{size} training frames"
    )


def render_path(photo: np.ndarray, path: CameraPath, size: int) -> torch.Tensor:
    """Render the path's frames from an HxWx3 uint8 photo: [T, 3, size, size] float32 in
    [0, 1], quantised to uint8 levels like any decoded GT frame.

    Bicubic sampling: bilinear at fractional offsets is a strong, offset-dependent blur
    (a half-pixel shift averages two pixels), which would make the GT's sharpness flicker
    from frame to frame.
    """
    corners = path.corners(size).reshape(-1, 2)
    x0 = max(0, int(math.floor(corners[:, 0].min())) - 2)
    y0 = max(0, int(math.floor(corners[:, 1].min())) - 2)
    x1 = min(photo.shape[1], int(math.ceil(corners[:, 0].max())) + 3)
    y1 = min(photo.shape[0], int(math.ceil(corners[:, 1].max())) + 3)
    region = torch.from_numpy(np.ascontiguousarray(photo[y0:y1, x0:x1])).permute(2, 0, 1).float() / 255.0
    height, width = region.shape[-2:]

    half = (size - 1) / 2.0
    axis = torch.arange(size, dtype=torch.float64) - half
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    angles = torch.from_numpy(np.asarray(path.angles, dtype=np.float64))
    scales = torch.from_numpy(np.asarray(path.scales, dtype=np.float64))
    centres = torch.from_numpy(np.asarray(path.centres, dtype=np.float64))
    cos = (scales * angles.cos())[:, None, None]
    sin = (scales * angles.sin())[:, None, None]
    x = (centres[:, 0, None, None] - x0) + cos * cols - sin * rows
    y = (centres[:, 1, None, None] - y0) + sin * cols + cos * rows
    # align_corners=True: -1 and +1 are the centres of the first and last pixels.
    grid = torch.stack([2.0 * x / (width - 1) - 1.0, 2.0 * y / (height - 1) - 1.0], dim=-1).float()
    frames = F.grid_sample(
        region[None].expand(len(grid), -1, -1, -1),
        grid,
        mode="bicubic",
        padding_mode="border",
        align_corners=True,
    )
    return round_levels(frames * 255.0) / 255.0
