"""Training clips: (LR, GT) windows of T frames made from photos and from real videos.

Both sources start from lossy material (JPEG photos, H.264/MPEG videos), so every source is
first shrunk (2x by default) with MATLAB bicubic: the shrink averages away most codec
artefacts, which the network would otherwise learn to reproduce as "detail".

* Photos become clips by moving a crop window along a smooth random camera path
  (:mod:`.camera`).
* Videos give T consecutive decoded frames and a random crop: real motion, occlusion and
  parallax that no affine path produces.

LR = MATLAB-bicubic x1/4 of the GT, rounded to uint8 levels (:mod:`.degradation`).
Augmentation: flips, transposition (with the flips, all eight 90-degree
rotations/reflections) and temporal reversal.

Everything decoded is cached once as uint8 ``.npy`` files (:mod:`.cache`), so a resumed run
starts in seconds. Sampling is a pure function of (seed, step): a resumed run draws exactly
the batches an uninterrupted run would have drawn, with no sampler state.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch

from ..errors import InputError, UsageError
from ..quality.clips import read_image
from .cache import cache_key, cached, drop_stale_entries, entry_name, save_atomic
from .camera import CameraPath, render_path, sample_camera_path
from .config import HELD_OUT_FILES, DataConfig
from .degradation import GT_CONTEXT, LR_CONTEXT, degrade, shrink

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".y4m")


# -- decoding ---------------------------------------------------------------------------


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
    factor: int = 2


def _files(folder: Path, extensions: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        raise UsageError(f"training data folder {folder} does not exist (or is not a folder)")
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
                for factor in config.photo_downscales:
                    self._add_photo(path, int(factor), cache)
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
        # One group per shrink that kept any photo. Big photos hold more distinct crops, but
        # weighting by area would let the three largest dominate; the square root keeps all
        # of them in play.
        self.photo_groups: list[tuple[list[PhotoSource], np.ndarray]] = []
        for factor in config.photo_downscales:
            group = [p for p in self.photos if p.factor == factor]
            if group:
                roots = np.sqrt([p.image.shape[0] * p.image.shape[1] for p in group])
                self.photo_groups.append((group, roots / roots.sum()))

    def _add_photo(self, path: Path, factor: int, cache: Path | None) -> None:
        def build() -> np.ndarray:
            return shrink(read_image(path), factor)

        image = cached(cache, entry_name("photo", path, factor), cache_key(path, factor), build)
        if min(image.shape[:2]) < self.config.crop_size + 8:
            self.log(f"note: skipping photo {path.name} at /{factor}: {image.shape[1]}x{image.shape[0]} after shrinking")
            return
        self.photos.append(PhotoSource(path.name, image, factor))

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
        key = cache_key(path, factor)
        name = entry_name("video", path, factor)
        frames_file = cache / f"{name}-{key}.npy"
        segments_file = cache / f"{name}-{key}-segments.npy"
        if not (frames_file.exists() and segments_file.exists()):
            frames, segments = build()
            # Frames last: their presence marks a complete entry.
            save_atomic(segments_file, segments)
            save_atomic(frames_file, frames)
            drop_stale_entries(cache, name, key)
        return np.load(frames_file, mmap_mode="r"), np.load(segments_file)

    def describe(self) -> str:
        photos = "; ".join(
            f"{len(group)} at /{group[0].factor} ({sum(p.image.shape[0] * p.image.shape[1] for p in group) / 1e6:.0f} Mpx)"
            for group, _ in self.photo_groups
        )
        videos = ", ".join(f"{v.name} {v.frames.shape[2]}x{v.frames.shape[1]}x{len(v.frames)} (/{v.factor:g})" for v in self.videos)
        return f"photos: {photos or 'none'}; videos: {videos or 'none'}"

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
        # A single shrink draws nothing here, so older single-shrink runs keep their batches.
        group, weights = self.photo_groups[rng.integers(len(self.photo_groups)) if len(self.photo_groups) > 1 else 0]
        photo = group[rng.choice(len(group), p=weights)]
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
