"""The official test protocol (BasicSR ``forward_crop`` as the VSRT test configs use it).

One window per output frame, centred on it and padded with ``reflection_circle``; every
window cut into SxS LR crops at stride S/2, each run separately with its own SPyNet flows,
only the centre frame kept, and the crops' centres pasted into the 4x canvas with later
crops overwriting earlier ones. This is what the paper's numbers were measured with. It is
about ten times the work of vsrt's default plan; ``vsrt eval --protocol official`` runs it
so the two can be compared on the same clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..models.vsrt import SCALE, VSRTransformer
from ..plan.windows import reflection_circle
from .device import model_call, model_on_device, to_host_hwc


@dataclass(frozen=True)
class OfficialCrop:
    """One crop along one dimension: LR start, and which output rows it pastes where."""

    start: int
    source: tuple[int, int]  # rows of the 4S output patch that are kept
    target: tuple[int, int]  # where they go in the 4x canvas


def official_crops(length: int, size: int = 64) -> list[OfficialCrop]:
    """Crops along a dimension of ``length`` LR pixels, exactly as ``forward_crop`` cuts them.

    There are length // (size/2) crops at stride size/2; the last one is pushed back to end
    at the frame's edge. Each keeps its centre (a margin of size/4 dropped on both sides),
    except that the first keeps its leading edge and the last its trailing edge.
    """
    if length < size:
        raise InputError(f"the official protocol needs frames of at least {size} LR pixels, got {length}")
    half, margin = size // 2, SCALE * (size // 4)
    count = length // half
    patch = SCALE * size
    crops = []
    for n in range(count):
        if n == count - 1:
            start = length - size
            source, target = (margin, patch), (SCALE * length - (patch - margin), SCALE * length)
        elif n == 0:
            start, source, target = 0, (0, patch - margin), (0, patch - margin)
        else:
            start = n * half
            source, target = (margin, patch - margin), (SCALE * start + margin, SCALE * start + patch - margin)
        crops.append(OfficialCrop(start, source, target))
    return crops


def upscale_clip_official(
    model: VSRTransformer,
    frames: list[np.ndarray],
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    crop_batch: int = 8,
) -> list[np.ndarray]:
    """Upscale a clip with the official protocol; same output format as ``upscale_clip``.

    ``precision`` is a name as ``choose_precision`` returns it (fp32, bf16 or fp16).
    """
    device = torch.device(device)
    config = model.config
    model = model_on_device(model, device)
    size, count = config.tile_size, len(frames)
    clip = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).to(device)
    height, width = clip.shape[-2:]
    rows, cols = official_crops(height, size), official_crops(width, size)
    grid = [(r, c) for r in rows for c in cols]  # row-major, as the official loop writes
    outputs = []
    with model_call(device, precision):
        for centre in range(count):
            window = clip[list(reflection_circle(centre, config.num_frames, count - 1))]
            canvas = torch.zeros(3, SCALE * height, SCALE * width, device=device)
            for first in range(0, len(grid), crop_batch):
                batch = grid[first : first + crop_batch]
                crops = torch.stack(
                    [window[:, :, r.start : r.start + size, c.start : c.start + size] for r, c in batch]
                )
                centres = model(crops)[:, config.num_frames // 2].float()
                for (r, c), patch in zip(batch, centres):
                    canvas[:, r.target[0] : r.target[1], c.target[0] : c.target[1]] = patch[
                        :, r.source[0] : r.source[1], c.source[0] : c.source[1]
                    ]
            outputs.append(to_host_hwc(canvas))
    return outputs
