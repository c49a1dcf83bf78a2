"""A training run's configuration: the JSON file checked in under ``configs/``.

Four sections, each a frozen dataclass whose defaults are the recipe: ``model`` (the
VSRTConfig), ``data`` (where the material is and how clips are cut), ``train`` (loss,
optimiser, schedule, EMA, precision) and ``validation``. Unknown fields are errors, so a
typo cannot silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..inference.ensemble import ENSEMBLE_SIZES
from ..models.vsrt import VSRTConfig
from .degradation import GT_CONTEXT

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

# The clips the validation set is made of. They are never trained on, whatever a config
# says, so that validation numbers stay honest.
HELD_OUT_FILES = ("cityCC0.mpg", "cockatoo.mp4")


@dataclass(frozen=True)
class DataConfig:
    """Where the training material is and how clips are cut from it (GT pixel units)."""

    photos: str | None = None
    videos: str | None = None
    exclude: tuple[str, ...] = HELD_OUT_FILES
    gt_size: int = 256
    # Share of each batch's clips taken from real videos (the rest come from photos).
    video_fraction: float = 0.35
    # A whole number, or a list of them: each photo clip then picks one of these shrinks
    # at random, so the same photos also teach texture seen from further away.
    photo_downscale: int | tuple[int, ...] = 2
    video_downscale: float = 2.0
    # A video too small for gt_size after video_downscale is shrunk less, but never by
    # less than this: below ~1.5x the codec's artefacts survive into the GT.
    min_video_downscale: float = 1.5
    # Camera paths. Speeds are GT pixels per frame (Vid4/REDS motion is mostly 0-3 LR px,
    # i.e. 0-12 GT px, per frame).
    min_speed: float = 0.25
    max_speed: float = 12.0
    max_accel: float = 0.5
    # Source pixels per GT pixel: >= 1, so the renderer never magnifies (which would blur
    # the GT), and small enough that bicubic resampling does not alias.
    min_zoom: float = 1.0
    max_zoom: float = 1.3
    # Per-frame zoom change (log scale) and roll, and the fixed initial tilt, in degrees.
    max_zoom_rate: float = 0.01
    max_spin_deg: float = 0.5
    max_tilt_deg: float = 10.0
    # Many of the photos are mostly out-of-focus background, which teaches nothing: a crop
    # whose mean absolute neighbour difference (uint8 levels) is below min_texture is
    # redrawn, up to texture_tries draws, keeping the most textured one.
    min_texture: float = 3.0
    texture_tries: int = 4
    cache_dir: str | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "DataConfig":
        config = _build(cls, values, "data")
        config.check()
        return config

    def check(self) -> None:
        if self.gt_size < 4 or self.gt_size % 4:
            raise UsageError(f"data.gt_size must be a positive multiple of 4, got {self.gt_size}")
        if not 0.0 <= self.video_fraction <= 1.0:
            raise UsageError("data.video_fraction must be between 0 and 1")
        factors = self.photo_downscales
        if not factors or any(isinstance(f, bool) or not isinstance(f, (int, float)) for f in factors):
            raise UsageError("data.photo_downscale must be a whole number >= 1 or a list of them")
        if any(f < 1 or not float(f).is_integer() for f in factors) or len(set(factors)) != len(factors):
            raise UsageError("data.photo_downscale must be a whole number >= 1 or a list of distinct ones")
        if not 1.0 <= self.min_video_downscale <= self.video_downscale:
            raise UsageError("need 1 <= data.min_video_downscale <= data.video_downscale")
        if not 0 <= self.min_speed <= self.max_speed:
            raise UsageError("need 0 <= data.min_speed <= data.max_speed")
        if not 0 < self.min_zoom <= self.max_zoom:
            raise UsageError("need 0 < data.min_zoom <= data.max_zoom")
        if self.texture_tries < 1:
            raise UsageError("data.texture_tries must be >= 1")

    @property
    def photo_downscales(self) -> tuple[int, ...]:
        """The photo shrinks as a tuple, whether the config gave one number or a list."""
        if isinstance(self.photo_downscale, tuple):
            return self.photo_downscale
        return (self.photo_downscale,)

    @property
    def crop_size(self) -> int:
        """GT pixels cut from a source per side: gt_size plus the resize's context."""
        return self.gt_size + 2 * GT_CONTEXT


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 4
    total_steps: int = 100_000
    lr: float = 3e-4
    min_lr: float = 1e-6
    warmup_steps: int = 300
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    charbonnier_eps: float = 1e-3
    ema_decay: float = 0.999
    grad_clip: float | None = None
    # SPyNet stays frozen by default: fine-tuning it costs a backward pass through 2(T-1)
    # six-level flow pyramids per clip, and the pretrained flows are already good.
    train_flow: bool = False
    # SPyNet's learning rate relative to the network's when it trains: the official
    # recipe uses 0.125, so that the pretrained flows move slowly.
    flow_lr_scale: float = 1.0
    spynet_weights: str | None = None
    # Fine-tuning: the whole network (and its EMA) starts from these weights, a vsrt
    # .safetensors file or another run's last.pt (its EMA weights), instead of at random.
    # The run's model may have more residual blocks per stack than those weights: the
    # added blocks start as identities, so the network starts computing what they did.
    init_weights: str | None = None
    # Distillation: a frozen teacher network (a .safetensors file or a run's last.pt, same
    # architecture) runs each batch as a self-ensemble of teacher_ensemble versions, and
    # the loss adds teacher_weight times the Charbonnier distance to its output: the
    # ensemble's gain, taught to a network that runs once.
    teacher_weights: str | None = None
    teacher_ensemble: int = 4
    teacher_weight: float = 1.0
    seed: int = 0
    # "auto": bf16 autocast only on CPUs with native bf16 (AVX512-BF16/AMX); elsewhere bf16
    # is emulated and slower than fp32.
    bf16: str = "auto"
    log_every: int = 20
    checkpoint_minutes: float = 5.0

    def check(self) -> None:
        if self.batch_size < 1 or self.total_steps < 1:
            raise UsageError("train.batch_size and train.total_steps must be >= 1")
        if not 0 <= self.warmup_steps < self.total_steps:
            raise UsageError("train.warmup_steps must be >= 0 and below train.total_steps")
        if not 0 < self.min_lr <= self.lr:
            raise UsageError("need 0 < train.min_lr <= train.lr")
        if not 0 <= self.ema_decay < 1:
            raise UsageError("train.ema_decay must be in [0, 1)")
        if self.bf16 not in ("auto", "on", "off"):
            raise UsageError("train.bf16 must be auto, on or off")
        if self.teacher_ensemble not in ENSEMBLE_SIZES:
            raise UsageError(f"train.teacher_ensemble must be one of {', '.join(map(str, ENSEMBLE_SIZES))}")
        if self.flow_lr_scale <= 0:
            raise UsageError("train.flow_lr_scale must be > 0")
        if self.teacher_weight < 0:
            raise UsageError("train.teacher_weight must be >= 0")
        if self.log_every < 1 or self.checkpoint_minutes <= 0:
            raise UsageError("train.log_every must be >= 1 and train.checkpoint_minutes > 0")
        if self.grad_clip is not None and not self.grad_clip > 0:
            # clip_grad_norm_ with a negative limit turns every gradient around.
            raise UsageError(f"train.grad_clip must be above 0 (or null: no clipping), got {self.grad_clip}")


