"""The held-out validation set: two real clips written as a Vid4-style PNG folder.

    OUT_DIR/GT/<clip>/00000000.png ...    ground truth (uint8 RGB)
    OUT_DIR/BIx4/<clip>/00000000.png ...  MATLAB-bicubic x1/4 of the GT, rounded (BI)
    OUT_DIR/manifest.json                 sources, checksums, crops, frame ranges

The training loop scores its EMA weights with the same ``evaluate`` that ``vsrt eval``
runs, on these files, so ``vsrt eval OUT_DIR/GT --weights runs/<name>/best.safetensors``
reproduces the logged numbers. Build it with ``python -m vsrt_cli.training.validation
OUT_DIR`` (or ``vsrt train --prepare-val OUT_DIR``); the result depends only on the source
files, so a rebuild gives the same pixels.

The GT is each source frame shrunk with MATLAB bicubic, to wash out codec artefacts:
cockatoo 2x (1280x720 -> 640x360); cityCC0 only 1.5x (720x405 -> 480x270), because 2x would
leave 202 rows, i.e. an LR frame of 50 rows, below the network's 64-row tile. Both are then
centre-cropped to about 480x270 (sides divisible by 4, so the LR is exact) to keep CPU
validation short: 120x67 and 120x68 LR, 25 frames each, from the middle of each video.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..quality.clips import write_png
from ..quality.imresize import bicubic_downscale_uint8
from .config import HELD_OUT_FILES
from .data import decode_video
from .degradation import shrink

DEFAULT_SOURCE = Path("../shared/data/clips")
FRAMES_PER_CLIP = 25
FORMAT_VERSION = 1


@dataclass(frozen=True)
class HeldOutClip:
    name: str  # the clip's folder name
    file: str  # the source video, in the clips folder
    shrink: float  # the GT is the source frame shrunk by this factor
    crop: tuple[int, int]  # GT width, height (centre crop, multiples of 4)
    start: int  # first decoded frame used


HELD_OUT = (
    HeldOutClip("city", "cityCC0.mpg", 1.5, (480, 268), 80),
    HeldOutClip("cockatoo", "cockatoo.mp4", 2.0, (480, 272), 120),
)
assert tuple(c.file for c in HELD_OUT) == HELD_OUT_FILES


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def centre_crop(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    rows, cols = frame.shape[:2]
    if rows < height or cols < width:
        raise InputError(f"a {cols}x{rows} frame is smaller than the {width}x{height} crop")
    top, left = (rows - height) // 2, (cols - width) // 2
    return np.ascontiguousarray(frame[top : top + height, left : left + width])


def held_out_frames(source: Path, clip: HeldOutClip, frames: int = FRAMES_PER_CLIP) -> list[np.ndarray]:
    """The clip's GT frames: ``frames`` consecutive decodable frames from ``clip.start``,
    shrunk and centre-cropped."""
    out: list[np.ndarray] = []
    segment_of_first = None
    for index, (segment, frame) in enumerate(decode_video(source / clip.file, clip.start + frames)):
        if index < clip.start:
            continue
        if segment_of_first is None:
            segment_of_first = segment
        elif segment != segment_of_first:
            raise InputError(f"{clip.file}: frames {clip.start}..{clip.start + frames - 1} are not all decodable")
        out.append(centre_crop(shrink(frame, clip.shrink), *clip.crop))
    if len(out) < frames:
        raise InputError(f"{clip.file}: only {len(out)} of {frames} frames from {clip.start} decode")
    return out


def check_sources(source: Path | str, clips: tuple[HeldOutClip, ...] = HELD_OUT) -> None:
    """Raise InputError unless every clip's video is in ``source``."""
    source = Path(source)
    missing = [c.file for c in clips if not (source / c.file).is_file()]
    if missing:
        raise InputError(f"held-out source videos not found in {source}: {', '.join(missing)}")


