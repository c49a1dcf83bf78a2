"""vsrt checkpoints: safetensors files that carry their own architecture config.

The metadata holds ``format`` (always ``vsrt``), ``architecture`` and ``config`` (the
model's config dataclass as JSON), so a file alone is enough to rebuild its network.
Anything else a caller passes in ``metadata`` (provenance, training steps) rides along.

Two architectures are stored this way: the VSR-Transformer (``vsr-transformer``) and a
standalone SPyNet (``spynet``, config ``{}``), the flow network a training run starts from.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import CheckpointError, OutputError
from ..models.spynet import PYRAMID_LEVELS, SPyNet
from ..models.vsrt import VSRTConfig, VSRTransformer

HASH_CHUNK = 1 << 20

FORMAT = "vsrt"
ARCHITECTURE = "vsr-transformer"
SPYNET_ARCHITECTURE = "spynet"
ARCHITECTURES = (ARCHITECTURE, SPYNET_ARCHITECTURE)


def save_checkpoint(
    model: VSRTransformer,
    path: str | os.PathLike[str],
    metadata: dict[str, str] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``model``'s weights and config to ``path`` atomically (temp file, then rename)."""
    return write_checkpoint(model.state_dict(), path, ARCHITECTURE, model.config.to_json(), metadata, dtype)


def save_spynet(
    model: SPyNet,
    path: str | os.PathLike[str],
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write a standalone SPyNet (architecture ``spynet``) atomically."""
    return write_checkpoint(model.state_dict(), path, SPYNET_ARCHITECTURE, "{}", metadata)


def write_checkpoint(
    state: dict[str, torch.Tensor],
    path: str | os.PathLike[str],
    architecture: str,
    config_json: str,
    metadata: dict[str, str] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``state`` with vsrt metadata; a reader never sees a half-written file."""
    path = Path(path)
    tensors = {
        key: (value.to(dtype) if dtype is not None and value.is_floating_point() else value)
        .detach()
        .cpu()
        .contiguous()
        for key, value in state.items()
    }
    meta = {key: str(value) for key, value in (metadata or {}).items()}
    meta.update(format=FORMAT, architecture=architecture, config=config_json)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        save_file(tensors, str(temporary), metadata=meta)
        # safetensors writes 0600; a weights file is shared like any other the user makes.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except (OSError, SafetensorError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise OutputError(f"cannot write {path}: {reason}") from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
    return path


def _umask() -> int:
    mask = os.umask(0o022)  # reading it means setting it; put it straight back
    os.umask(mask)
    return mask


def read_metadata(path: str | os.PathLike[str], architecture: str | None = ARCHITECTURE) -> dict[str, str]:
    """The safetensors metadata of ``path``; raises CheckpointError if it is not a vsrt file.

    ``architecture`` is the one the caller needs; None accepts any vsrt architecture.
    """
    meta = read_raw_metadata(path)
    if meta.get("format") != FORMAT or "config" not in meta:
        raise CheckpointError(f"{path}: a safetensors file, but not a vsrt checkpoint (no vsrt config in its metadata)")
    found = meta.get("architecture")
    if architecture is None and found not in ARCHITECTURES:
        raise CheckpointError(f"{path}: unknown architecture {found!r} (known: {', '.join(ARCHITECTURES)})")
    if architecture is not None and found != architecture:
        raise CheckpointError(f"{path}: architecture {found!r} is not {architecture!r}")
    return meta


def read_raw_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """Any safetensors file's metadata (possibly empty); CheckpointError if unreadable."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except FileNotFoundError:
        raise CheckpointError(_unopenable(path)) from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None


def _unopenable(path: str | os.PathLike[str]) -> str:
    """Why a file safetensors could not open: it says "not found" for any failure to open
    one (permission denied included), which would send the user looking in the wrong place."""
    try:
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        return f"{path}: no such file"
    except OSError as error:
        return f"{path}: cannot read it ({error.strerror or error})"
    return f"{path}: cannot open it"


def read_tensors(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file, on the CPU. Never unpickles anything."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: handle.get_tensor(key) for key in handle.keys()}
    except FileNotFoundError:
        raise CheckpointError(_unopenable(path)) from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: damaged tensor data ({exc})") from None


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[VSRTConfig, dict[str, torch.Tensor], dict[str, str]]:
    """Read a checkpoint: (config, state dict, metadata). Never unpickles anything."""
    meta = read_metadata(path)
    try:
        config = VSRTConfig.from_json(meta["config"])
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: invalid model config in metadata ({exc})") from None
    return config, read_tensors(path), meta


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
        f"{f' flow_levels={config.flow_levels}' if config.flow_levels != PYRAMID_LEVELS else ''}"
    )


def load_checkpoint_model(path: str | os.PathLike[str]) -> VSRTransformer:
    config, state, _ = load_checkpoint(path)
    return build_model(config, state, source=str(path))


def load_spynet_checkpoint(path: str | os.PathLike[str]) -> SPyNet:
    """A standalone SPyNet from a ``spynet`` vsrt checkpoint, in eval mode (fp32)."""
    read_metadata(path, SPYNET_ARCHITECTURE)
    state = read_tensors(path)
    model = SPyNet()
    problems = describe_mismatch(model.state_dict(), state)
    if problems:
        raise CheckpointError(f"{path}: does not match SPyNet: {problems}")
    model.load_state_dict({key: value.float() for key, value in state.items()}, strict=True)
    return model.eval()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, read in chunks (checkpoints can be hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