@dataclass(frozen=True)
class ValidationConfig:
    dir: str | None = "runs/valset"
    # Where the held-out videos are, to build ``dir`` if it is missing.
    source: str | None = "../shared/data/clips"
    every_steps: int = 1000
    frames: int = 25


@dataclass(frozen=True)
class RunConfig:
    name: str
    model: VSRTConfig
    data: DataConfig
    train: TrainConfig
    validation: ValidationConfig
    notes: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunConfig":
        allowed = {"name", "model", "data", "train", "validation", "notes"}
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise UsageError(f"unknown config sections: {', '.join(unknown)}")
        if not isinstance(raw.get("name"), str) or not raw["name"]:
            raise UsageError("the config needs a non-empty \"name\"")
        try:
            model = VSRTConfig.from_dict(raw.get("model", {}))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"model config: {exc}") from None
        train = _build(TrainConfig, raw.get("train", {}), "train")
        train.check()
        validation = _build(ValidationConfig, raw.get("validation", {}), "validation")
        if validation.every_steps < 0 or validation.frames < 1:
            raise UsageError("validation.every_steps must be >= 0 (0: never) and validation.frames >= 1")
        data = DataConfig.from_dict(raw.get("data", {}))
        # A training clip's LR frames (gt_size / 4) go into the network whole, and it takes
        # exactly tile_size x tile_size: any other size fails only at the first step, after
        # minutes of data preparation.
        if data.gt_size != 4 * model.tile_size:
            raise UsageError(
                f"data.gt_size must be 4 x model.tile_size = {4 * model.tile_size}"
                f" (the network takes {model.tile_size}x{model.tile_size} LR crops), got {data.gt_size}"
            )
        return cls(
            name=raw["name"],
            model=model,
            data=data,
            train=train,
            validation=validation,
            notes=tuple(raw.get("notes", ())),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "notes": list(self.notes),
            "model": dataclasses.asdict(self.model),
            "data": _jsonable(dataclasses.asdict(self.data)),
            "train": _jsonable(dataclasses.asdict(self.train)),
            "validation": dataclasses.asdict(self.validation),
        }