def build_validation_set(
    out_dir: Path | str,
    source: Path | str = DEFAULT_SOURCE,
    frames: int = FRAMES_PER_CLIP,
    clips: tuple[HeldOutClip, ...] = HELD_OUT,
) -> dict[str, Any]:
    """(Re)write the validation set of ``clips`` under ``out_dir``; returns its manifest.

    Built in a sibling folder and swapped in, so an interrupted build never leaves a
    half-written set that a training run would then score against.
    """
    out_dir, source = Path(out_dir), Path(source)
    check_sources(source, clips)
    staging = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    manifest: dict[str, Any] = {
        "format": "vsrt-validation",
        "version": FORMAT_VERSION,
        "layout": "GT/<clip>/%08d.png and BIx4/<clip>/%08d.png (MATLAB bicubic x1/4 of GT, uint8)",
        "clips": [],
    }
    for clip in clips:
        gt_frames = held_out_frames(source, clip, frames)
        for sub in ("GT", "BIx4"):
            (staging / sub / clip.name).mkdir(parents=True, exist_ok=True)
        for i, gt in enumerate(gt_frames):
            write_png(staging / "GT" / clip.name / f"{i:08d}.png", gt)
            write_png(staging / "BIx4" / clip.name / f"{i:08d}.png", bicubic_downscale_uint8(gt, 4))
        manifest["clips"].append(
            {
                **asdict(clip),
                "frames": len(gt_frames),
                "source_sha256": _sha256(source / clip.file),
                "gt_size": list(clip.crop),
                "lr_size": [clip.crop[0] // 4, clip.crop[1] // 4],
            }
        )
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)
    return manifest


def validation_set_ready(
    out_dir: Path | str, frames: int = FRAMES_PER_CLIP, clips: tuple[HeldOutClip, ...] = HELD_OUT
) -> bool:
    """True if ``out_dir`` holds a complete set of ``clips`` in this format, ``frames`` each."""
    out_dir = Path(out_dir)
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("format") != "vsrt-validation" or manifest.get("version") != FORMAT_VERSION:
        return False
    names = [c.get("name") for c in manifest.get("clips", [])]
    if names != [c.name for c in clips]:
        return False
    for clip in manifest["clips"]:
        if clip.get("frames") != frames:
            return False
        for sub in ("GT", "BIx4"):
            if len(list((out_dir / sub / clip["name"]).glob("*.png"))) != frames:
                return False
    return True


def score_model(model: Any, val_dir: Path | str, inference_options: Any = None) -> dict[str, Any]:
    """Score ``model`` on the set exactly as ``vsrt eval VAL/GT --lr VAL/BIx4`` does.

    Returns the means (psnr_y, ssim_y, bicubic_psnr_y, bicubic_ssim_y) and per-clip values.
    """
    from ..inference import InferenceOptions
    from ..quality.evaluate import evaluate

    val_dir = Path(val_dir)
    options = inference_options if inference_options is not None else InferenceOptions(device="cpu")
    report = evaluate(val_dir / "GT", val_dir / "BIx4", model, inference_options=options)
    result: dict[str, Any] = {k: v for k, v in report.means.items()}
    result["clips"] = {
        clip.name: {"psnr_y": clip.psnr_y, "ssim_y": clip.ssim_y, "bicubic_psnr_y": clip.bicubic_psnr_y}
        for clip in report.clips
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vsrt_cli.training.validation",
        description="Write the held-out validation clips (cityCC0, cockatoo) as GT/ and BIx4/ PNG folders.",
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help=f"folder with the videos (default {DEFAULT_SOURCE})")
    parser.add_argument("--frames", type=int, default=FRAMES_PER_CLIP, help="frames per clip")
    args = parser.parse_args(argv)
    try:
        manifest = build_validation_set(args.out_dir, args.source, args.frames)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for clip in manifest["clips"]:
        print(f"{clip['name']}: {clip['frames']} frames, GT {clip['gt_size'][0]}x{clip['gt_size'][1]} -> {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
