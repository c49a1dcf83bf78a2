"""Training clips: (LR, GT) windows of T frames made from photos and from real videos.

Both sources start from lossy material (JPEG photos, H.264/MPEG videos), so every source is
first shrunk (2x by default) with MATLAB bicubic: the shrink averages away most codec
artefacts, which the network would otherwise learn to reproduce as "detail".

* Photos become clips by moving a crop window along a smooth random camera path
  (translation with a little acceleration, a slow zoom and a slow roll, all sub-pixel), and
  rendering every frame with ``grid_sample``. This gives exactly known, realistic global
  motion on high-quality content, which the few real videos cannot supply in quantity.
* Videos give T consecutive decoded frames and a random crop: real motion, occlusion and
  parallax that no affine path produces.

LR = MATLAB-bicubic x1/4 of the GT, rounded to uint8 levels (the standard "BI"
degradation of Vid4/REDS/Vimeo). Augmentation: flips, transposition (with the flips, all
eight 90-degree rotations/reflections) and temporal reversal.

Everything decoded is cached once as uint8 ``.npy`` files (memory-mapped afterwards), so a
resumed run starts in seconds. Sampling is a pure function of (seed, step): a resumed run
draws exactly the batches an uninterrupted run would have drawn, with no sampler state.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError, UsageError
from ..quality.clips import read_image
from ..quality.imresize import imresize

# The clips the validation set is made of. They are never trained on, whatever a config
# says, so that validation numbers stay honest.
HELD_OUT_FILES = ("cityCC0.mpg", "cockatoo.mp4")

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".y4m")
# Bump when the cached arrays would come out differently, so stale caches are not reused.
CACHE_VERSION = 1
# MATLAB's antialiased cubic x1/4 reaches 6 GT pixels beyond a pixel's footprint, so the
# 2 outer LR pixels of a resized crop see mirrored GT instead of the scene. Clips are cut
# this much larger on every side and the margin dropped after the resize, so training LR
# is what an interior tile of a whole degraded frame looks like.
LR_CONTEXT = 2
GT_CONTEXT = 4 * LR_CONTEXT


@dataclass(frozen=True)
class DataConfig:
    """Where the training material is and how clips are cut from it (GT pixel units)."""

    photos: str | None = None
    videos: str | None = None
    exclude: tuple[str, ...] = HELD_OUT_FILES
    gt_size: int = 256
    # Share of each batch's clips taken from real videos (the rest come from photos).
    video_fraction: float = 0.35
    photo_downscale: int = 2
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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"unknown data config fields: {', '.join(unknown)}")
        values = dict(values)
        if "exclude" in values:
            values["exclude"] = tuple(values["exclude"])
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        if self.gt_size % 4:
            raise UsageError(f"data.gt_size must be a multiple of 4, got {self.gt_size}")
        if not 0.0 <= self.video_fraction <= 1.0:
            raise UsageError("data.video_fraction must be between 0 and 1")
        if self.photo_downscale < 1 or int(self.photo_downscale) != self.photo_downscale:
            raise UsageError("data.photo_downscale must be a whole number >= 1")
        if not 1.0 <= self.min_video_downscale <= self.video_downscale:
            raise UsageError("need 1 <= data.min_video_downscale <= data.video_downscale")
        if not 0 <= self.min_speed <= self.max_speed:
            raise UsageError("need 0 <= data.min_speed <= data.max_speed")
        if not 0 < self.min_zoom <= self.max_zoom:
            raise UsageError("need 0 < data.min_zoom <= data.max_zoom")
        if self.texture_tries < 1:
            raise UsageError("data.texture_tries must be >= 1")

    @property
    def crop_size(self) -> int:
        """GT pixels cut from a source per side: gt_size plus the resize's context."""
        return self.gt_size + 2 * GT_CONTEXT


# -- decoding and shrinking -------------------------------------------------------------


