"""The model registry: ``weights/models.json``, and where each model's file lives.

Three kinds of source:

* ``bundled``: the file ships with vsrt, next to the manifest (``weights/`` in a checkout,
  ``vsrt_cli/_bundled_weights/`` in an installed wheel).
* ``hub``: a file on the Hugging Face Hub at a pinned revision, fetched into the standard
  Hub cache by ``vsrt download-weights``; a non-safetensors file is converted into the user
  weights dir.
* ``import``: a file the user downloads by hand and converts with ``vsrt import-weights``
  into the user weights dir.

The user weights dir is ``$VSRT_HOME`` or ``~/.cache/vsrt/weights``. ``$VSRT_REGISTRY``
points at another manifest (bundled files are then looked up beside it).

Nothing here touches the network or hashes files: see ``download`` and ``loading``.
"""

from __future__ import annotations

import importlib.resources
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ..errors import UsageError, VsrtError
from ..models.vsrt import PRESETS, VSRTConfig

MANIFEST_NAME = "models.json"
BUNDLED_PACKAGE = "vsrt_cli._bundled_weights"
KINDS = ("vsr-transformer", "spynet")
REPO_TYPES = ("model", "space", "dataset")
REGISTRY_ENV = "VSRT_REGISTRY"
HOME_ENV = "VSRT_HOME"


class RegistryError(VsrtError):
    """The model manifest is missing or malformed (a packaging bug, not a user error)."""


@dataclass(frozen=True)
class BundledSource:
    type: str = "bundled"


@dataclass(frozen=True)
class HubSource:
    repo_id: str
    filename: str
    revision: str
    sha256: str
    size: int | None
    repo_type: str = "model"
    type: str = "hub"

    @property
    def needs_conversion(self) -> bool:
        return not self.filename.endswith(".safetensors")


@dataclass(frozen=True)
class ImportSource:
    url: str
    filename: str
    command: str
    instructions: str = ""
    # SHA-256 of the file the user downloads, when known; only used to warn.
    sha256: str | None = None
    type: str = "import"


Source = Union[BundledSource, HubSource, ImportSource]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str
    source: Source
    file: str
    description: str = ""
    config: VSRTConfig | None = None
    preset: str | None = None
    sha256: str | None = None
    size: int | None = None
    licence: str = ""
    provenance: str = ""
    params: int | None = None
    macs_per_lr_pixel: float | None = None
    compute_note: str = ""
    quality: dict[str, Any] = field(default_factory=dict)
    notes: str = ""


@dataclass(frozen=True)
class Registry:
    entries: tuple[ModelEntry, ...]
    default: str
    manifest: Path

    @property
    def bundled_dir(self) -> Path:
        return self.manifest.parent

    def names(self) -> list[str]:
        return [entry.name for entry in self.entries]

    def find(self, name: str) -> ModelEntry | None:
        return next((entry for entry in self.entries if entry.name == name), None)

    def get(self, name: str) -> ModelEntry:
        entry = self.find(name)
        if entry is None:
            raise UsageError(f"unknown model {name!r} (known: {', '.join(self.names())}; see `vsrt models`)")
        return entry

    def default_entry(self) -> ModelEntry:
        return self.get(self.default)

    def local_path(self, entry: ModelEntry) -> Path | None:
        """Where ``entry``'s vsrt safetensors file is or will be; None for a file that stays
        in the Hub cache (a safetensors hub source), which only ``download`` can locate."""
        if isinstance(entry.source, BundledSource):
            return self.bundled_dir / entry.file
        if isinstance(entry.source, HubSource) and not entry.source.needs_conversion:
            return None
        return user_weights_dir() / entry.file


def user_weights_dir() -> Path:
    """Where imported and converted weights live: ``$VSRT_HOME`` or ``~/.cache/vsrt/weights``."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser()
    return Path.home() / ".cache" / "vsrt" / "weights"


def bundled_manifest() -> Path:
    """The manifest shipped with vsrt: package data in a wheel, ``<repo>/weights`` in a checkout."""
    try:
        candidate = importlib.resources.files(BUNDLED_PACKAGE).joinpath(MANIFEST_NAME)
    except ModuleNotFoundError:
        candidate = None
    # Only a real directory works: bundled weights are opened by path (safetensors mmaps them).
    if isinstance(candidate, Path) and candidate.is_file():
        return candidate
    return Path(__file__).resolve().parents[2] / "weights" / MANIFEST_NAME


def load_registry(path: str | os.PathLike[str] | None = None) -> Registry:
    """Read a manifest: ``path``, else ``$VSRT_REGISTRY``, else the bundled one."""
    manifest = Path(path or os.environ.get(REGISTRY_ENV) or bundled_manifest())
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"model registry {manifest} is missing (a broken installation?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"model registry {manifest} is unreadable: {exc}") from None
    try:
        return parse_registry(data, manifest)
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryError(f"model registry {manifest} is malformed: {exc}") from None


def parse_registry(data: dict[str, Any], manifest: Path) -> Registry:
    entries = tuple(parse_entry(item) for item in data["models"])
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise ValueError("duplicate model names")
    flagged = [item["name"] for item in data["models"] if item.get("default")]
    default = data.get("default") or (flagged[0] if flagged else None)
    if default not in names:
        raise ValueError(f"default model {default!r} is not listed")
    return Registry(entries=entries, default=default, manifest=manifest)


def parse_entry(item: dict[str, Any]) -> ModelEntry:
    name = item["name"]
    kind = item["kind"]
    if kind not in KINDS:
        raise ValueError(f"{name}: kind {kind!r} is not one of {KINDS}")
    preset = item.get("preset")
    config = None
    if kind == "vsr-transformer":
        if preset is not None:
            if preset not in PRESETS:
                raise ValueError(f"{name}: unknown preset {preset!r}")
            config = PRESETS[preset]
        else:
            config = VSRTConfig.from_dict(item["config"])
    source = parse_source(name, item["source"])
    default_file = f"{name}.safetensors"
    file = item.get("file") or default_file
    if isinstance(source, ImportSource) and file != default_file:
        raise ValueError(f"{name}: an imported model's file must be {default_file}")
    return ModelEntry(
        name=name,
        kind=kind,
        source=source,
        file=file,
        description=item.get("description", ""),
        config=config,
        preset=preset,
        sha256=item.get("sha256"),
        size=item.get("size"),
        licence=item.get("licence", ""),
        provenance=item.get("provenance", ""),
        params=item.get("params"),
        macs_per_lr_pixel=item.get("macs_per_lr_pixel"),
        compute_note=item.get("compute_note", ""),
        quality=dict(item.get("quality") or {}),
        notes=item.get("notes", ""),
    )


def parse_source(name: str, item: dict[str, Any]) -> Source:
    kind = item["type"]
    if kind == "bundled":
        return BundledSource()
    if kind == "hub":
        repo_type = item.get("repo_type", "model")
        if repo_type not in REPO_TYPES:
            raise ValueError(f"{name}: repo_type {repo_type!r} is not one of {REPO_TYPES}")
        sha256 = item["sha256"].lower()
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"{name}: sha256 must be 64 hex digits")
        return HubSource(
            repo_id=item["repo_id"],
            filename=item["filename"],
            revision=item["revision"],
            sha256=sha256,
            size=item.get("size"),
            repo_type=repo_type,
        )
    if kind == "import":
        return ImportSource(
            url=item["url"],
            filename=item["filename"],
            command=item["command"],
            instructions=item.get("instructions", ""),
            sha256=item.get("sha256"),
        )
    raise ValueError(f"{name}: unknown source type {kind!r}")
