"""Evaluation clips: folders of frames (Vid4/REDS layout) or video files, read lazily.

A ground-truth directory holds one sub-folder of image frames per clip, or video
files, or both. A directory that directly contains frames (and no clip
sub-folders) is itself one clip, and so is a single video file. Frames are
decoded on demand so a clip never has to sit in memory at full resolution.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from ..errors import InputError, OutputError, UsageError
from ..video import VideoReader
from .metrics import to_uint8

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Clip",
    "discover_clips",
    "pair_lr_clips",
    "read_image",
    "write_png",
]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".ts", ".y4m", ".mpg", ".mpeg"})


def _natural_key(name: str) -> list[object]:
    # Frame names such as im1..im10 or 0..99 without zero padding must sort
    # numerically, or the temporal order (and so every window) is scrambled.
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".")


def read_image(path: Path | str) -> np.ndarray:
    """Decode one image file to HxWx3 uint8 RGB (alpha dropped, grey expanded).

    A 16-bit image becomes round(v / 257), as MATLAB's im2uint8 maps 0..65535 to 0..255;
    swscale's own 16-to-8-bit step differs by one code for about half of the pixels.
    """
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                if max(component.bits for component in frame.format.components) > 8:
                    deep = frame.to_ndarray(format="rgb48le").astype(np.float64)
                    return np.round(deep / 257.0).astype(np.uint8)
                return frame.to_ndarray(format="rgb24")
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise InputError(f"cannot read frame {path}: {exc}") from exc
    raise InputError(f"cannot read frame {path}: no image data")


def write_png(path: Path | str, rgb: np.ndarray) -> None:
    """Encode HxWx3 uint8 RGB as a lossless PNG."""
    arr = np.ascontiguousarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"write_png expects HxWx3 uint8, got {arr.dtype} {arr.shape}")
    try:
        with av.open(str(path), mode="w", format="image2") as container:
            stream = container.add_stream("png")
            stream.width = arr.shape[1]
            stream.height = arr.shape[0]
            stream.pix_fmt = "rgb24"
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    except (av.FFmpegError, OSError) as exc:
        raise OutputError(f"cannot write {path}: {exc}") from exc


@dataclass(frozen=True)
class Clip:
    """One evaluation clip: an ordered folder of frames, or a video file."""

    name: str
    path: Path
    frame_paths: tuple[Path, ...] = field(default=())

    @property
    def is_video(self) -> bool:
        return not self.frame_paths

    @property
    def frame_count(self) -> int | None:
        """Number of frames when known without decoding (frame folders only)."""
        return None if self.is_video else len(self.frame_paths)

    def frames(self, max_frames: int | None = None) -> Iterator[np.ndarray]:
        """Yield HxWx3 uint8 RGB frames in temporal order, at most ``max_frames``."""
        if max_frames is not None and max_frames <= 0:
            return
        if self.is_video:
            yield from self._video_frames(max_frames)
            return
        paths = self.frame_paths if max_frames is None else self.frame_paths[:max_frames]
        for p in paths:
            yield read_image(p)

    def _video_frames(self, max_frames: int | None) -> Iterator[np.ndarray]:
        # The reader `vsrt upscale` uses, so a clip is scored on the same RGB (same
        # colour matrix and range) that the upscaler would be given.
        with VideoReader(self.path) as reader:
            for count, frame in enumerate(reader, start=1):
                yield to_uint8(frame.rgb)
                if max_frames is not None and count >= max_frames:
                    return


def _frames_in(folder: Path) -> tuple[Path, ...]:
    return tuple(sorted((p for p in folder.iterdir() if _is_image(p)), key=lambda p: _natural_key(p.name)))


def discover_clips(root: Path | str) -> list[Clip]:
    """Find the clips under ``root`` (see module docstring), sorted by name."""
    root = Path(root)
    if not root.exists():
        raise InputError(f"{root} does not exist")
    if root.is_file():
        if _is_video(root):
            return [Clip(root.stem, root)]
        raise UsageError(f"{root} is neither a clip directory nor a video file")
    try:
        entries = sorted(root.iterdir(), key=lambda p: _natural_key(p.name))
    except OSError as exc:
        raise InputError(f"cannot list {root}: {exc}") from exc

    clips: list[Clip] = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            frames = _frames_in(entry)
            if frames:
                clips.append(Clip(entry.name, entry, frames))
        elif _is_video(entry):
            clips.append(Clip(entry.stem, entry))
    if not clips:
        own_frames = _frames_in(root)
        if own_frames:
            clips.append(Clip(root.name, root, own_frames))
    if not clips:
        raise UsageError(
            f"no clips found in {root}: expected sub-folders of image frames, video files, or image frames"
        )
    names = [c.name for c in clips]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"{root} has several clips named {', '.join(dupes)} (a folder and a video?)")
    return clips


def pair_lr_clips(gt_clips: list[Clip], lr_root: Path | str) -> dict[str, Clip]:
    """Match each GT clip to the LR clip of the same name under ``lr_root``."""
    lr_clips = {c.name: c for c in discover_clips(lr_root)}
    # A single-clip GT given as a frame folder pairs with a single-clip LR
    # folder even when the two folder names differ (e.g. GT/ and BIx4/).
    if len(gt_clips) == 1 and len(lr_clips) == 1 and gt_clips[0].name not in lr_clips:
        return {gt_clips[0].name: next(iter(lr_clips.values()))}
    missing = [c.name for c in gt_clips if c.name not in lr_clips]
    if missing:
        raise InputError(f"no LR clip in {lr_root} for: {', '.join(missing)}")
    paired: dict[str, Clip] = {}
    for gt in gt_clips:
        lr = lr_clips[gt.name]
        if gt.frame_count is not None and lr.frame_count is not None and gt.frame_count != lr.frame_count:
            raise InputError(f"clip {gt.name}: {gt.frame_count} GT frames but {lr.frame_count} LR frames")
        paired[gt.name] = lr
    return paired
