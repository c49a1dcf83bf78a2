"""Turn a model name or a weights path into a ready network.

``load_model()`` is what the upscaler and the public API call; ``resolve_weights()`` is
what the CLI's ``-m/--weights`` options call to fail early with the right message. Nothing
here touches the network: a model that is not on this machine raises WeightsMissingError
naming the exact command that gets it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import CheckpointError, UsageError, WeightsMissingError
from ..inference.device import resolve_device
from ..models.spynet import SPyNet
from ..models.vsrt import VSRTransformer
from .checkpoint import (
    ARCHITECTURE,
    SPYNET_ARCHITECTURE,
    file_sha256,
    load_checkpoint_model,
    load_spynet_checkpoint,
    read_metadata,
    read_raw_metadata,
)
from .registry import BundledSource, HubSource, ImportSource, ModelEntry, Registry, load_registry

SAFETENSORS_SUFFIX = ".safetensors"
UPSCALER_KIND = "vsr-transformer"  # the registry's kind for networks load_model returns


def resolve_weights(name_or_path: str | os.PathLike[str] | None = None, registry: Registry | None = None) -> Path:
    """The vsrt safetensors file for a registered name, a path, or (None) the default model."""
    registry = registry or load_registry()
    if name_or_path is None:
        return entry_file(registry.default_entry(), registry)
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise UsageError(f"a model is a name or a path, not {type(name_or_path).__name__} {name_or_path!r}")
    text = os.fspath(name_or_path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip():
        raise UsageError(f"an empty model name (known: {', '.join(registry.names())}; see `vsrt models`)")
    entry = registry.find(text)
    if entry is not None:
        return entry_file(entry, registry)
    path = Path(text).expanduser()
    if path.is_dir():
        raise UsageError(f"{path}: a folder, not a .safetensors weights file")
    if path.is_file():
        if path.suffix != SAFETENSORS_SUFFIX:
            raise CheckpointError(
                f"{path}: not a vsrt .safetensors checkpoint; convert a PyTorch checkpoint first:"
                f" vsrt import-weights {path} {path.with_suffix(SAFETENSORS_SUFFIX).name}"
            )
        return path
    if path.suffix or os.sep in text or (os.altsep and os.altsep in text):
        # A path the user typed: a usage error like any missing input (exit 2), not the
        # "get them with this command" of a registered model's missing weights (exit 4).
        raise UsageError(f"{path}: no such weights file")
    raise UsageError(f"unknown model {text!r} (known: {', '.join(registry.names())}; see `vsrt models`)")


def entry_file(entry: ModelEntry, registry: Registry) -> Path:
    """A registered model's file, checked to be present (and, where a hash is pinned, intact)."""
    source = entry.source
    if isinstance(source, HubSource):
        from .download import resolve_hub_entry  # imports huggingface_hub, only needed here

        return resolve_hub_entry(entry, registry)
    path = registry.local_path(entry)
    assert path is not None
    if isinstance(source, ImportSource):
        if not os.path.lexists(path):
            raise WeightsMissingError(
                f"model {entry.name} is not imported: download {source.filename} from {source.url},"
                f" then run: {source.command}"
            )
        problem = file_problem(entry, path)
        if problem is not None:
            raise CheckpointError(f"model {entry.name}: {problem}; {repair_hint(entry)}")
        return path
    assert isinstance(source, BundledSource)
    if not path.is_file():
        raise WeightsMissingError(
            f"model {entry.name}: its bundled weights {entry.file} are not in {path.parent}; this vsrt build ships"
            " without them: install a release that includes them, or pick another model with -m (see `vsrt models`)"
        )
    check_bundled(entry, path)
    return path


def check_bundled(entry: ModelEntry, path: Path) -> None:
    """Bundled files are small: hash them so a damaged install fails loudly, not subtly."""
    if entry.size is not None and path.stat().st_size != entry.size:
        raise CheckpointError(
            f"model {entry.name}: {path} has {path.stat().st_size} bytes, expected {entry.size}; reinstall vsrt"
        )
    if entry.sha256 and file_sha256(path) != entry.sha256:
        raise CheckpointError(f"model {entry.name}: {path} fails its SHA-256 check; reinstall vsrt")


