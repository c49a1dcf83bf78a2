"""VSR-Transformer (Cao et al. 2021, "Video Super-Resolution Transformer"), as the official code computes it.

Shapes: the network takes a window of T low-resolution frames [B, T, 3, S, S] (S = the
config's tile size, because every LayerNorm is affine over [C, S, S]) and predicts all T
frames at 4x, [B, T, 3, 4S, 4S]. Per layer: spatial-temporal convolutional self-attention
over non-overlapping p x p patches of every frame, then a bidirectional optical-flow
feed-forward that warps each frame's neighbours with SPyNet flows.

Where the paper and the official code differ, this follows the code (see the spec in the
project's docs): the unusual positional encoding, the double residual in attention, LR
frames concatenated into the feed-forward inputs, self-flow at the window ends, and a
bilinear x4 skip for every frame. Module names reproduce the official state-dict keys.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .fused import conv_act, conv_add
from .spynet import PYRAMID_LEVELS, SPyNet, flow_warp, memory_format_of

SCALE = 4
LRELU_SLOPE = 0.1
SELF_FLOW_MODES = ("spynet", "zero")


@dataclass(frozen=True)
class VSRTConfig:
    """Architecture hyper-parameters; the defaults are the official REDS x4 model."""

    num_frames: int = 5
    channels: int = 64
    tile_size: int = 64
    patch_size: int = 8
    heads: int = 1
    depth: int = 5
    extract_blocks: int = 5
    feedforward_blocks: int = 30
    reconstruct_blocks: int = 30
    # Width of the x2 -> x4 upsampler; None keeps the official width (= channels).
    upsample_channels: int | None = None
    # What the window's end frames are warped with: SPyNet(x, x) as in the official code,
    # or an exact zero flow, which saves two SPyNet passes per window.
    self_flow: str = "spynet"
    # SPyNet pyramid levels that run (6 in the official code); 5 stops at half the LR
    # resolution and upsamples the flow, for a quarter of SPyNet's MACs.
    flow_levels: int = PYRAMID_LEVELS

    def __post_init__(self) -> None:
        for name in ("channels", "tile_size", "patch_size", "heads", "depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("extract_blocks", "feedforward_blocks", "reconstruct_blocks"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if self.upsample_channels is not None and self.upsample_channels < 1:
            raise ValueError(f"upsample_channels must be at least 1, got {self.upsample_channels}")
        if self.num_frames < 1 or self.num_frames % 2 == 0:
            # Windows are centred on a frame and padded symmetrically, as in the official code.
            raise ValueError(f"num_frames must be odd and at least 1, got {self.num_frames}")
        if self.tile_size % self.patch_size:
            raise ValueError("tile_size must be a multiple of patch_size")
        if self.tile_size % 4:
            raise ValueError("tile_size must be a multiple of 4")
        if (self.channels * self.patch_size**2) % self.heads:
            raise ValueError("heads must divide channels * patch_size**2")
        if self.self_flow not in SELF_FLOW_MODES:
            raise ValueError(f"self_flow must be one of {SELF_FLOW_MODES}")
        if not 1 <= self.flow_levels <= PYRAMID_LEVELS:
            raise ValueError(f"flow_levels must be 1 to {PYRAMID_LEVELS}, got {self.flow_levels}")

    @property
    def upsampler_width(self) -> int:
        return self.upsample_channels or self.channels

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "VSRTConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown VSRTConfig fields: {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "VSRTConfig":
        return cls.from_dict(json.loads(text))


PRESETS: dict[str, VSRTConfig] = {
    # options/train/train_vsrTransformer_x4_REDS.yml of the official code.
    "official-reds": VSRTConfig(),
    # The Vimeo-90K / Vid4 configuration (never released as weights).
    "official-vimeo": VSRTConfig(num_frames=7, depth=7),
}


def _full_precision(device_type: str) -> contextlib.AbstractContextManager:
    """Suspend autocast (where the device has it) so a block runs in the tensors' own dtype."""
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, LRELU_SLOPE)


