"""vsrt checkpoints: safetensors files that carry their own architecture config.

The metadata holds ``format`` (always ``vsrt``), ``architecture`` and ``config`` (the
model's config dataclass as JSON), so a file alone is enough to rebuild its network.
Anything else a caller passes in ``metadata`` (provenance, training steps) rides along.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import CheckpointError
from ..models.vsrt import VSRTConfig, VSRTransformer

FORMAT = "vsrt"
ARCHITECTURE = "vsr-transformer"


def save_checkpoint(
    model: VSRTransformer,
    path: str | os.PathLike[str],
    metadata: dict[str, str] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``model``'s weights and config to ``path`` atomically (temp file, then rename)."""
    path = Path(path)
    tensors = {
        key: (value.to(dtype) if dtype is not None and value.is_floating_point() else value)
        .detach()
        .cpu()
        .contiguous()
        for key, value in model.state_dict().items()
    }
    meta = dict(metadata or {})
    meta.update(format=FORMAT, architecture=ARCHITECTURE, config=model.config.to_json())
    temporary = path.with_name(f".{path.name}.partial")
    try:
        save_file(tensors, str(temporary), metadata=meta)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The safetensors metadata of ``path``; raises CheckpointError if it is not a vsrt file."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    if meta.get("format") != FORMAT or "config" not in meta:
        raise CheckpointError(f"{path}: a safetensors file, but not a vsrt checkpoint (no vsrt config in its metadata)")
    if meta.get("architecture") != ARCHITECTURE:
        raise CheckpointError(f"{path}: architecture {meta.get('architecture')!r} is not {ARCHITECTURE!r}")
    return meta


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[VSRTConfig, dict[str, torch.Tensor], dict[str, str]]:
    """Read a checkpoint: (config, state dict, metadata). Never unpickles anything."""
    meta = read_metadata(path)
    try:
        config = VSRTConfig.from_json(meta["config"])
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: invalid model config in metadata ({exc})") from None
    try:
        with safe_open(str(path), framework="pt") as handle:
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: damaged tensor data ({exc})") from None
    return config, state, meta


def build_model(
    config: VSRTConfig,
    state: dict[str, torch.Tensor],
    source: str = "checkpoint",
) -> VSRTransformer:
    """A VSRTransformer holding exactly ``state`` (in fp32), in eval mode.

    Refuses partial or mismatched weights with a message naming what is wrong.
    """
    model = VSRTransformer(config)
    problems = describe_mismatch(model.state_dict(), state)
    if problems:
        raise CheckpointError(f"{source}: does not match the {describe_config(config)} network: {problems}")
    model.load_state_dict({key: value.float() for key, value in state.items()}, strict=True)
    return model.eval()


def describe_mismatch(expected: dict[str, torch.Tensor], actual: dict[str, torch.Tensor]) -> str:
    """One line listing missing keys, unexpected keys and shape mismatches ('' if none)."""
    missing = [key for key in expected if key not in actual]
    unexpected = [key for key in actual if key not in expected]
    wrong_shape = [
        f"{key} {tuple(actual[key].shape)} != {tuple(expected[key].shape)}"
        for key in expected
        if key in actual and tuple(actual[key].shape) != tuple(expected[key].shape)
    ]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
        if items:
            shown = ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")
            parts.append(f"{len(items)} {label} ({shown})")
    return "; ".join(parts)


def describe_config(config: VSRTConfig) -> str:
    return (
        f"T={config.num_frames} C={config.channels} tile={config.tile_size} depth={config.depth}"
        f" blocks={config.extract_blocks}/{config.feedforward_blocks}/{config.reconstruct_blocks}"
    )


def load_checkpoint_model(path: str | os.PathLike[str]) -> VSRTransformer:
    config, state, _ = load_checkpoint(path)
    return build_model(config, state, source=str(path))
