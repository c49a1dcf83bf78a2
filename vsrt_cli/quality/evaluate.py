"""``vsrt eval``: score a model (and the bicubic baseline) on x4 BI clips.

The protocol follows the official VSRT test (spec section 4.3):

* LR frames are either given (same clip names/frame order as the GT) or made
  from the GT with MATLAB bicubic x1/4 and rounding to uint8 (the "BI"
  degradation). Generated LR needs GT sides divisible by 4, so the GT is
  cropped to a multiple of 4 first (BasicSR's ``mod_crop``).
* Every frame of every clip is scored, border frames included.
* Outputs are clamped/rounded to uint8 like ``tensor2img`` before scoring.
* Y-channel PSNR/SSIM are always computed; RGB ones only on request (REDS4 is
  reported in RGB, Vid4 and Vimeo in Y).
* Aggregation: mean over the frames of each clip, then mean over clips - not
  the mean over all frames, which would weight long clips more.

The bicubic baseline is x4 MATLAB bicubic of the uint8 LR, rounded to uint8 the
way MATLAB does; on Vid4 BIx4 it should reproduce the literature's 23.78 dB (Y).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, UsageError
from .clips import Clip, discover_clips, pair_lr_clips
from .imresize import bicubic_downscale_uint8, imresize_np, round_to_uint8
from .metrics import prepare_for_metric, psnr_planes, ssim_planes, to_uint8

__all__ = ["SCALE", "ClipScore", "EvalReport", "evaluate", "bicubic_baseline_report"]

SCALE = 4

ProgressCallback = Callable[[str, int, "int | None"], None]
"""Called as ``progress(clip_name, frames_scored, total_frames_or_None)``."""

_SR_METRICS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")


@dataclass
class ClipScore:
    """Per-clip means (over its frames). Model fields are None in bicubic-only runs."""

    name: str
    frames: int
    gt_size: tuple[int, int]  # (height, width) actually scored
    lr_size: tuple[int, int]
    psnr_y: float | None
    ssim_y: float | None
    psnr_rgb: float | None
    ssim_rgb: float | None
    bicubic_psnr_y: float
    bicubic_ssim_y: float
    bicubic_psnr_rgb: float | None
    bicubic_ssim_rgb: float | None
    gt_cropped: bool = False  # GT trimmed to a multiple of 4 to make the LR
    model_seconds: float | None = None
    per_frame: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class EvalReport:
    clips: list[ClipScore]
    means: dict[str, float | None]  # mean of the per-clip means
    model: str | None
    settings: dict[str, Any]

    @property
    def frames(self) -> int:
        return sum(c.frames for c in self.clips)

    def to_dict(self, per_frame: bool = True) -> dict[str, Any]:
        """JSON-ready dict; non-finite numbers (PSNR of identical frames) become null."""
        clips = []
        for clip in self.clips:
            d = asdict(clip)
            d["gt_size"] = list(clip.gt_size)
            d["lr_size"] = list(clip.lr_size)
            if not per_frame:
                d.pop("per_frame")
            clips.append(d)
        return _finite_or_none({
            "model": self.model,
            "settings": self.settings,
            "frames": self.frames,
            "means": self.means,
            "clips": clips,
        })


def _finite_or_none(obj: Any) -> Any:
    # JSON has no inf/nan; null keeps the file parseable by strict readers.
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


def _mod_crop(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    return frame[: h - h % SCALE, : w - w % SCALE]


def _mean(values: list[float]) -> float:
    # math.fsum keeps long clips exact; an inf (identical frame) stays inf.
    return math.fsum(values) / len(values)


def _load_lr(gt: Clip, lr: Clip | None, max_frames: int | None) -> tuple[list[np.ndarray], bool]:
    """LR frames of one clip as uint8, and whether the GT had to be mod-cropped."""
    frames: list[np.ndarray] = []
    gt_sizes: list[tuple[int, int]] = []  # to name the user's frames in errors, not those made here
    cropped = False
    if lr is not None:
        for frame in lr.frames(max_frames):
            frames.append(frame)
    else:
        for frame in gt.frames(max_frames):
            gt_sizes.append(frame.shape[:2])
            trimmed = _mod_crop(frame)
            cropped = cropped or trimmed.shape != frame.shape
            if trimmed.shape[0] == 0 or trimmed.shape[1] == 0:
                raise InputError(
                    f"clip {gt.name}: a {frame.shape[1]}x{frame.shape[0]} frame is too small for x{SCALE}"
                )
            frames.append(bicubic_downscale_uint8(trimmed, SCALE))
    if not frames:
        raise InputError(f"clip {gt.name}: no frames")
    shape = frames[0].shape
    for i, f in enumerate(frames):
        if f.shape != shape:
            kind, (height, width), (first_h, first_w) = (
                ("GT", gt_sizes[i], gt_sizes[0]) if gt_sizes else ("LR", f.shape[:2], shape[:2])
            )
            raise InputError(f"clip {gt.name}: {kind} frame {i} is {width}x{height}, frame 0 is {first_w}x{first_h}")
    return frames, cropped


PROTOCOLS = ("vsrt", "official")


class _TimedFrames:
    """Iterates the model's output frames and accumulates the time spent producing them."""

    def __init__(self, model: Any, lr_frames: list[np.ndarray], options: Any, protocol: str = "vsrt") -> None:
        from ..inference import InferenceOptions, choose_precision, resolve_device, upscale_stream
        from ..inference.official import upscale_clip_official

        opts = options if options is not None else InferenceOptions()
        # Converted lazily so only the frames inside the current window exist in float32.
        inputs = (f.astype(np.float32) / np.float32(255.0) for f in lr_frames)
        self.seconds = 0.0
        if protocol == "official":
            # It computes the whole clip at once, so that is the time to count.
            device = resolve_device(opts.device)
            precision = choose_precision(device, opts.precision)
            start = time.perf_counter()
            self._outputs = iter(upscale_clip_official(model, list(inputs), device, precision))
            self.seconds = time.perf_counter() - start
        else:
            self._outputs = iter(upscale_stream(model, inputs, opts))

    def next_frame(self) -> np.ndarray | None:
        start = time.perf_counter()
        try:
            return next(self._outputs, None)
        finally:
            self.seconds += time.perf_counter() - start