class ResidualBlock(nn.Module):
    """conv3x3 -> ReLU -> conv3x3, plus the input (BasicSR/mmediting ResidualBlockNoBN)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_add(self.conv2, conv_act(self.conv1, x, "relu"), x)


def residual_stack(channels: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])


class LeakyReLU(nn.Module):
    """Parameter-free slot that keeps the official ``main.1`` index."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lrelu(x)


class ResidualTrunk(nn.Module):
    """Input conv -> LReLU -> residual blocks (mmediting ResidualBlocksWithInputConv)."""

    def __init__(self, in_channels: int, channels: int, blocks: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, 1, 1),
            LeakyReLU(),
            residual_stack(channels, blocks),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, _, blocks = self.main
        return blocks(conv_act(conv, x, "leaky_relu", LRELU_SLOPE))


class SinusoidFrequencies(nn.Module):
    """Holds ``inv_freq`` as a persistent buffer, as the official checkpoint does."""

    def __init__(self, num_frames: int) -> None:
        super().__init__()
        channels = math.ceil(num_frames / 6) * 2
        exponents = torch.arange(0, channels, 2).float() / channels
        self.register_buffer("inv_freq", 1.0 / (10000**exponents))


class FramePositionalEncoding(nn.Module):
    """The official spatial-temporal encoding: frames index the *encoding channels*.

    The official code feeds [B, T, C, H, W] to a 3-D sinusoidal encoding that treats T as
    its channel axis and (feature channel c, row i, column j) as the three positions. With
    f = inv_freq, each axis contributes [sin(p*f), cos(p*f)] (sines first, the 2021 layout);
    the three axes are concatenated and frame t takes entry t.
    """

    def __init__(self, num_frames: int) -> None:
        super().__init__()
        self.num_frames = num_frames
        self.penc = SinusoidFrequencies(num_frames)

    def table(self, channels: int, height: int, width: int) -> torch.Tensor:
        """The encoding, [T, C, H, W] in float32."""
        inv_freq = self.penc.inv_freq.float()
        per_axis = len(inv_freq) * 2

        def axis_terms(length: int) -> torch.Tensor:
            angles = torch.arange(length, device=inv_freq.device, dtype=torch.float32)[:, None] * inv_freq
            return torch.cat([angles.sin(), angles.cos()], dim=1)  # [length, per_axis]

        table = torch.zeros(channels, height, width, per_axis * 3, device=inv_freq.device)
        table[..., :per_axis] = axis_terms(channels)[:, None, None, :]
        table[..., per_axis : 2 * per_axis] = axis_terms(height)[None, :, None, :]
        table[..., 2 * per_axis :] = axis_terms(width)[None, None, :, :]
        return table[..., : self.num_frames].permute(3, 0, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, frames, channels, height, width = x.shape
        if frames != self.num_frames:
            raise ValueError(f"expected {self.num_frames} frames, got {frames}")
        return x + self.table(channels, height, width).to(x.dtype)


class Residual(nn.Module):
    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return x + self.fn(x, **kwargs)


class PreNorm(nn.Module):
    """LayerNorm over each frame's whole [C, S, S] feature map, then ``fn``."""

    def __init__(self, channels: int, tile_size: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm([channels, tile_size, tile_size])
        self.fn = fn

    def forward(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return self.fn(self._normalise(x), **kwargs)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        # The statistics and the affine map are the same in any element order, so a
        # channels-last [B, T, C, H, W] map is normalised as the contiguous [B, T, H, W, C]
        # it is in memory: the output stays channels-last and the convs that follow do not
        # reorder it (layer_norm itself would copy it into [C, H, W] order).
        if x.dim() != 5 or x.is_contiguous() or not x.permute(0, 1, 3, 4, 2).is_contiguous():
            return self.norm(x)
        pixels_last = x.permute(0, 1, 3, 4, 2)
        norm = self.norm
        out = F.layer_norm(
            pixels_last,
            pixels_last.shape[2:],
            norm.weight.permute(1, 2, 0) if norm.weight is not None else None,
            norm.bias.permute(1, 2, 0) if norm.bias is not None else None,
            norm.eps,
        )
        return out.permute(0, 1, 4, 2, 3)


def patch_tokens(x: torch.Tensor, batch: int, patch: int, heads: int) -> torch.Tensor:
    """[B*T, C, H, W] -> [B, heads, T*P, C*p*p/heads] with P = (H/p)*(W/p) patches per frame.

    Token t*P + n is patch n (row-major) of frame t, with features ordered as
    ``F.unfold(x, p, stride=p)`` orders them (c*p*p + r*p + s), but as one reshape copy
    whatever the input's memory format: im2col is slow on CPUs.
    """
    frames_total, channels, height, width = x.shape
    frames = frames_total // batch
    rows, cols = height // patch, width // patch
    blocks = x.reshape(batch, frames, channels, rows, patch, cols, patch)
    tokens = blocks.permute(0, 1, 3, 5, 2, 4, 6).reshape(
        batch, frames * rows * cols, heads, channels * patch * patch // heads
    )
    return tokens.transpose(1, 2)


def tokens_to_frames(
    tokens: torch.Tensor, frames: int, patch: int, height: int, width: int, channels_last: bool
) -> torch.Tensor:
    """The inverse of :func:`patch_tokens`, in one copy into the requested memory format."""
    batch, heads, _, per_head = tokens.shape
    rows, cols = height // patch, width // patch
    channels = heads * per_head // (patch * patch)
    blocks = tokens.transpose(1, 2).reshape(batch, frames, rows, cols, channels, patch, patch)
    if channels_last:
        pixels = blocks.permute(0, 1, 2, 5, 3, 6, 4).reshape(batch * frames, height, width, channels)
        return pixels.permute(0, 3, 1, 2)
    return blocks.permute(0, 1, 4, 2, 5, 3, 6).reshape(batch * frames, channels, height, width)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v with the logits and softmax in fp32.

    The logits are dot products over C*p*p (4096 for the official width) features: in
    fp16 they overflow and in bf16 they lose the precision the softmax needs. PyTorch's
    fused CPU kernel keeps them in fp32 internally and, with bf16 inputs, is about twice
    as fast as the explicit form. In fp32 it is slower, and on CUDA which fused kernel
    would take features this wide, in what precision, has not been measured, so those
    keep the explicit form.
    """
    if q.device.type == "cpu" and q.dtype == torch.bfloat16 and k.dtype == v.dtype == q.dtype:
        return F.scaled_dot_product_attention(q, k, v)
    scale = q.shape[-1] ** -0.5
    with _full_precision(q.device.type):
        logits = torch.matmul(q.float(), k.float().transpose(-2, -1)) * scale
        weights = logits.softmax(dim=-1).to(v.dtype)
    return torch.matmul(weights, v)


class ConvSelfAttention(nn.Module):
    """Attention between the p x p patches of all T frames of a window.

    q and k are depthwise 3x3 convs, v a full 3x3 conv; every patch of every frame is one
    token of C*p*p features, ordered frame-major. The official module adds its own input back
    (``out += x``), which with the outer residual gives X + LN(X) + conv(attn(LN(X))).
    """

    def __init__(self, channels: int, patch_size: int, heads: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.heads = heads
        self.to_q = nn.Conv2d(channels, channels, 3, 1, 1, groups=channels)
        self.to_k = nn.Conv2d(channels, channels, 3, 1, 1, groups=channels)
        self.to_v = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, frames, channels, height, width = x.shape
        flat = x.reshape(batch * frames, channels, height, width)
        q, k, v = (
            patch_tokens(conv(flat), batch, self.patch_size, self.heads)
            for conv in (self.to_q, self.to_k, self.to_v)
        )
        out = attend(q, k, v)
        # Hand the conv the layout its weights are in (channels-last for inference on CPU),
        # so it does not reorder its input first.
        channels_last = memory_format_of(self.conv.weight) == torch.channels_last
        out = tokens_to_frames(out, frames, self.patch_size, height, width, channels_last)
        out = self.conv(out) + flat
        return out.view(batch, frames, channels, height, width)


class FlowFeedForward(nn.Module):
    """Bidirectional optical-flow feed-forward.

    Each frame's neighbour features (the next frame for the backward branch, the previous
    for the forward branch; the frame itself at the window ends) are warped onto it and
    concatenated after the frame's own LR pixels, then each branch runs a residual trunk
    and a 1x1 conv fuses the two.
    """

    def __init__(self, channels: int, blocks: int) -> None:
        super().__init__()
        self.backward_resblocks = ResidualTrunk(channels + 3, channels, blocks)
        self.forward_resblocks = ResidualTrunk(channels + 3, channels, blocks)
        self.fusion = nn.Conv2d(channels * 2, channels, 1, 1, 0)

    def forward(
        self,
        x: torch.Tensor,
        lrs: torch.Tensor,
        flows_forward: torch.Tensor,
        flows_backward: torch.Tensor,
    ) -> torch.Tensor:
        batch, frames, channels, height, width = x.shape
        flat = x.reshape(batch * frames, channels, height, width)
        # Gathered by index rather than concatenated along T: that keeps a channels-last
        # map channels-last, and with it every conv of the trunks.
        order = torch.arange(frames, device=x.device)
        starts = torch.arange(batch, device=x.device)[:, None] * frames
        following = flat[(starts + (order + 1).clamp(max=frames - 1)).flatten()]
        preceding = flat[(starts + (order - 1).clamp(min=0)).flatten()]
        lr = lrs.reshape(-1, 3, height, width).to(dtype=x.dtype, memory_format=memory_format_of(flat))

        def branch(neighbours: torch.Tensor, flows: torch.Tensor, trunk: nn.Module) -> torch.Tensor:
            warped = flow_warp(neighbours, flows.reshape(-1, 2, height, width).permute(0, 2, 3, 1))
            return trunk(torch.cat([lr, warped], dim=1))

        backward = branch(following, flows_backward, self.backward_resblocks)
        forward = branch(preceding, flows_forward, self.forward_resblocks)
        fused = conv_act(self.fusion, torch.cat([backward, forward], dim=1), "leaky_relu", LRELU_SLOPE)
        return fused.view(batch, frames, channels, height, width)


class TransformerLayer(nn.ModuleList):
    """[Residual(PreNorm(attention)), Residual(PreNorm(feed-forward))], as the official keys nest."""

    def __init__(self, config: VSRTConfig) -> None:
        size, channels = config.tile_size, config.channels
        super().__init__(
            [
                Residual(PreNorm(channels, size, ConvSelfAttention(channels, config.patch_size, config.heads))),
                Residual(PreNorm(channels, size, FlowFeedForward(channels, config.feedforward_blocks))),
            ]
        )

    def forward(self, x: torch.Tensor, **flow_inputs: torch.Tensor) -> torch.Tensor:
        attention, feedforward = self
        return feedforward(attention(x), **flow_inputs)


class Transformer(nn.Module):
    def __init__(self, config: VSRTConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList([TransformerLayer(config) for _ in range(config.depth)])

    def forward(self, x: torch.Tensor, **flow_inputs: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, **flow_inputs)
        return x


class NeighbourFlows(nn.Module):
    """SPyNet flows from every frame of a window to its two neighbours."""

    def __init__(self, self_flow: str, flow_levels: int = PYRAMID_LEVELS) -> None:
        super().__init__()
        self.self_flow = self_flow
        self.spynet = SPyNet(flow_levels)

    def forward(self, lrs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (flows_forward, flows_backward), each [B, T, 2, H, W].

        flows_backward[k] warps frame k+1 onto frame k; flows_forward[k] warps frame k-1
        onto frame k. At the window ends the neighbour is the frame itself.
        """
        batch, frames, _, height, width = lrs.shape
        if self.self_flow == "spynet":
            # The official pairing: T+1 pairs each way, the self-pairs at the ends included.
            refs = torch.cat([lrs[:, :1], lrs], dim=1)
            supps = torch.cat([lrs, lrs[:, -1:]], dim=1)
            flat = lambda t: t.reshape(-1, 3, height, width)  # noqa: E731
            backward = self.spynet(flat(refs), flat(supps)).view(batch, frames + 1, 2, height, width)[:, 1:]
            forward = self.spynet(flat(supps), flat(refs)).view(batch, frames + 1, 2, height, width)[:, :-1]
            return forward, backward
        if frames == 1:
            zero = lrs.new_zeros(batch, 1, 2, height, width)
            return zero, zero
        current = lrs[:, :-1].reshape(-1, 3, height, width)
        following = lrs[:, 1:].reshape(-1, 3, height, width)
        to_next = self.spynet(current, following).view(batch, frames - 1, 2, height, width)
        to_previous = self.spynet(following, current).view(batch, frames - 1, 2, height, width)
        zero = lrs.new_zeros(batch, 1, 2, height, width)
        return torch.cat([zero, to_previous], dim=1), torch.cat([to_next, zero], dim=1)


class VSRTransformer(nn.Module):
    """The VSR-Transformer: [B, T, 3, S, S] RGB in [0, 1] -> [B, T, 3, 4S, 4S]."""

    def __init__(self, config: VSRTConfig | None = None) -> None:
        super().__init__()
        config = config or VSRTConfig()
        self.config = config
        channels, up = config.channels, config.upsampler_width
        self.conv_first = nn.Conv2d(3, channels, 3, 1, 1)
        self.feature_extraction = residual_stack(channels, config.extract_blocks)
        self.spynet = NeighbourFlows(config.self_flow, config.flow_levels)
        self.pos_embedding = FramePositionalEncoding(config.num_frames)
        self.transformer = Transformer(config)
        self.reconstruction = residual_stack(channels, config.reconstruct_blocks)
        self.upconv1 = nn.Conv2d(channels, up * 4, 3, 1, 1)
        self.upconv2 = nn.Conv2d(up, up * 4, 3, 1, 1)
        self.conv_hr = nn.Conv2d(up, up, 3, 1, 1)
        self.conv_last = nn.Conv2d(up, 3, 3, 1, 1)

    def compute_flows(self, lrs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.spynet(lrs)

    def forward(
        self,
        lrs: torch.Tensor,
        flows: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Upscale a window. ``flows`` = (flows_forward, flows_backward) may be supplied
        (e.g. computed once over whole frames and cropped); otherwise SPyNet runs here."""
        batch, frames, _, height, width = lrs.shape
        size = self.config.tile_size
        if frames != self.config.num_frames or (height, width) != (size, size):
            raise ValueError(
                f"expected [B, {self.config.num_frames}, 3, {size}, {size}], got {list(lrs.shape)}"
            )
        flat = lrs.reshape(-1, 3, height, width)
        features = self.feature_extraction(conv_act(self.conv_first, flat, "leaky_relu", LRELU_SLOPE))
        features = features.view(batch, frames, -1, height, width)
        flows_forward, flows_backward = flows if flows is not None else self.compute_flows(lrs)
        features = self.pos_embedding(features)
        features = self.transformer(
            features, lrs=lrs, flows_forward=flows_forward, flows_backward=flows_backward
        )
        out = self.reconstruction(features.reshape(-1, features.shape[2], height, width))
        # The activation is elementwise, so it can come before the shuffle, inside the conv.
        out = F.pixel_shuffle(conv_act(self.upconv1, out, "leaky_relu", LRELU_SLOPE), 2)
        out = F.pixel_shuffle(conv_act(self.upconv2, out, "leaky_relu", LRELU_SLOPE), 2)
        out = self.conv_last(conv_act(self.conv_hr, out, "leaky_relu", LRELU_SLOPE))
        base = F.interpolate(flat, scale_factor=SCALE, mode="bilinear", align_corners=False)
        # Summed in fp32 (``base`` is fp32 because ``lrs`` is): under bf16 autocast a
        # [0.5, 1) value has a step of 1/256, which would put the output a whole uint8 level off.
        return base.float().add_(out).view(batch, frames, 3, SCALE * height, SCALE * width)