def decode_video(path: Path, max_frames: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (segment, frame) for every frame of ``path`` that decodes, in order.

    Unlike ``VideoReader`` this keeps FFmpeg's own RGB conversion and reports where the
    damage is: the training cache and the held-out validation frames must stay byte-for-byte
    what earlier runs were trained and measured on.

    A damaged packet is skipped instead of ending the video; ``segment`` counts the breaks
    seen so far, so callers can tell that the frames on either side of one are not
    consecutive in time and must not share a training window.
    """
    segment = 0
    produced = 0
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise InputError(f"cannot open video {path}: {exc}") from exc
    with container:
        if not container.streams.video:
            raise InputError(f"{path} has no video stream")
        stream = container.streams.video[0]
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except (av.FFmpegError, OSError):
                # The demuxer itself lost sync; what it already returned stays usable.
                break
            try:
                frames = packet.decode()
            except (av.FFmpegError, ValueError):
                segment += 1
                continue
            for frame in frames:
                try:
                    rgb = frame.to_ndarray(format="rgb24")
                except (av.FFmpegError, ValueError):
                    segment += 1
                    continue
                yield segment, rgb
                produced += 1
                if max_frames is not None and produced >= max_frames:
                    return


def round_levels(x: torch.Tensor) -> torch.Tensor:
    """Values in 0..255 (float) to the nearest integer level: saturate, then round half up,
    as MATLAB's double-to-uint8 cast does."""
    return torch.floor(x.clamp(0.0, 255.0) + 0.5)


def shrink(frame: np.ndarray, factor: float) -> np.ndarray:
    """MATLAB-bicubic shrink of an HxWx3 uint8 frame by ``factor`` (>= 1), rounded to uint8.

    Whole factors run tile by tile: imresize's dense resize matrices for a 5312-pixel side
    would cost 100+ MB each and a dense product, while a tile only needs a band of them.
    """
    if factor == 1:
        return np.ascontiguousarray(frame)
    chw = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)
    if float(factor).is_integer():
        out = _shrink_tiled(chw, int(factor))
    else:
        out = imresize(chw.double(), 1.0 / factor)
    return round_levels(out).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def _shrink_tiled(chw: torch.Tensor, factor: int, tile: int = 256) -> torch.Tensor:
    """imresize(chw, 1/factor) computed on overlapping tiles; equal to the one-shot result.

    Output pixel i of a 1/f shrink is centred on input (i + 0.5) f - 0.5 and its taps reach
    2f input pixels either side. A tile whose input starts at a multiple of f therefore has
    the same phase as the whole image, and its outputs at least ``margin`` input pixels from
    a cut edge see exactly the taps, weights and mirroring of the one-shot resize. Only the
    cut edges' outputs differ, and those are discarded.
    """
    _, height, width = chw.shape
    margin = 4 * factor  # > 2f taps, and a multiple of f
    out_h, out_w = math.ceil(height / factor), math.ceil(width / factor)
    out = torch.empty(chw.shape[0], out_h, out_w, dtype=torch.float64)
    for top in range(0, out_h, tile):
        bottom = min(top + tile, out_h)
        in_top = max(0, top * factor - margin)
        in_bottom = min(height, bottom * factor + margin)
        for left in range(0, out_w, tile):
            right = min(left + tile, out_w)
            in_left = max(0, left * factor - margin)
            in_right = min(width, right * factor + margin)
            piece = imresize(chw[:, in_top:in_bottom, in_left:in_right].double(), 1.0 / factor)
            row0, col0 = top - in_top // factor, left - in_left // factor
            out[:, top:bottom, left:right] = piece[:, row0 : row0 + bottom - top, col0 : col0 + right - left]
    return out


def degrade(gt: torch.Tensor) -> torch.Tensor:
    """The BI degradation: MATLAB-bicubic x1/4, rounded to uint8 levels, back in [0, 1].

    ``gt`` is [..., 3, H, W] in [0, 1] holding uint8 levels. The resize runs in float64 on
    the integer levels, as MATLAB does on a uint8 image, so the rounding matches the
    ``BIx4`` frames of the validation set (and of Vid4) pixel for pixel.
    """
    levels = torch.round(gt.double() * 255.0)
    return (round_levels(imresize(levels, 0.25)) / 255.0).to(gt.dtype)


# -- camera paths over photos -----------------------------------------------------------


