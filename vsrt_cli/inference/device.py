"""Choosing the device and the arithmetic precision."""

from __future__ import annotations

import contextlib
import copy
from typing import Iterator

import numpy as np
import torch
from torch import nn

from ..errors import UsageError
from ..models.fused import mkldnn_bf16_supported

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``auto`` takes the first CUDA device when there is one, else the CPU."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    if spec is not None and not isinstance(spec, str):
        raise UsageError(f"device {spec!r}: expected auto, cpu, cuda or cuda:N (a string or a torch.device)")
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {spec}: CUDA is not available on this machine (use --device cpu)")
        device = torch.device(spec)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(
                f"--device {spec}: there are only {torch.cuda.device_count()} CUDA device(s)"
            )
        return device
    raise UsageError(f"--device {spec!r}: expected auto, cpu, cuda or cuda:N")


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 instructions (AVX512-BF16, AMX), where bf16 beats fp32."""
    return mkldnn_bf16_supported()


def choose_precision(device: torch.device, requested: str = "auto", native_bf16: bool | None = None) -> str:
    """The precision name to run in.

    auto: fp16 on CUDA (the attention logits stay in fp32, see the model); on a CPU, bf16
    only where the CPU computes it natively, otherwise fp32, which is then the fastest.
    """
    requested = (requested or "auto").lower()
    if requested not in PRECISIONS:
        raise UsageError(f"--precision {requested!r}: expected one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        if requested == "fp16" and device.type == "cpu":
            # Supported, but slow: most CPU kernels emulate fp16.
            return "fp16"
        return requested
    if device.type == "cuda":
        return "fp16"
    if native_bf16 is None:
        native_bf16 = cpu_has_native_bf16()
    return "bf16" if native_bf16 else "fp32"


@contextlib.contextmanager
def cuda_kernel_settings(device: torch.device, precision: str) -> Iterator[None]:
    """cuDNN settings for a block of model calls on ``device``; nothing changes on a CPU.

    Autotuning is on because the tile shapes repeat all video long, so one search per
    shape pays. In fp32, TF32 is off: cuDNN convolutions default to it, rounding their
    inputs to 10 mantissa bits, and fp32 is the reference the other precisions are
    checked against. The previous settings come back afterwards.
    """
    if device.type != "cuda":
        yield
        return
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32
    cudnn.benchmark = True
    if precision == "fp32":
        cudnn.allow_tf32 = matmul.allow_tf32 = False
    try:
        yield
    finally:
        cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32 = saved


@contextlib.contextmanager
def model_call(device: torch.device, precision: str) -> Iterator[None]:
    """Inference mode, autocast to ``precision`` (none for fp32) and the cuDNN settings."""
    if precision == "fp32":
        autocast = torch.autocast(device.type, enabled=False)
    else:
        autocast = torch.autocast(device.type, dtype=DTYPES[precision])
    with torch.inference_mode(), autocast, cuda_kernel_settings(device, precision):
        yield


def model_on_device(model: nn.Module, device: torch.device) -> nn.Module:
    """An eval-mode copy of ``model`` on ``device`` with channels-last weights.

    Channels-last convolutions are about 30% faster on CPUs (oneDNN) and what tensor
    cores want on GPUs; the copy leaves the caller's module as it was.
    """
    # fp32 whatever the caller's copy is in: the precision of a run comes from autocast, and
    # a .half() or .double() network would otherwise meet float32 frames and fail.
    return copy.deepcopy(model).to(device=device, dtype=torch.float32, memory_format=torch.channels_last).eval()


def to_host_hwc(image: torch.Tensor) -> np.ndarray:
    """A [C, H, W] tensor as an HxWxC numpy array in host memory.

    From a GPU the copy goes into pinned memory: a pageable copy of one 2560x1440 fp32
    frame took 26 ms on an H200 machine (1.7 GB/s), which halved the model's throughput.
    PyTorch caches freed pinned blocks, so frames in flight reuse a few buffers.
    """
    hwc = image.permute(1, 2, 0)
    if image.device.type != "cuda":
        return hwc.numpy()
    host = torch.empty(hwc.shape, dtype=hwc.dtype, pin_memory=True)
    host.copy_(hwc)
    return host.numpy()
