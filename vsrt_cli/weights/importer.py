"""Convert third-party checkpoints into vsrt safetensors files.

Sources: the official VSR-Transformer ``.pth`` (a BasicSR container: ``params``,
``params_ema``, ``state_dict`` or a bare dict, keys maybe prefixed ``module.``), a SPyNet
file in mmediting or BasicSR layout, or a plain safetensors state dict. Pickles are read
with ``torch.load(weights_only=True)`` only, so a file that would run code when unpickled
is refused instead of trusted.

The official file carries no config, so the architecture is read off the tensor shapes;
what the tensors cannot tell (frames, patch size, heads) is assumed and reported. A model
is written only if every tensor matches, via a temporary file, so no partial file is left.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, OutputError, UsageError
from ..models.spynet import IMAGENET_MEAN, IMAGENET_STD, SPyNet, load_basicsr_spynet
from ..models.vsrt import PRESETS, FramePositionalEncoding, VSRTConfig
from .checkpoint import (
    FORMAT,
    SPYNET_ARCHITECTURE,
    build_model,
    describe_mismatch,
    file_sha256,
    read_raw_metadata,
    read_tensors,
    save_checkpoint,
    save_spynet,
)
from .registry import HubSource, ImportSource, Registry, load_registry, user_weights_dir

CONTAINER_KEYS = ("params", "params_ema", "state_dict")
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTOCOL_OPCODE = 0x80
SPYNET_KEY = re.compile(r"^(?P<prefix>.*?)basic_module\.\d+\.basic_module\.\d+\.(conv\.)?(weight|bias)$")
SPYNET_PREFIX = "spynet.spynet."
INV_FREQ_KEY = "pos_embedding.penc.inv_freq"
# The official values stand in for what the weights cannot tell (patch size, heads, self-flow).
OFFICIAL = PRESETS["official-reds"]
# The VSR-Transformer's top-level modules, the first part of each of its tensors' names.
VSRT_MODULES = frozenset(
    {"conv_first", "feature_extraction", "transformer", "reconstruction", "upconv1", "upconv2", "conv_hr",
     "conv_last", "spynet", "pos_embedding"}
)


@dataclass
class SourceCheckpoint:
    state: dict[str, torch.Tensor]
    container: str
    sha256: str
    config: VSRTConfig | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    kind: str
    source: Path
    dest: Path
    source_sha256: str
    container: str
    config: VSRTConfig | None
    model_name: str | None = None
    assumptions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": str(self.source),
            "dest": str(self.dest),
            "source_sha256": self.source_sha256,
            "container": self.container,
            "config": None if self.config is None else json_config(self.config),
            "model": self.model_name,
            "assumptions": list(self.assumptions),
        }


def json_config(config: VSRTConfig) -> dict[str, Any]:
    return json.loads(config.to_json())


# ---------------------------------------------------------------------------- reading


def read_source(path: str | Path, param_key: str | None = None) -> SourceCheckpoint:
    """The state dict inside a checkpoint file, whatever its container; never runs pickled code."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")  # like any other missing input: exit 2
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not head:
        raise CheckpointError(f"{path}: the file is empty")
    digest = file_sha256(path)
    if is_safetensors_header(head, path.stat().st_size):
        return read_safetensors_source(path, digest)
    if not (head.startswith(ZIP_MAGIC) or head[0] == PICKLE_PROTOCOL_OPCODE):
        kind = "a text file" if looks_like_text(head) else "an unknown binary file"
        raise CheckpointError(f"{path}: not a PyTorch checkpoint or safetensors file (it is {kind})")
    loaded = torch_load_plain(path)
    state, container, notes = unwrap(loaded, path, param_key)
    return SourceCheckpoint(state=state, container=container, sha256=digest, notes=notes)