@dataclass(frozen=True)
class CameraPath:
    """Per-frame view of a photo: where each GT frame's centre lies (source pixels, x then
    y), how many source pixels one GT pixel spans, and the view's roll in radians."""

    centres: np.ndarray  # [T, 2]
    scales: np.ndarray  # [T]
    angles: np.ndarray  # [T]

    def corners(self, size: int) -> np.ndarray:
        """Source coordinates of every frame's four corner pixel centres, [T, 4, 2]."""
        half = (size - 1) / 2.0
        offsets = np.array([[-half, -half], [half, -half], [-half, half], [half, half]])
        cos, sin = np.cos(self.angles), np.sin(self.angles)
        rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)  # [T, 2, 2]
        turned = np.einsum("tij,kj->tki", rot, offsets) * self.scales[:, None, None]
        return self.centres[:, None, :] + turned


def sample_camera_path(
    rng: np.random.Generator,
    num_frames: int,
    source_height: int,
    source_width: int,
    size: int,
    config: DataConfig,
) -> CameraPath:
    """A random smooth path whose every frame lies inside the source, 2 pixels clear of its
    edges (bicubic sampling reads 2 pixels either side).

    Motion is a quadratic in time (constant velocity plus constant acceleration), a
    geometric zoom and a linear roll, so frame-to-frame change is smooth and bounded. If the
    motion does not fit in the photo it is halved until it does.
    """
    tau = np.arange(num_frames, dtype=np.float64) - (num_frames - 1) / 2.0
    base_scale = rng.uniform(config.min_zoom, config.max_zoom)
    heading = rng.uniform(0.0, 2.0 * math.pi)
    speed = rng.uniform(config.min_speed, config.max_speed)
    velocity = speed * np.array([math.cos(heading), math.sin(heading)])
    accel = rng.uniform(-config.max_accel, config.max_accel, size=2)
    zoom_rate = rng.uniform(-config.max_zoom_rate, config.max_zoom_rate)
    tilt = math.radians(rng.uniform(-config.max_tilt_deg, config.max_tilt_deg))
    spin = math.radians(rng.uniform(-config.max_spin_deg, config.max_spin_deg))
    anchor = rng.uniform(0.0, 1.0, size=2)
    margin = 2.0
    low_bound = np.array([margin, margin])
    high_bound = np.array([source_width - 1 - margin, source_height - 1 - margin])

    for _ in range(8):
        scales = base_scale * np.exp(zoom_rate * tau)
        # Lifted as a whole rather than clipped, so the zoom stays smooth while never
        # magnifying past min_zoom.
        scales = scales * max(1.0, config.min_zoom / scales.min())
        drift = (velocity[None, :] * tau[:, None] + 0.5 * accel[None, :] * tau[:, None] ** 2) * base_scale
        relative = CameraPath(drift, scales, tilt + spin * tau).corners(size).reshape(-1, 2)
        low = low_bound - relative.min(axis=0)
        high = high_bound - relative.max(axis=0)
        if np.all(high >= low):
            origin = low + anchor * (high - low)
            return CameraPath(drift + origin, scales, tilt + spin * tau)
        velocity, accel, zoom_rate, spin, tilt = velocity / 2, accel / 2, zoom_rate / 2, spin / 2, tilt / 2
        base_scale = max(config.min_zoom, base_scale / 1.1)
    raise UsageError(
        f"a {source_width}x{source_height} photo is too small for {size}x{size} training frames"
    )


