"""Choosing the device and the arithmetic precision."""

from __future__ import annotations

import torch

from ..errors import UsageError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` takes the first CUDA device when there is one, else the CPU."""
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
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


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
