"""SPyNet optical flow (Ranjan and Black 2017), in the mmediting/BasicVSR layout VSRT uses.

A six-level image pyramid, coarse to fine; each level refines the upsampled flow with a
small 7x7 conv stack fed with [reference, support warped by the current flow, flow].
Key names follow mmcv's ``ConvModule`` (``basic_module.{level}.basic_module.{j}.conv.*``)
so the official VSR-Transformer checkpoint loads unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .fused import conv_act

PYRAMID_LEVELS = 6
# SPyNet was trained on ImageNet-normalised RGB.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Five 2x poolings: the input must be a multiple of 2**5 on both sides.
SIZE_MULTIPLE = 32


def flow_warp(
    image: torch.Tensor,
    flow: torch.Tensor,
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """Sample ``image`` [N, C, H, W] at pixel positions displaced by ``flow`` [N, H, W, 2].

    ``flow[..., 0]`` is the horizontal and ``flow[..., 1]`` the vertical displacement in
    pixels. Bilinear, align_corners=True, exactly as mmediting's ``flow_warp``.
    """
    if image.shape[-2:] != flow.shape[1:3]:
        raise ValueError(f"image {tuple(image.shape)} and flow {tuple(flow.shape)} sizes differ")
    _, _, height, width = image.shape
    # Sample positions stay fp32 whatever the image's dtype: in fp16 a column index of 1024
    # or more has no fractional part at all, and in bf16 one of 64 has a step of half a pixel.
    rows, cols = torch.meshgrid(
        torch.arange(height, device=image.device, dtype=torch.float32),
        torch.arange(width, device=image.device, dtype=torch.float32),
        indexing="ij",
    )
    grid = torch.stack((cols, rows), dim=2) + flow.float()
    grid_x = 2.0 * grid[..., 0] / max(width - 1, 1) - 1.0
    grid_y = 2.0 * grid[..., 1] / max(height - 1, 1) - 1.0
    normalised = torch.stack((grid_x, grid_y), dim=3)
    warped = F.grid_sample(
        image.float(), normalised, mode="bilinear", padding_mode=padding_mode, align_corners=True
    )
    # grid_sample always returns NCHW; give the caller back its own layout in the same copy.
    return warped.to(dtype=image.dtype, memory_format=memory_format_of(image))


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """channels_last for a 4-D tensor laid out NHWC (and not trivially both), else contiguous."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


class ConvUnit(nn.Module):
    """A 7x7 conv with an optional ReLU; named ``conv`` like mmcv's ConvModule."""

    def __init__(self, in_channels: int, out_channels: int, relu: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=7, stride=1, padding=3)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_act(self.conv, x, "relu") if self.relu else self.conv(x)


class SPyNetLevel(nn.Module):
    """One pyramid level: predicts a flow residual from [ref, warped supp, flow] (8 channels)."""

    def __init__(self) -> None:
        super().__init__()
        widths = (8, 32, 64, 32, 16, 2)
        self.basic_module = nn.Sequential(
            *[
                ConvUnit(widths[i], widths[i + 1], relu=i < len(widths) - 2)
                for i in range(len(widths) - 1)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basic_module(x)


class SPyNet(nn.Module):
    """Flow from ``ref`` to ``supp``: warping ``supp`` by it aligns ``supp`` to ``ref``.

    Inputs are RGB in [0, 1], [N, 3, H, W], any size; the output is [N, 2, H, W] in pixels.
    """

    def __init__(self, levels: int = PYRAMID_LEVELS) -> None:
        super().__init__()
        if not 1 <= levels <= PYRAMID_LEVELS:
            raise ValueError(f"SPyNet levels must be 1 to {PYRAMID_LEVELS}, got {levels}")
        # All six levels' weights are kept whatever ``levels`` is, so that every SPyNet
        # checkpoint loads into every network; fewer levels stop before the finest ones and
        # upsample the coarser flow, for about a quarter of the MACs per level left out.
        self.basic_module = nn.ModuleList([SPyNetLevel() for _ in range(PYRAMID_LEVELS)])
        self.levels = levels
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def _pyramid(self, image: torch.Tensor) -> list[torch.Tensor]:
        levels = [(image - self.mean) / self.std]
        for _ in range(PYRAMID_LEVELS - 1):
            levels.append(F.avg_pool2d(levels[-1], kernel_size=2, stride=2, count_include_pad=False))
        return levels[::-1]

    def _compute_flow(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        ref_levels = self._pyramid(ref)
        supp_levels = self._pyramid(supp)
        batch, _, height, width = ref.shape
        flow = ref.new_zeros(batch, 2, height // SIZE_MULTIPLE, width // SIZE_MULTIPLE)
        for level, module in zip(range(self.levels), self.basic_module):
            if level == 0:
                flow_up = flow
            else:
                flow_up = 2.0 * F.interpolate(
                    flow, scale_factor=2, mode="bilinear", align_corners=True
                )
            warped = flow_warp(
                supp_levels[level], flow_up.permute(0, 2, 3, 1), padding_mode="border"
            )
            flow = flow_up + module(torch.cat([ref_levels[level], warped, flow_up], dim=1))
        # The flow is in pixels of its own level: scale the values with the grid.
        factor = 2 ** (PYRAMID_LEVELS - self.levels)
        if factor > 1:
            flow = factor * F.interpolate(flow, scale_factor=factor, mode="bilinear", align_corners=True)
        return flow

    def forward(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        height, width = ref.shape[-2:]
        height_up = padded_size(height)
        width_up = padded_size(width)
        ref_up = F.interpolate(ref, size=(height_up, width_up), mode="bilinear", align_corners=False)
        supp_up = F.interpolate(supp, size=(height_up, width_up), mode="bilinear", align_corners=False)
        flow = F.interpolate(
            self._compute_flow(ref_up, supp_up),
            size=(height, width),
            mode="bilinear",
            align_corners=False,
        )
        # The flow was measured in pixels of the resized image; rescale it to the original grid.
        scale = flow.new_tensor([width / width_up, height / height_up]).view(1, 2, 1, 1)
        return flow * scale


def padded_size(size: int) -> int:
    """SPyNet's working size: ``size`` rounded up to a multiple of 32."""
    return -(-size // SIZE_MULTIPLE) * SIZE_MULTIPLE


def load_basicsr_spynet(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map BasicSR SPyNet keys (``basic_module.L.basic_module.{0,2,4,6,8}``) to this module's.

    Keys already in this module's layout pass through unchanged.

    BasicSR interleaves its ReLUs in the Sequential, so conv j sits at index 2j; mmediting
    wraps each conv in a ConvModule instead. ``mean``/``std`` pass through when present.
    """
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        if len(parts) == 5 and parts[0] == "basic_module" and parts[2] == "basic_module":
            conv_index = int(parts[3])
            if conv_index % 2:
                raise KeyError(f"unexpected SPyNet key {key!r}")
            mapped[f"basic_module.{parts[1]}.basic_module.{conv_index // 2}.conv.{parts[4]}"] = value
        elif len(parts) == 6 and parts[4] == "conv" or key in ("mean", "std"):
            mapped[key] = value
        else:
            raise KeyError(f"unexpected SPyNet key {key!r}")
    return mapped