def _score_clip(
    gt: Clip,
    lr: Clip | None,
    model: Any,
    options: Any,
    crop_border: int,
    rgb: bool,
    max_frames: int | None,
    progress: ProgressCallback | None,
    protocol: str = "vsrt",
) -> ClipScore:
    lr_frames, cropped = _load_lr(gt, lr, max_frames)
    lr_h, lr_w = lr_frames[0].shape[:2]
    total = len(lr_frames)
    if progress:
        progress(gt.name, 0, total)

    # The model consumes the LR list while GT is streamed a second time, so
    # memory holds the LR clip, the model's window and one GT frame.
    sr_stream = _TimedFrames(model, lr_frames, options, protocol) if model is not None else None

    per_frame: dict[str, list[float]] = {}

    def record(key: str, value: float) -> None:
        per_frame.setdefault(key, []).append(value)

    modes = [("y", True)] + ([("rgb", False)] if rgb else [])
    scored = 0
    gt_shape: tuple[int, int] = (lr_h * SCALE, lr_w * SCALE)
    for i, gt_frame in enumerate(gt.frames(max_frames)):
        if i >= total:
            raise InputError(f"clip {gt.name}: more GT frames than the {total} LR frames")
        if lr is None:
            gt_frame = _mod_crop(gt_frame)
        if gt_frame.shape[:2] != gt_shape:
            raise InputError(
                f"clip {gt.name}: GT frame {i} is {gt_frame.shape[1]}x{gt_frame.shape[0]} but "
                f"LR x{SCALE} is {gt_shape[1]}x{gt_shape[0]}"
            )
        bicubic = round_to_uint8(imresize_np(lr_frames[i], SCALE))
        sr = None
        if sr_stream is not None:
            out = sr_stream.next_frame()
            if out is None:
                raise RuntimeError(f"clip {gt.name}: inference returned fewer frames than inputs")
            out = np.asarray(out)
            if out.shape != (gt_shape[0], gt_shape[1], 3):
                raise RuntimeError(
                    f"clip {gt.name}: inference returned a {out.shape} frame, expected {gt_shape + (3,)}"
                )
            sr = to_uint8(out)
        for suffix, y_channel in modes:
            ref = prepare_for_metric(gt_frame, crop_border, y_channel)
            bic = prepare_for_metric(bicubic, crop_border, y_channel)
            record(f"bicubic_psnr_{suffix}", psnr_planes(ref, bic))
            record(f"bicubic_ssim_{suffix}", ssim_planes(ref, bic))
            if sr is not None:
                out_planes = prepare_for_metric(sr, crop_border, y_channel)
                record(f"psnr_{suffix}", psnr_planes(ref, out_planes))
                record(f"ssim_{suffix}", ssim_planes(ref, out_planes))
        scored += 1
        if progress:
            progress(gt.name, scored, total)
    if scored != total:
        raise InputError(f"clip {gt.name}: {scored} GT frames but {total} LR frames")

    means = {k: _mean(v) for k, v in per_frame.items()}
    return ClipScore(
        name=gt.name,
        frames=scored,
        gt_size=gt_shape,
        lr_size=(lr_h, lr_w),
        psnr_y=means.get("psnr_y"),
        ssim_y=means.get("ssim_y"),
        psnr_rgb=means.get("psnr_rgb"),
        ssim_rgb=means.get("ssim_rgb"),
        bicubic_psnr_y=means["bicubic_psnr_y"],
        bicubic_ssim_y=means["bicubic_ssim_y"],
        bicubic_psnr_rgb=means.get("bicubic_psnr_rgb"),
        bicubic_ssim_rgb=means.get("bicubic_ssim_rgb"),
        gt_cropped=cropped,
        model_seconds=sr_stream.seconds if sr_stream is not None else None,
        per_frame=per_frame,
    )


