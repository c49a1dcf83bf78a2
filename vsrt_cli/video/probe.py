"""What is in a video file: dimensions, timing, colour, rotation and every stream."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import av

from ..errors import InputError
from ._open import av_reason, open_input
from .numbering import check_picture_input, is_picture_input
from .colour import ColourTags, resolve_colour
from .convert import bit_depth_of
from .hdr import HDR10Metadata, hdr10_from_frame
from .splice import SplicePlan, scan_splices

# Decoding the first frame is how FFmpeg exposes rotation and the real colour tags;
# give up after this many packets so a damaged file cannot make probing slow.
_FIRST_FRAME_PACKET_LIMIT = 300
_DURATION_TAG = re.compile(r"^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")
_KINDS = {"video", "audio", "subtitle", "data", "attachment"}


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str  # 'video' | 'audio' | 'subtitle' | 'data' | 'attachment'
    codec_name: str
    language: str | None = None
    title: str | None = None
    start_s: float | None = None  # when it begins to play (after any edit list), seconds


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    n_frames: int | None  # the header's count, else an estimate (see frames_exact)
    time_base: Fraction
    average_rate: Fraction | None
    duration_s: float | None
    bit_depth: int
    pix_fmt: str
    codec_name: str
    colour: ColourTags
    rotation: int
    streams: tuple[StreamInfo, ...]
    sample_aspect_ratio: Fraction | None = None  # None: square pixels
    interlaced: bool = False  # the first frame is flagged interlaced by the decoder
    alpha: bool = False  # the pictures carry transparency
    hdr10: HDR10Metadata | None = None  # mastering display and light levels, from the first frame
    video_index: int = 0
    format_name: str = ""
    start_pts: int | None = None
    # Where the timestamps restart (joined MPEG-TS pieces) and how each piece moves.
    splices: SplicePlan = field(default_factory=SplicePlan, hash=False, compare=False)
    metadata: dict = field(default_factory=dict, hash=False, compare=False)
    video_metadata: dict = field(default_factory=dict, hash=False, compare=False)
    frames_exact: bool = False  # n_frames is the container's own count, not duration x rate
    cover_art: bool = False  # the picture is an attached picture (an audio file's cover)
    first_picture: int | None = None  # numbered pictures: the number of the first; None: a video


def probe(path, frame_rate=None) -> VideoInfo:
    """Describe ``path``; raises InputError if it is missing, unreadable or has no video.
    Numbered pictures (``scan/%06d.dpx``) are a video at ``frame_rate`` (None: 25)."""
    path = Path(path)
    container = open_input(path, frame_rate)
    try:
        info = _inspect(container, path)
        if is_picture_input(path):  # the files are the count, not duration x rate
            first, count = check_picture_input(path)
            info = replace(info, n_frames=count, frames_exact=True, first_picture=first)
        return info
    except InputError:
        raise
    except (av.FFmpegError, OSError, ValueError) as err:
        raise InputError(f"cannot read {path}: {av_reason(err)}") from err
    finally:
        container.close()


def select_video_stream(container, path: Path):
    """First real video stream; cover art (attached pictures) only as a last resort."""
    videos = list(container.streams.video)
    if not videos:
        raise InputError(f"no video stream in {path}")
    for stream in videos:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return videos[0]


def _inspect(container, path: Path) -> VideoInfo:
    stream = select_video_stream(container, path)
    ctx = stream.codec_context
    first = first_frame(container, stream)
    source = first if first is not None else ctx
    pix_fmt = first.format.name if first is not None else (ctx.pix_fmt or "unknown")
    width = first.width if first is not None else ctx.width
    height = first.height if first is not None else ctx.height
    if not width or not height:
        raise InputError(f"video stream of {path} has no usable picture size")
    duration_s = stream_duration(container, stream)
    splices = scan_splices(path)
    if splices:
        # The container's figure spans first to last timestamp, which a restart makes
        # shorter than the file plays.
        duration_s = float(splices.span)
    rate = stream.average_rate or stream.guessed_rate
    cover_art = bool(stream.disposition & av.stream.Disposition.attached_pic)
    # A cover is one picture however long the audio plays beside it.
    frames = 1 if cover_art else estimate_frames(stream.frames, duration_s, rate)
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        n_frames=frames,
        # AVI's count is of its time base's ticks, which a variable-rate file (tree.avi: 444
        # for 68 pictures) makes larger than its frames.
        frames_exact=cover_art or (bool(stream.frames) and container.format.name != "avi"),
        cover_art=cover_art,
        time_base=stream.time_base or Fraction(1, 90000),
        average_rate=Fraction(rate) if rate else None,
        duration_s=duration_s,
        bit_depth=bit_depth_of(pix_fmt),
        pix_fmt=pix_fmt,
        codec_name=ctx.codec.canonical_name if ctx is not None else "unknown",
        colour=resolve_colour(
            width, height, pix_fmt, source.colorspace, source.color_range,
            source.color_primaries, source.color_trc,
        ),
        rotation=int(round(first.rotation)) % 360 if first is not None else 0,
        sample_aspect_ratio=_pixel_aspect(stream),
        interlaced=bool(first is not None and first.interlaced_frame),
        alpha=_has_alpha(pix_fmt, stream),
        hdr10=hdr10_from_frame(first) if first is not None else None,
        streams=tuple(stream_info(s) for s in container.streams),
        video_index=stream.index,
        format_name=container.format.name,
        start_pts=stream.start_time,
        splices=splices,
        metadata=dict(container.metadata),
        video_metadata=dict(stream.metadata),
    )


def _has_alpha(pix_fmt: str, stream) -> bool:
    # FFmpeg's own VP8/VP9 decoders skip WebM's alpha layer; only the track header tells.
    if stream.metadata.get("alpha_mode") == "1":
        return True
    try:
        return any(component.is_alpha for component in av.VideoFormat(pix_fmt).components)
    except ValueError:
        return False


def _pixel_aspect(stream) -> Fraction | None:
    # The container's value first, then the bitstream's, as FFmpeg's own guess does.
    for ratio in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if ratio and ratio > 0:
            return None if ratio == 1 else Fraction(ratio)
    return None


def first_frame(container, stream):
    """Decode until the first picture; None if nothing decodes (damaged file)."""
    try:
        for count, packet in enumerate(container.demux(stream)):
            if count >= _FIRST_FRAME_PACKET_LIMIT:
                return None
            try:
                frames = stream.decode(packet)
            except av.FFmpegError:
                continue
            if frames:
                return frames[0]
        frames = stream.decode(None)
        return frames[0] if frames else None
    except (av.FFmpegError, OSError):
        return None


def stream_duration(container, stream) -> float | None:
    """Seconds, from the stream header, else Matroska's DURATION tag, else the container."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tagged = parse_duration_tag(stream.metadata.get("DURATION") or stream.metadata.get("duration"))
    if tagged is not None:
        return tagged
    if container.duration:
        return container.duration / 1_000_000
    return None


def parse_duration_tag(text: str | None) -> float | None:
    """'HH:MM:SS.fraction' (as Matroska writes it) -> seconds; None if absent or malformed."""
    if not text:
        return None
    match = _DURATION_TAG.match(text.strip())
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def estimate_frames(header_frames: int | None, duration_s: float | None, rate) -> int | None:
    """The header's frame count when it has one, else duration x average rate."""
    if header_frames:
        return int(header_frames)
    if duration_s and rate:
        return max(1, int(round(duration_s * float(rate))))
    return None


def stream_info(stream) -> StreamInfo:
    kind = stream.type if stream.type in _KINDS else "data"
    metadata = stream.metadata
    return StreamInfo(
        index=stream.index,
        kind=kind,
        codec_name=codec_name_of(stream),
        language=metadata.get("language") or None,
        title=metadata.get("title") or metadata.get("name") or None,
        start_s=float(stream.start_time * stream.time_base)
        if stream.start_time is not None and stream.time_base
        else None,
    )


def codec_name_of(stream) -> str:
    ctx = stream.codec_context
    if ctx is not None:
        return ctx.codec.canonical_name
    if stream.type == "attachment":
        return stream.metadata.get("mimetype", "attachment")
    return "unknown"