def torch_load_plain(path: Path) -> Any:
    try:
        with warnings.catch_warnings():
            # torch warns about pickles it did not write (a plain pickle.dump) before failing
            # on them; the one-line error below says what matters.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found:
            raise CheckpointError(
                f"{path}: holds pickled Python objects, not only tensors ({found.group(1)}); vsrt reads checkpoints"
                " with torch.load(weights_only=True) and will not run code from a file: re-save its state dict"
                " (a dict of tensors) in a trusted Python session"
            ) from None
        raise CheckpointError(
            f"{path}: not a PyTorch checkpoint that can be read without running code (torch's weights-only"
            f" reader: {unpickler_reason(exc)}); vsrt reads checkpoints with torch.load(weights_only=True): save the"
            " state dict (a dict of tensors) with torch.save in a trusted Python session"
        ) from None
    except EOFError:
        raise CheckpointError(f"{path}: truncated (the pickle ends early); download it again") from None
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: truncated or damaged PyTorch checkpoint ({first_line(exc)}); download it again"
        ) from None
    except (KeyError, ValueError, TypeError, IndexError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from None


def read_safetensors_source(path: Path, digest: str) -> SourceCheckpoint:
    meta = read_raw_metadata(path)
    state = read_tensors(path)
    config = None
    container = "safetensors state dict"
    if meta.get("format") == FORMAT:
        container = f"vsrt {meta.get('architecture')} checkpoint"
        if meta.get("architecture") != SPYNET_ARCHITECTURE and "config" in meta:
            try:
                config = VSRTConfig.from_json(meta["config"])
            except (ValueError, TypeError) as exc:
                raise CheckpointError(f"{path}: invalid model config in metadata ({exc})") from None
    return SourceCheckpoint(state=strip_module(state), container=container, sha256=digest, config=config)


def unwrap(loaded: Any, path: Path, param_key: str | None) -> tuple[dict[str, torch.Tensor], str, list[str]]:
    """Find the state dict in a BasicSR / mmediting / bare container."""
    if not isinstance(loaded, dict):
        raise CheckpointError(f"{path}: holds a {type(loaded).__name__}, not a dict of tensors")
    if param_key is not None:
        if param_key not in loaded:
            keys = ", ".join(map(str, list(loaded)[:8]))
            raise UsageError(f"{path}: has no {param_key!r} entry (top-level keys: {keys})")
        inner, container = loaded[param_key], f"{param_key!r} entry"
    else:
        present = [key for key in CONTAINER_KEYS if isinstance(loaded.get(key), dict)]
        inner, container = (loaded[present[0]], f"{present[0]!r} entry") if present else (loaded, "bare state dict")
    if not isinstance(inner, dict):
        raise CheckpointError(f"{path}: its {container} is a {type(inner).__name__}, not a dict of tensors")
    state = {str(key): value for key, value in inner.items() if isinstance(value, torch.Tensor)}
    if not state:
        raise CheckpointError(f"{path}: contains no tensors, so it is not a model checkpoint")
    notes = []
    skipped = [str(key) for key, value in inner.items() if not isinstance(value, torch.Tensor)]
    if skipped:
        notes.append(f"ignored {len(skipped)} non-tensor entries ({', '.join(skipped[:3])})")
    if any(key.startswith("module.") for key in state):
        notes.append("removed the DataParallel key prefix 'module.'")
    if param_key is None and len(present) > 1:
        notes.append(f"used {present[0]!r}; the file also has {', '.join(map(repr, present[1:]))} (choose with --param-key)")
    return strip_module(state), container, notes


def strip_module(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``module.`` prefix that DataParallel/DistributedDataParallel training adds."""
    return {key[len("module.") :] if key.startswith("module.") else key: value for key, value in state.items()}


def is_safetensors_header(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    (header_length,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and 8 + header_length <= size


def looks_like_text(head: bytes) -> bool:
    return all(byte in b"\t\n\r" or 32 <= byte < 127 for byte in head)


def unpickler_reason(exc: BaseException) -> str:
    """What torch's weights-only unpickler stopped at, without torch's advice around it
    (which suggests weights_only=False: running the file's code)."""
    found = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n\s*\n|$)", str(exc), re.DOTALL)
    if found:
        return " ".join(found.group(1).split())
    text = first_line(exc)
    return "it refused the file" if "weights_only" in text else text


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# ---------------------------------------------------------------------------- classifying


def classify(state: dict[str, torch.Tensor], path: Path) -> str:
    layers = any(key.startswith("transformer.layers.") for key in state)
    if layers and ("conv_first.weight" in state or all(key.split(".", 1)[0] in VSRT_MODULES for key in state)):
        # With its first convolution there, or with every name one of the network's, what is
        # missing or wrong is said key by key (build_model), not as "another network".
        return "vsr-transformer"
    if all(SPYNET_KEY.match(key) or key.rsplit(".", 1)[-1] in ("mean", "std") for key in state):
        return "spynet"
    sample = ", ".join(list(state)[:3])
    raise CheckpointError(
        f"{path}: not a VSR-Transformer or SPyNet checkpoint: its {len(state)} tensors have other names"
        f" (e.g. {sample}); it is probably the state dict of another network"
    )


# ---------------------------------------------------------------------------- VSR-Transformer


def infer_config(state: dict[str, torch.Tensor], hints: dict[str, Any] | None = None) -> tuple[VSRTConfig, list[str]]:
    """The architecture of an official-style state dict, plus what had to be assumed."""
    hints = {key: value for key, value in (hints or {}).items() if value is not None}
    notes: list[str] = []
    # The bias gives the width as well, so that a file missing only the weight gets the
    # missing-key report that any other missing tensor gets.
    first = state.get("conv_first.weight", state.get("conv_first.bias"))
    channels = int(require(state, "conv_first.weight").shape[0] if first is None else first.shape[0])
    depth = count_indexed(state, r"transformer\.layers\.(\d+)\.")
    if depth == 0:
        raise CheckpointError("no transformer layers (transformer.layers.N.*) in the checkpoint")
    norm = require(state, "transformer.layers.0.0.fn.norm.weight")
    if norm.dim() != 3 or norm.shape[1] != norm.shape[2]:
        raise CheckpointError(f"transformer.layers.0.0.fn.norm.weight has shape {tuple(norm.shape)}, not [C, S, S]")
    tile_size = int(norm.shape[-1])
    upconv = require(state, "upconv1.weight")
    upsample = int(upconv.shape[0]) // 4
    values: dict[str, Any] = dict(
        channels=channels,
        tile_size=tile_size,
        depth=depth,
        extract_blocks=count_indexed(state, r"feature_extraction\.(\d+)\.conv1\.weight$"),
        feedforward_blocks=count_indexed(
            state, r"transformer\.layers\.0\.1\.fn\.fn\.backward_resblocks\.main\.2\.(\d+)\.conv1\.weight$"
        ),
        reconstruct_blocks=count_indexed(state, r"reconstruction\.(\d+)\.conv1\.weight$"),
        upsample_channels=None if upsample == channels else upsample,
    )
    values["num_frames"] = infer_frames(state, depth, hints.get("num_frames"), notes)
    for name, reason in (
        ("patch_size", "the weights do not fix it"),
        ("heads", "the weights do not fix it"),
        ("self_flow", "window ends warped by SPyNet self-flow, as the official code does"),
    ):
        if name in hints:
            values[name] = hints[name]
        else:
            values[name] = getattr(OFFICIAL, name)
            notes.append(f"{name.replace('_', ' ')} {values[name]} assumed (the official value; {reason})")
    try:
        return VSRTConfig(**values), notes
    except ValueError as exc:
        assumed = [note.split(" assumed")[0] for note in notes if " assumed" in note]
        raise CheckpointError(
            f"inconsistent architecture ({exc}) with what was assumed ({'; '.join(assumed)}):"
            " set what the weights do not fix with --frames, --patch-size, --heads or --self-flow"
        ) from None


def infer_frames(state: dict[str, torch.Tensor], depth: int, hinted: int | None, notes: list[str]) -> int:
    """T from the positional encoding's inv_freq (ceil(T / 6) entries), else from depth."""
    inv_freq = state.get(INV_FREQ_KEY)
    if inv_freq is None:
        frames = hinted or depth
        if not hinted:
            notes.append(f"T={frames} assumed (no {INV_FREQ_KEY}; official checkpoints pair T with depth)")
        return int(frames)
    entries = int(inv_freq.numel())
    low, high = 6 * entries - 5, 6 * entries
    if hinted:
        if not low <= hinted <= high:
            raise CheckpointError(f"T={hinted} cannot be: {INV_FREQ_KEY} has {entries} entries, so T is {low}..{high}")
        return int(hinted)
    frames = min(max(depth, low), high)
    reason = "official checkpoints pair T with depth" if frames == depth else f"the nearest to depth {depth}"
    notes.append(f"T={frames} assumed ({INV_FREQ_KEY} allows T={low}..{high}; {reason}; override with --frames)")
    return frames


def require(state: dict[str, torch.Tensor], key: str) -> torch.Tensor:
    if key not in state:
        raise CheckpointError(f"its architecture cannot be read: it has no {key}")
    return state[key]


def count_indexed(state: dict[str, torch.Tensor], pattern: str) -> int:
    """How many consecutive indices 0..n-1 the keys matching ``pattern`` (one group) use."""
    regex = re.compile(pattern)
    found = {int(match.group(1)) for key in state if (match := regex.match(key))}
    count = 0
    while count in found:
        count += 1
    if found and count != len(found):
        raise CheckpointError(f"indices of {pattern!r} are not 0..n-1: {sorted(found)}")
    return count


def complete_vsrt_state(
    state: dict[str, torch.Tensor], config: VSRTConfig
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Map a BasicSR-layout SPyNet inside the model and fill constant buffers the file lacks.

    Only buffers that are fixed functions of the config are filled (SPyNet's ImageNet
    mean/std, the encoding's inv_freq); learned weights are never made up.
    """
    notes = []
    inner = {key[len(SPYNET_PREFIX) :]: value for key, value in state.items() if key.startswith(SPYNET_PREFIX)}
    rest = {key: value for key, value in state.items() if not key.startswith(SPYNET_PREFIX)}
    if inner:
        try:
            mapped = load_basicsr_spynet(inner)
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"its SPyNet part has unexpected keys ({exc})") from None
        if set(mapped) != set(inner):
            notes.append("SPyNet keys converted from the BasicSR layout")
        rest.update({SPYNET_PREFIX + key: value for key, value in mapped.items()})
    for key, value in constant_buffers(config).items():
        if key not in rest:
            rest[key] = value
            notes.append(f"filled the constant buffer {key} (not in the file)")
    return rest, notes


def constant_buffers(config: VSRTConfig) -> dict[str, torch.Tensor]:
    buffers = {SPYNET_PREFIX + key: value for key, value in spynet_normalisation().items()}
    buffers[INV_FREQ_KEY] = FramePositionalEncoding(config.num_frames).penc.inv_freq
    return buffers


def spynet_normalisation() -> dict[str, torch.Tensor]:
    return {
        "mean": torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
        "std": torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
    }


# ---------------------------------------------------------------------------- SPyNet


def spynet_state(state: dict[str, torch.Tensor], path: Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """A SPyNet state dict in this package's layout from mmediting / BasicSR / prefixed keys."""
    prefixes = {match.group("prefix") for key in state if (match := SPYNET_KEY.match(key))}
    if len(prefixes) != 1:
        raise CheckpointError(f"{path}: SPyNet keys with mixed prefixes ({', '.join(sorted(prefixes))})")
    prefix = prefixes.pop()
    stripped = {key[len(prefix) :] if key.startswith(prefix) else key.rsplit(".", 1)[-1]: v for key, v in state.items()}
    try:
        mapped = load_basicsr_spynet(stripped)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: unexpected SPyNet key ({exc})") from None
    notes = [f"stripped the key prefix {prefix!r}"] if prefix else []
    for key, value in spynet_normalisation().items():
        if key not in mapped:
            mapped[key] = value
            notes.append(f"filled the constant buffer {key} (ImageNet normalisation)")
    return mapped, notes


# ---------------------------------------------------------------------------- writing


def import_any(
    src: str | Path,
    dest: str | Path | None = None,
    *,
    config: VSRTConfig | None = None,
    hints: dict[str, Any] | None = None,
    param_key: str | None = None,
    metadata: dict[str, str] | None = None,
    force: bool = False,
    registry: Registry | None = None,
    expect: str | None = None,
) -> ImportReport:
    """Convert ``src`` (VSR-Transformer or SPyNet) into a vsrt safetensors file at ``dest``.

    Without ``dest`` the file goes to the user weights dir under the registry model it
    matches (same architecture for a VSR-Transformer, same file hash for a SPyNet).
    """
    source_path = Path(src)
    if dest is not None and not str(dest).endswith(".safetensors"):
        raise UsageError(f"{dest}: the destination must be a .safetensors file")
    source = read_source(source_path, param_key)
    kind = classify(source.state, source_path)
    if expect is not None and kind != expect:
        raise CheckpointError(f"{source_path}: a {kind} checkpoint, not a {expect}")
    if kind == "spynet":
        model_name = None
        if dest is None:
            model_name, dest = default_destination(kind, None, source.sha256, registry)
        report = write_spynet(source, source_path, Path(dest), metadata, force)
        report.model_name = model_name
        return report
    notes = list(source.notes)
    chosen = config or source.config
    try:
        if chosen is None:
            chosen, assumed = infer_config(source.state, hints)
            notes.extend(assumed)
        state, filled = complete_vsrt_state(source.state, chosen)
    except CheckpointError as exc:
        raise CheckpointError(f"{source_path}: {exc}") from None
    notes.extend(filled)
    model_name = None
    if dest is None:
        model_name, dest = default_destination(kind, chosen, source.sha256, registry)
    dest = Path(dest)
    check_writable(dest, force, source_path)
    model = build_model(chosen, state, source=str(source_path))
    extra = dict(metadata or {})
    extra.setdefault("source_file", source_path.name)
    extra.setdefault("source_sha256", source.sha256)
    extra["source_container"] = source.container
    if notes:
        extra["import_notes"] = "; ".join(notes)
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, dest, metadata=extra)
    return ImportReport(
        kind=kind,
        source=source_path,
        dest=dest,
        source_sha256=source.sha256,
        container=source.container,
        config=chosen,
        model_name=model_name,
        assumptions=notes + source_hash_warnings(model_name, source.sha256, registry),
    )


def write_spynet(
    source: SourceCheckpoint, source_path: Path, dest: Path, metadata: dict[str, str] | None, force: bool
) -> ImportReport:
    state, notes = spynet_state(source.state, source_path)
    model = SPyNet()
    problems = describe_mismatch(model.state_dict(), state)
    if problems:
        raise CheckpointError(f"{source_path}: does not match SPyNet: {problems}")
    model.load_state_dict({key: value.float() for key, value in state.items()}, strict=True)
    check_writable(dest, force, source_path)
    extra = dict(metadata or {})
    extra.setdefault("source_file", source_path.name)
    extra.setdefault("source_sha256", source.sha256)
    extra["source_container"] = source.container
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_spynet(model, dest, metadata=extra)
    return ImportReport(
        kind="spynet",
        source=source_path,
        dest=dest,
        source_sha256=source.sha256,
        container=source.container,
        config=None,
        assumptions=source.notes + notes,
    )


def check_writable(dest: Path, force: bool, source: Path) -> None:
    if dest.exists() and source.exists() and os.path.samefile(source, dest):
        # Also through a link: with -y the only copy of the original would be gone.
        raise OutputError(f"{dest}: refusing to write over the input")
    if dest.exists() and not force:
        raise OutputError(f"{dest}: already exists (use -y/--overwrite to replace it)")


def default_destination(
    kind: str, config: VSRTConfig | None, source_sha256: str, registry: Registry | None
) -> tuple[str, Path]:
    """The registry model an imported file stands for, and its path in the user weights dir."""
    registry = registry or load_registry()
    for entry in registry.entries:
        if entry.kind != kind:
            continue
        source = entry.source
        if kind == "spynet":
            matches = isinstance(source, HubSource) and source.sha256 == source_sha256
        else:
            converts = isinstance(source, ImportSource) or (isinstance(source, HubSource) and source.needs_conversion)
            matches = converts and entry.config == config
        if matches:
            return entry.name, user_weights_dir() / entry.file
    what = "architecture" if kind == "vsr-transformer" else "file"
    raise UsageError(
        f"the checkpoint's {what} matches no registered model, so there is no default destination;"
        " give one: vsrt import-weights SRC DEST.safetensors"
    )


def source_hash_warnings(model_name: str | None, sha256: str, registry: Registry | None) -> list[str]:
    """A warning when an imported file is not the one the registry knows (it still imports:
    a re-saved copy of the official weights is as good as the original)."""
    entry = (registry or load_registry()).find(model_name) if model_name else None
    if entry is None or not isinstance(entry.source, ImportSource):
        return []
    expected = entry.source.sha256
    if expected and expected != sha256:
        return [f"the source's SHA-256 {sha256} differs from the known {expected} for {model_name}"]
    return []