def _model_name(model: Any) -> str | None:
    if model is None:
        return None
    for attr in ("name", "model_name"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def evaluate(
    gt_dir: Path | str,
    lr_dir: Path | str | None = None,
    model: Any = None,
    *,
    crop_border: int = 0,
    rgb: bool = False,
    inference_options: Any = None,
    max_frames: int | None = None,
    progress: ProgressCallback | None = None,
    model_name: str | None = None,
    protocol: str = "vsrt",
) -> EvalReport:
    """Score ``model`` (an ``nn.Module``, or None for bicubic only) on every clip in ``gt_dir``.

    ``model_name`` labels the report (default: the model's ``name`` attribute or class).
    ``protocol`` is ``vsrt`` (the windows and tiles ``vsrt upscale`` uses) or ``official``
    (one window per frame, 64x64 crops at stride 32, centre frame only; see
    :mod:`vsrt_cli.inference.official`).

    Raises UsageError when ``gt_dir`` holds no clips or an argument is invalid,
    and InputError for unreadable frames or LR/GT that do not correspond.
    """
    if crop_border < 0:
        raise UsageError(f"--crop-border must be >= 0, got {crop_border}")
    if protocol not in PROTOCOLS:
        raise UsageError(f"--protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if protocol == "official" and getattr(inference_options, "ensemble", 1) > 1:
        raise UsageError("--ensemble applies to the vsrt protocol; the official one runs each crop once")
    if max_frames is not None and max_frames < 1:
        raise UsageError(f"--max-frames must be >= 1, got {max_frames}")
    gt_clips = discover_clips(gt_dir)
    lr_for = pair_lr_clips(gt_clips, lr_dir) if lr_dir is not None else {}

    scores: list[ClipScore] = []
    for clip in gt_clips:
        try:
            score = _score_clip(
                clip, lr_for.get(clip.name), model, inference_options, crop_border, rgb, max_frames, progress, protocol
            )
        except ValueError as exc:
            # Metric helpers raise ValueError for size problems such as a
            # crop border that leaves nothing; report them against the clip.
            raise InputError(f"clip {clip.name}: {exc}") from exc
        scores.append(score)

    keys = ["bicubic_psnr_y", "bicubic_ssim_y"]
    if rgb:
        keys += ["bicubic_psnr_rgb", "bicubic_ssim_rgb"]
    if model is not None:
        keys += [k for k in _SR_METRICS if rgb or k.endswith("_y")]
    means: dict[str, float | None] = {}
    for key in keys:
        values = [getattr(s, key) for s in scores]
        means[key] = None if any(v is None for v in values) else _mean(values)

    settings: dict[str, Any] = {
        "scale": SCALE,
        "crop_border": crop_border,
        "rgb": rgb,
        "max_frames": max_frames,
        "gt_dir": str(gt_dir),
        "lr_source": str(lr_dir) if lr_dir is not None else "bicubic x1/4 of GT (MATLAB, uint8)",
        "aggregation": "mean over frames per clip, then mean over clips",
        "protocol": protocol,
    }
    if model is not None and inference_options is not None:
        settings["inference_options"] = _options_dict(inference_options)
        # What "auto" became on this machine, as the upscale summary and bench report it.
        from ..inference import choose_precision, resolve_device

        device = resolve_device(inference_options.device)
        settings["device"] = str(device)
        settings["precision"] = choose_precision(device, inference_options.precision)
    label = (model_name or _model_name(model)) if model is not None else None
    return EvalReport(clips=scores, means=means, model=label, settings=settings)


def _options_dict(options: Any) -> Any:
    try:
        raw = asdict(options)
    except TypeError:
        return repr(options)
    return {k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v)) for k, v in raw.items()}


def bicubic_baseline_report(
    gt_dir: Path | str,
    lr_dir: Path | str | None = None,
    *,
    crop_border: int = 0,
    rgb: bool = False,
    max_frames: int | None = None,
    progress: ProgressCallback | None = None,
) -> EvalReport:
    """Bicubic x4 numbers only (e.g. Vid4 BIx4 should give 23.78 dB / 0.6347 in Y)."""
    return evaluate(gt_dir, lr_dir, None, crop_border=crop_border, rgb=rgb, max_frames=max_frames, progress=progress)