def render_path(photo: np.ndarray, path: CameraPath, size: int) -> torch.Tensor:
    """Render the path's frames from an HxWx3 uint8 photo: [T, 3, size, size] float32 in
    [0, 1], quantised to uint8 levels like any decoded GT frame.

    Bicubic sampling: bilinear at fractional offsets is a strong, offset-dependent blur
    (a half-pixel shift averages two pixels), which would make the GT's sharpness flicker
    from frame to frame.
    """
    corners = path.corners(size).reshape(-1, 2)
    x0 = max(0, int(math.floor(corners[:, 0].min())) - 2)
    y0 = max(0, int(math.floor(corners[:, 1].min())) - 2)
    x1 = min(photo.shape[1], int(math.ceil(corners[:, 0].max())) + 3)
    y1 = min(photo.shape[0], int(math.ceil(corners[:, 1].max())) + 3)
    region = torch.from_numpy(np.ascontiguousarray(photo[y0:y1, x0:x1])).permute(2, 0, 1).float() / 255.0
    height, width = region.shape[-2:]

    half = (size - 1) / 2.0
    axis = torch.arange(size, dtype=torch.float64) - half
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    angles = torch.from_numpy(np.asarray(path.angles, dtype=np.float64))
    scales = torch.from_numpy(np.asarray(path.scales, dtype=np.float64))
    centres = torch.from_numpy(np.asarray(path.centres, dtype=np.float64))
    cos = (scales * angles.cos())[:, None, None]
    sin = (scales * angles.sin())[:, None, None]
    x = (centres[:, 0, None, None] - x0) + cos * cols - sin * rows
    y = (centres[:, 1, None, None] - y0) + sin * cols + cos * rows
    # align_corners=True: -1 and +1 are the centres of the first and last pixels.
    grid = torch.stack([2.0 * x / (width - 1) - 1.0, 2.0 * y / (height - 1) - 1.0], dim=-1).float()
    frames = F.grid_sample(
        region[None].expand(len(grid), -1, -1, -1),
        grid,
        mode="bicubic",
        padding_mode="border",
        align_corners=True,
    )
    return round_levels(frames * 255.0) / 255.0


# -- augmentation -----------------------------------------------------------------------


def texture(pixels: np.ndarray) -> float:
    """Mean absolute vertical plus horizontal neighbour difference of an HxWx3 uint8 crop's
    grey level: a flat sky or bokeh scores ~1, foliage or text 10+."""
    grey = pixels.astype(np.float32).mean(axis=-1)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def augment(frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random horizontal/vertical flip, transposition and temporal reversal of [T, C, H, W].

    Flips and transposition commute with the degradation (its kernel and its x4 sampling
    grid are symmetric), so augmenting the GT before degrading equals augmenting both.
    """
    hflip, vflip, transpose, reverse = rng.integers(0, 2, size=4)
    if hflip:
        frames = frames.flip(-1)
    if vflip:
        frames = frames.flip(-2)
    if transpose:
        frames = frames.transpose(-1, -2)
    if reverse:
        frames = frames.flip(0)
    return frames.contiguous()


# -- the sources and the sampler ---------------------------------------------------------


@dataclass
class VideoSource:
    name: str
    frames: np.ndarray  # [N, H, W, 3] uint8, memory-mapped
    starts: np.ndarray  # window start indices whose T frames are consecutive in time
    factor: float


@dataclass
class PhotoSource:
    name: str
    image: np.ndarray  # [H, W, 3] uint8, memory-mapped


def _cache_key(path: Path, *parts: object) -> str:
    # From the file's bytes, not its path or mtime: a data folder that is copied or
    # remounted (fresh mtimes every session) must not trigger minutes of re-decoding.
    content = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            content.update(block)
    text = "|".join(str(p) for p in (CACHE_VERSION, content.hexdigest(), *parts))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _entry_name(kind: str, path: Path, factor: float) -> str:
    # The whole file name and the shrink: entries that differ in either (p0.jpg and p0.png,
    # or two configs sharing a cache) never replace each other.
    return f"{kind}-{path.name}-x{factor:g}"


def _drop_stale_entries(cache_dir: Path, name: str, key: str) -> None:
    """Delete the cache files of ``name`` made under any key other than ``key``: the
    same source file (and shrink) with older contents."""
    pattern = re.compile(rf"{re.escape(name)}-([0-9a-f]{{16}})(-segments)?\.npy")
    for entry in cache_dir.glob(f"{glob.escape(name)}-*.npy"):
        match = pattern.fullmatch(entry.name)
        if match and match.group(1) != key:
            entry.unlink(missing_ok=True)


def _save_atomic(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial.npy")
    try:
        np.save(temporary, array)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _cached(cache_dir: Path | None, name: str, key: str, build) -> np.ndarray:
    """``build()``'s array, stored as ``.npy`` under ``cache_dir`` and memory-mapped after."""
    if cache_dir is None:
        return build()
    target = cache_dir / f"{name}-{key}.npy"
    if not target.exists():
        _save_atomic(target, build())
        _drop_stale_entries(cache_dir, name, key)
    return np.load(target, mmap_mode="r")


def _files(folder: Path, extensions: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"training data folder {folder} does not exist")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions)


