"""A convolution and its activation in one oneDNN call, for inference on a CPU.

Eagerly, the activation is a second pass over the convolution's output; at vsrt-small's
256x256 stages that output is 21 MB per call and the pass costs as much as the
convolution. oneDNN applies the activation as it writes the output instead (PyTorch
reaches it through ``torch.ops.mkldnn._convolution_pointwise``, the op its own compiler
fuses into). On a 2-core AMX Xeon in bf16, 16->16 channels at 256x256 for 10 maps took
3.56 ms instead of 6.22; 16->64 at 128x128, 2.04 instead of 3.73. A residual sum
fuses the same way: 0.59 ms instead of 0.70 for a 24-channel block's second convolution.

Results: identical in fp32, and for ReLU in bf16; a bf16 LeakyReLU or sum can differ by
one bf16 step, since it is applied before the output is rounded rather than after. Training
(gradients on), other devices, and PyTorch builds without the op run the usual way.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

_FUSIBLE_DTYPES = (torch.float32, torch.bfloat16)


def conv_act(conv: nn.Conv2d, x: torch.Tensor, activation: str, slope: float = 0.0) -> torch.Tensor:
    """``activation(conv(x))``; ``activation`` is ``relu`` or ``leaky_relu`` (with ``slope``)."""
    dtype = _fused_dtype(conv, x)
    if dtype is not None:
        weight, bias = _parameters(conv, dtype)
        return torch.ops.mkldnn._convolution_pointwise(
            x.to(dtype), weight, bias, *_geometry(conv), activation,
            [slope] if activation == "leaky_relu" else [], "",
        )
    out = conv(x)
    return F.leaky_relu(out, slope) if activation == "leaky_relu" else F.relu(out)


def conv_add(conv: nn.Conv2d, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``conv(x) + other``, the residual sum written by the convolution itself."""
    dtype = _fused_dtype(conv, x)
    # Only where the sum would have the conv's dtype anyway: an fp32 ``other`` promotes it.
    if dtype is not None and other.dtype == dtype and other.shape[1] == conv.out_channels:
        weight, bias = _parameters(conv, dtype)
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x.to(dtype), other, weight, bias, *_geometry(conv), "add", None, None, [], None
        )
    return other + conv(x)


def _fused_dtype(conv: nn.Conv2d, x: torch.Tensor) -> torch.dtype | None:
    """The dtype to run the fused op in, or None where it does not apply."""
    if x.device.type != "cpu" or torch.is_grad_enabled() or conv.padding_mode != "zeros":
        return None
    if isinstance(conv.padding, str) or not fused_conv_available():
        return None
    dtype = _compute_dtype(x)
    if dtype == torch.bfloat16 and not mkldnn_bf16_supported():
        return None  # oneDNN has no bf16 kernels for this CPU; the aten path still runs
    return dtype if dtype in _FUSIBLE_DTYPES else None


def _parameters(conv: nn.Conv2d, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
    return conv.weight.to(dtype), (conv.bias.to(dtype) if conv.bias is not None else None)


def _geometry(conv: nn.Conv2d) -> tuple[list[int], list[int], list[int], int]:
    return list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    # The fused op has no autocast rule, so it is given the dtype autocast would use.
    try:
        autocast = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
    except TypeError:  # PyTorch before 2.4 names these per device
        autocast = torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled() else None
    return autocast or x.dtype


@functools.cache
def fused_conv_available() -> bool:
    """Whether this PyTorch build has the op and it runs (tried once on a tiny input)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        x = torch.ones(1, 1, 3, 3)
        out = torch.ops.mkldnn._convolution_pointwise(x, x.new_ones(1, 1, 3, 3), None, [1, 1], [1, 1], [1, 1], 1,
                                                      "relu", [], "")
    except (AttributeError, RuntimeError):
        return False
    return float(out[0, 0, 1, 1]) == 9.0


@functools.cache
def mkldnn_bf16_supported() -> bool:
    """Whether oneDNN computes bf16 on this CPU (AVX512-BF16 or AMX on the machines seen)."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False