def load_model(
    name_or_path: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
) -> VSRTransformer:
    """A VSRTransformer in eval mode, fp32, on ``device`` (``auto``, ``cpu``, ``cuda``,
    ``cuda:N`` or a torch.device): a registered name, a ``.safetensors`` path, or None for
    the default model."""
    registry = load_registry()
    entry = registry.find(os.fspath(name_or_path)) if isinstance(name_or_path, (str, os.PathLike)) else None
    if entry is not None and entry.kind != UPSCALER_KIND:
        # Said before its weights are looked for: fetching them would not make it upscale.
        upscalers = ", ".join(e.name for e in registry.entries if e.kind == UPSCALER_KIND)
        raise UsageError(f"{entry.name} is a {entry.kind} network, not an upscaler; upscalers: {upscalers}")
    path = resolve_weights(name_or_path, registry)
    architecture = read_metadata(path, None).get("architecture")
    if architecture != ARCHITECTURE:
        raise UsageError(
            f"{name_or_path}: a {architecture} network, not an upscaler (load it with vsrt_cli.weights.load_spynet)"
        )
    model = load_checkpoint_model(path).to(_device(device))
    # What results and reports call it; a copy made with copy.deepcopy keeps it.
    model.weights_name = load_registry().default_entry().name if name_or_path is None else os.fspath(name_or_path)
    return model


def _device(device: str | torch.device) -> torch.device:
    return resolve_device(device)  # the same words as --device, and the same checks


def load_spynet(
    name_or_path: str | os.PathLike[str],
    device: str | torch.device = "cpu",
) -> SPyNet:
    """A standalone SPyNet (e.g. ``spynet-sintel``, to start training from), eval mode, fp32."""
    path = resolve_weights(name_or_path)
    architecture = read_metadata(path, None).get("architecture")
    if architecture != SPYNET_ARCHITECTURE:
        raise UsageError(f"{name_or_path}: a {architecture} network, not a SPyNet")
    return load_spynet_checkpoint(path).to(_device(device))


def installed_path(entry: ModelEntry, registry: Registry) -> Path | None:
    """Where ``entry`` is installed and whole, as far as its size and header show (nothing
    is hashed); None if it is not installed or its file is damaged (see :func:`damage`)."""
    source = entry.source
    if isinstance(source, HubSource) and not source.needs_conversion:
        from .download import cached_hub_file

        return cached_hub_file(source)
    path = registry.local_path(entry)
    if path is None or not path.is_file():
        return None
    if isinstance(source, HubSource):
        from .download import converted_is_current

        return path if converted_is_current(path, source.sha256) else None
    return path if file_problem(entry, path) is None else None


def damage(entry: ModelEntry, registry: Registry) -> str | None:
    """What is wrong with a bundled or imported model's file, if it is there and damaged.

    A Hub model's converted file that is not current is stale, not damaged:
    ``download-weights`` converts it again by itself.
    """
    if isinstance(entry.source, HubSource):
        return None
    path = registry.local_path(entry)
    return file_problem(entry, path) if path is not None and os.path.lexists(path) else None


def repair_hint(entry: ModelEntry) -> str:
    """What puts a damaged bundled or imported model's file right."""
    if isinstance(entry.source, ImportSource):
        return f"import it again: {entry.source.command} -y"
    return "reinstall vsrt"


def file_problem(entry: ModelEntry, path: Path) -> str | None:
    """What is wrong with the file of a bundled or imported model, found cheaply (its size
    against the registry's, its safetensors header against its length); None if nothing is.

    A file cut short (a copy by hand, a disk that filled) would otherwise be listed as
    installed and fail only when a run loads it.
    """
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file"
        return f"{path} is {kind}, not a weights file (move it out of the way)"
    size = path.stat().st_size
    if isinstance(entry.source, BundledSource) and entry.size is not None and size != entry.size:
        return f"{path} has {size} bytes, expected {entry.size}"
    try:
        read_raw_metadata(path)
    except CheckpointError as exc:
        return str(exc)
    return None


__all__ = ["damage", "installed_path", "load_model", "load_spynet", "resolve_weights"]