def video_shrink_factor(height: int, width: int, config: DataConfig) -> float | None:
    """The shrink a video gets: video_downscale, or less when that would leave it smaller
    than one crop (never less than min_video_downscale); None if it cannot be used."""
    short = min(height, width)
    if short / config.video_downscale >= config.crop_size:
        return config.video_downscale
    factor = short / config.crop_size
    if factor >= config.min_video_downscale:
        # Rounded down to 1/64 so that ceil(short / factor) is >= crop_size despite rounding.
        return math.floor(factor * 64) / 64
    return None


class TrainingData:
    """All training sources, decoded and shrunk once; draws batches by (seed, step)."""

    def __init__(
        self,
        config: DataConfig,
        num_frames: int,
        log=print,
    ) -> None:
        self.config = config
        self.num_frames = num_frames
        self.log = log
        cache = Path(config.cache_dir) if config.cache_dir else None
        excluded = {name.lower() for name in (*config.exclude, *HELD_OUT_FILES)}
        self.photos: list[PhotoSource] = []
        self.videos: list[VideoSource] = []
        if config.photos:
            for path in _files(Path(config.photos), PHOTO_EXTENSIONS):
                if path.name.lower() in excluded:
                    continue
                self._add_photo(path, cache)
        if config.videos:
            for path in _files(Path(config.videos), VIDEO_EXTENSIONS):
                if path.name.lower() in excluded:
                    continue
                self._add_video(path, cache)
        if not self.photos and not self.videos:
            raise InputError("no usable training photos or videos were found")
        if not self.photos and config.video_fraction < 1.0:
            self.log("note: no photos, every clip comes from the videos")
        if not self.videos and config.video_fraction > 0.0:
            self.log("note: no usable videos, every clip comes from the photos")
        # Big photos hold more distinct crops, but weighting by area would let the three
        # largest dominate; the square root keeps all of them in play.
        areas = np.array([p.image.shape[0] * p.image.shape[1] for p in self.photos], dtype=np.float64)
        self.photo_weights = np.sqrt(areas) / np.sqrt(areas).sum() if len(areas) else areas

    def _add_photo(self, path: Path, cache: Path | None) -> None:
        factor = int(self.config.photo_downscale)

        def build() -> np.ndarray:
            return shrink(read_image(path), factor)

        image = _cached(cache, _entry_name("photo", path, factor), _cache_key(path, factor), build)
        if min(image.shape[:2]) < self.config.crop_size + 8:
            self.log(f"note: skipping photo {path.name}: {image.shape[1]}x{image.shape[0]} after shrinking")
            return
        self.photos.append(PhotoSource(path.name, image))

    def _add_video(self, path: Path, cache: Path | None) -> None:
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    self.log(f"note: skipping {path.name}: no video stream")
                    return
                context = container.streams.video[0].codec_context
                height, width = context.height, context.width
        except (av.FFmpegError, OSError) as exc:
            self.log(f"note: skipping {path.name}: {exc}")
            return
        factor = video_shrink_factor(height, width, self.config)
        if factor is None:
            self.log(f"note: skipping video {path.name}: {width}x{height} is too small for {self.config.crop_size} crops")
            return
        frames, seg = self._decoded_video(path, factor, cache)
        t = self.num_frames
        starts = np.array(
            [i for i in range(len(frames) - t + 1) if seg[i] == seg[i + t - 1]], dtype=np.int64
        )
        if len(starts) == 0 or min(frames.shape[1:3]) < self.config.crop_size:
            self.log(f"note: skipping video {path.name}: too few consecutive decodable frames or too small")
            return
        self.videos.append(VideoSource(path.name, frames, starts, factor))

    @staticmethod
    def _decoded_video(path: Path, factor: float, cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
        """(frames [N, H, W, 3] uint8, segment of each frame), decoded once and cached."""

        def build() -> tuple[np.ndarray, np.ndarray]:
            frames, segments = [], []
            for segment, frame in decode_video(path):
                frames.append(shrink(frame, factor))
                segments.append(segment)
            if not frames:
                return np.zeros((0, 1, 1, 3), np.uint8), np.zeros(0, np.int64)
            return np.stack(frames), np.asarray(segments, np.int64)

        if cache is None:
            return build()
        key = _cache_key(path, factor)
        name = _entry_name("video", path, factor)
        frames_file = cache / f"{name}-{key}.npy"
        segments_file = cache / f"{name}-{key}-segments.npy"
        if not (frames_file.exists() and segments_file.exists()):
            frames, segments = build()
            # Frames last: their presence marks a complete entry.
            _save_atomic(segments_file, segments)
            _save_atomic(frames_file, frames)
            _drop_stale_entries(cache, name, key)
        return np.load(frames_file, mmap_mode="r"), np.load(segments_file)

    def describe(self) -> str:
        photo_px = sum(p.image.shape[0] * p.image.shape[1] for p in self.photos) / 1e6
        videos = ", ".join(f"{v.name} {v.frames.shape[2]}x{v.frames.shape[1]}x{len(v.frames)} (/{v.factor:g})" for v in self.videos)
        return f"{len(self.photos)} photos ({photo_px:.0f} Mpx after shrinking); videos: {videos or 'none'}"

    # -- sampling ----------------------------------------------------------------------

    def _most_textured(self, rng: np.random.Generator, draw, pixels_of):
        """Draw candidates with ``draw(rng)`` until one is textured enough (see DataConfig)."""
        best, best_score = None, -1.0
        for _ in range(max(1, self.config.texture_tries)):
            candidate = draw(rng)
            score = texture(pixels_of(candidate))
            if score >= self.config.min_texture:
                return candidate
            if score > best_score:
                best, best_score = candidate, score
        return best

    def clip_from_photo(self, rng: np.random.Generator) -> torch.Tensor:
        photo = self.photos[rng.choice(len(self.photos), p=self.photo_weights)]
        height, width = photo.image.shape[:2]
        size = self.config.crop_size

        def draw(rng: np.random.Generator) -> CameraPath:
            return sample_camera_path(rng, self.num_frames, height, width, size, self.config)

        def pixels_of(path: CameraPath) -> np.ndarray:
            # The middle frame's footprint on the photo, before rendering anything.
            middle = path.corners(size)[len(path.scales) // 2]
            x0, y0 = np.floor(middle.min(axis=0)).astype(int)
            x1, y1 = np.ceil(middle.max(axis=0)).astype(int)
            return photo.image[max(0, y0) : y1 + 1, max(0, x0) : x1 + 1]

        return render_path(photo.image, self._most_textured(rng, draw, pixels_of), size)

    def clip_from_video(self, rng: np.random.Generator) -> torch.Tensor:
        video = self.videos[rng.integers(len(self.videos))]
        size = self.config.crop_size
        height, width = video.frames.shape[1:3]

        def draw(rng: np.random.Generator) -> tuple[int, int, int]:
            start = int(video.starts[rng.integers(len(video.starts))])
            return start, int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))

        def pixels_of(place: tuple[int, int, int]) -> np.ndarray:
            start, top, left = place
            return video.frames[start + self.num_frames // 2, top : top + size, left : left + size]

        start, top, left = self._most_textured(rng, draw, pixels_of)
        window = np.ascontiguousarray(video.frames[start : start + self.num_frames, top : top + size, left : left + size])
        return torch.from_numpy(window).permute(0, 3, 1, 2).float() / 255.0

    def sample_clip(self, rng: np.random.Generator) -> torch.Tensor:
        """One augmented clip [T, 3, crop_size, crop_size] in [0, 1]: GT with its context."""
        use_video = bool(self.videos) and (not self.photos or rng.random() < self.config.video_fraction)
        clip = self.clip_from_video(rng) if use_video else self.clip_from_photo(rng)
        return augment(clip, rng)

    def batch(self, seed: int, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The (LR [B, T, 3, s, s], GT [B, T, 3, 4s, 4s]) batch of training step ``step``."""
        rng = np.random.default_rng([seed, step])
        clips = torch.stack([self.sample_clip(rng) for _ in range(batch_size)])
        lr = degrade(clips)[..., LR_CONTEXT:-LR_CONTEXT, LR_CONTEXT:-LR_CONTEXT]
        return lr.contiguous(), clips[..., GT_CONTEXT:-GT_CONTEXT, GT_CONTEXT:-GT_CONTEXT].contiguous()