def _build(cls, values: dict[str, Any], section: str):
    if not isinstance(values, dict):
        raise UsageError(f"config section {section!r} must be an object of fields, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UsageError(f"unknown {section} config fields: {', '.join(unknown)}")
    for name, value in values.items():
        # Annotations are strings here (postponed evaluation): "int", "float | None", ...
        wanted = str(fields[name].type)
        if not _matches(value, wanted):
            raise UsageError(f"{section}.{name} must be {_in_words(wanted)}, got {json.dumps(value)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**values)


def _matches(value: Any, annotation: str) -> bool:
    """Whether a JSON value fits a simple annotation: int, float, str, bool, None, tuple[X, ...],
    tuple[X, Y] and unions of them (the only kinds the config dataclasses use)."""
    for option in (part.strip() for part in annotation.split(" | ")):
        if option == "None" and value is None:
            return True
        if option == "bool" and isinstance(value, bool):
            return True
        if option == "int" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if option == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if option == "str" and isinstance(value, str):
            return True
        if option.startswith("tuple[") and isinstance(value, (list, tuple)):
            inner = option[len("tuple[") : -1]
            if inner.endswith(", ..."):
                if all(_matches(item, inner[: -len(", ...")]) for item in value):
                    return True
            else:
                kinds = [kind.strip() for kind in inner.split(",")]
                if len(kinds) == len(value) and all(_matches(item, kind) for item, kind in zip(value, kinds)):
                    return True
    return False


def _in_words(annotation: str) -> str:
    words = {"int": "a whole number", "float": "a number", "str": "a string", "bool": "true or false", "None": "null"}
    options = []
    for option in (part.strip() for part in annotation.split(" | ")):
        if option.startswith("tuple["):
            inner = option[len("tuple[") : -1]
            plural = {"int": "whole numbers", "float": "numbers", "str": "strings"}
            options.append(
                f"a list of {plural.get(inner[:-5], inner[:-5])}"
                if inner.endswith(", ...")
                else f"a list of {len(inner.split(','))} numbers"
            )
        else:
            options.append(words.get(option, option))
    return " or ".join(options)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def resolve_config_path(spec: str | os.PathLike[str]) -> Path:
    """A config file path, or the name of a bundled config (``vsrt-small``)."""
    path = Path(spec)
    if path.is_file():
        return path
    bundled = CONFIG_DIR / f"{path.name}.json" if path.suffix != ".json" else CONFIG_DIR / path.name
    if bundled.is_file() and len(path.parts) == 1:
        return bundled
    names = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))
    raise UsageError(f"{spec}: no such config file (bundled configs: {names})")


def load_config(spec: str | os.PathLike[str]) -> RunConfig:
    path = resolve_config_path(spec)
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable JSON config ({exc})") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: the config must be a JSON object")
    return RunConfig.from_dict(raw)
