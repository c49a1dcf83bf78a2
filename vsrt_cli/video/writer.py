"""Encode RGB frames into a new file, carrying over timing, colour and the other streams."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import CodecError, OutputError
from ._open import av_reason
from .colour import ColourTags, guess_matrix
from .containers import container_format, container_label, lost_tags_note, supports_faststart, supports_rotation
from .convert import converts_tensors, rgb_to_frame
from .encoding import (
    NO_REORDER_CONTAINERS,
    EncodeOptions,
    choose_video_codec,
    encoder_settings,
    open_encoder,
    writes_hdr10,
)
from .probe import VideoInfo
from .segment import SegmentClock
from .streams import PassThrough, clean_metadata, packet_seconds, plan_stream_copy

_DEFAULT_RATE = Fraction(24)
_SMALL_TIME_BASE_ENCODERS = ("mpeg4", "msmpeg4", "h263p")
# MPEG-1/2 code one of their standard frame rates, and take no other time base.
_FRAME_RATE_TIME_BASE_ENCODERS = ("mpeg1video", "mpeg2video")
_MATRIX_LABELS = {"bt601": "BT.601", "bt709": "BT.709", "bt2020": "BT.2020"}
# Threads converting one frame's bands from RGB to YUV. On 2 cores, 2 threads took a
# 2560x1440 frame from 37-42 to 24-25 ms; beyond 8 there is little left to split.
MAX_CONVERT_THREADS = 8


def convert_threads() -> int:
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_CONVERT_THREADS, available))


def output_colour(source: ColourTags | None, pix_fmt: str, width: int, height: int):
    """(ColourTags to convert with, AVColor* codes to tag, note or None) for an output.

    The output keeps the source's matrix and range and is always tagged explicitly:
    left untagged, a 4x larger output would be re-guessed as BT.709 by players and an
    SD source's colours would shift. Without a source, the matrix players assume for
    the output size is used.
    """
    if source is None:
        colour = ColourTags(matrix_used=guess_matrix(width, height))
        return colour, colour.output_codes(), None
    if av.VideoFormat(pix_fmt).is_rgb:
        return source, {**source.output_codes(), "colorspace": 0, "color_range": 2}, None
    colour, note = source, None
    if source.matrix_used == "gbr":
        # RGB (pictures, RGB codecs) has no YUV range of its own to keep: limited range is
        # what players assume of H.264, HEVC and VP9, and some ignore a full-range tag.
        colour = replace(source, matrix="bt709", matrix_used="bt709", range="tv", full_range=False)
        note = "source has no YUV colour matrix (RGB or grey pictures); the output is BT.709 YUV (limited range)"
    elif source.guessed and source.matrix_used in _MATRIX_LABELS:
        note = (
            f"source has no colour matrix tag; assumed {_MATRIX_LABELS[source.matrix_used]} "
            "(from its size) and tagged the output accordingly"
        )
    if pix_fmt.startswith("yuvj"):
        colour = replace(colour, range="pc", full_range=True)
    return colour, colour.output_codes(), note


def output_notes(
    source: VideoInfo | None, format_name: str, codec: str, pix_fmt: str, width: int, height: int
) -> list[str]:
    """What the output will not keep of the source, known before a frame is written.

    The writer reports these and ``--dry-run`` shows them, from this one place.
    """
    notes = []
    colour_note = output_colour(source.colour if source else None, pix_fmt, width, height)[2]
    if colour_note:
        notes.append(colour_note)
    label = container_label(format_name)
    if format_name == "avi":
        notes.append(
            "AVI stores only a constant frame rate and no decode order: encoded without B-frames,"
            " and timestamps may shift; prefer .mkv or .mp4"
        )
    elif format_name in NO_REORDER_CONTAINERS:
        notes.append(
            f"{label} stores whole-millisecond times and no decode order: encoded without B-frames,"
            " and timestamps may shift by a few ms; prefer .mkv or .mp4"
        )
    if source is None:
        return notes
    if source.hdr10 is not None and not writes_hdr10(codec):
        notes.append(
            f"the source's HDR10 mastering metadata is not carried by {codec} (x264 and x265 carry it, in .mkv or .mp4)"
        )
    if source.rotation and not supports_rotation(format_name):
        notes.append(
            f"{label} cannot store the source's {source.rotation}-degree rotation flag; the output will play unrotated"
        )
    if format_name == "avi":
        notes += avi_audio_offset_notes(source)
    ratio = source.sample_aspect_ratio
    # MP4/MOV store it in the container from the encoder's value; Matroska would need the
    # stream's own, which PyAV cannot set, so there only codecs with an aspect field in
    # their bitstream keep it.
    if ratio and format_name in ("matroska", "webm") and codec not in _CODECS_WITH_ASPECT_FIELD:
        notes.append(
            f"{label} output with {codec} cannot store the pixel aspect ratio {ratio.numerator}:{ratio.denominator};"
            " it will play with square pixels (use .mp4 or x264/x265)"
        )
    if source.alpha:
        notes.append("the source's transparency (alpha channel) is not kept: the output is opaque")
    named = [stream for stream in source.streams if stream.kind in ("video", "audio", "subtitle")]
    tags_note = lost_tags_note(
        format_name,
        [stream.language for stream in named if stream.language and stream.language != "und"],
        [stream.title for stream in named if stream.title],
        source.metadata.get("title"),
    )
    if tags_note:
        notes.append(tags_note)
    if source.cover_art:
        notes.append("the source's only picture is its cover art: the output is that one picture, upscaled")
    return notes


# Lip sync errors from about this size on are noticed (ITU-R BT.1359: 45 ms with the
# sound early; later sound is forgiven longer, but one threshold keeps the note simple).
_NOTICEABLE_AUDIO_OFFSET_S = 0.045


def avi_audio_offset_notes(source: VideoInfo) -> list[str]:
    """AVI starts every stream together, so a source's audio lead or lag is lost."""
    if source.start_pts is None:
        return []
    video_start = float(source.start_pts * source.time_base)
    notes = []
    for stream in source.streams:
        if stream.kind != "audio" or stream.start_s is None:
            continue
        offset = stream.start_s - video_start
        if abs(offset) < _NOTICEABLE_AUDIO_OFFSET_S:
            continue
        when, effect = ("after", "early") if offset > 0 else ("before", "late")
        notes.append(
            f"AVI cannot store that audio stream #{stream.index} starts {abs(offset):.2f} s {when} the video:"
            f" it will play {abs(offset):.2f} s {effect}; prefer .mkv or .mp4"
        )
    return notes


def encoder_time_base(format_name: str, codec: str, source_time_base: Fraction, rate: Fraction) -> Fraction:
    """The source's time base, except where the output needs a frame-rate one.

    AVI has no timestamps, only a frame rate equal to 1/time base, so a fine source
    time base (1/1000 in MKV) would declare 1000 fps; MPEG-1 and MPEG-2 video take only
    1/frame rate (an MP4's 1/12288 failed to open the encoder); MPEG-4 Part 2 and friends
    cannot code a time base denominator above 65535.
    """
    coarse = 1 / Fraction(rate).limit_denominator(1001)
    if format_name == "avi" or codec in _FRAME_RATE_TIME_BASE_ENCODERS:
        return coarse
    if codec in _SMALL_TIME_BASE_ENCODERS and source_time_base.denominator > 65535:
        return coarse
    return source_time_base


def frame_rate_of(source: VideoInfo | None, frame_rate: Fraction | None = None) -> Fraction:
    """The rate the output declares: the source's average, else ``frame_rate``, else 24."""
    if source is not None and source.average_rate:
        return Fraction(source.average_rate)
    return Fraction(frame_rate or _DEFAULT_RATE)


def check_output_dir(path: Path) -> None:
    parent = path.resolve().parent
    if not parent.is_dir():
        raise OutputError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to output folder (permission denied): {parent}")
    if path.is_dir():
        raise OutputError(f"output path is a directory: {path}")


# Encoders whose bitstream headers carry the sample aspect ratio (H.264/HEVC VUI, MPEG-2
# sequence header, MPEG-4 VOL); VP9 and AV1 have no such field.
_CODECS_WITH_ASPECT_FIELD = ("libx264", "libx265", "mpeg2video", "mpeg4")


class VideoWriter:
    """Encode frames to ``path`` (exactly that path; the caller handles temp names).

    ``source`` supplies timing, colour, rotation, metadata and the streams to carry
    over; without it frames are timed at ``frame_rate``. ``segment``: the part of the
    source being written (the reader's ``clock``), whose packets alone are carried over.
    ``journal`` (see pipeline/resume.py) gets every encoded video packet, with its frame's
    source pts, and :meth:`copy_journal` puts an earlier run's packets in first.
    ``notes`` collects every decision the user should hear about.
    """

    def __init__(
        self,
        path,
        source: VideoInfo | None = None,
        width: int | None = None,
        height: int | None = None,
        options: EncodeOptions | None = None,
        *,
        copy_streams: bool = True,
        frame_rate: Fraction | None = None,
        shown_as=None,
        segment: SegmentClock | None = None,
        journal=None,
    ):
        self.path = Path(path)
        # What errors call the file: the target a user asked for, not the temporary name
        # it is written under (see pipeline.outputs.atomic_output).
        self.shown_as = Path(shown_as) if shown_as is not None else self.path
        self.source = source
        self.options = options or EncodeOptions()
        self.width = int(width or (source.width if source else 0))
        self.height = int(height or (source.height if source else 0))
        if self.width <= 0 or self.height <= 0:
            raise ValueError("VideoWriter needs a positive width and height")
        self.notes: list[str] = []
        self.frames_written = 0
        self._closed = False
        self._nudged = 0
        self._last_pts: int | None = None
        self._origin: int | None = None  # first frame's source pts, where AVI's clock starts
        self._last_duration = 0
        self._durations: dict[int, int] = {}  # pts -> duration of frames the encoder holds
        self._source_pts: dict[int, int | None] = {}  # pts -> source pts, for the journal
        self._journal = journal
        self._extra: PassThrough | None = None
        self._copy_streams = copy_streams
        self._segment = segment
        threads = convert_threads()
        self._convert_pool = ThreadPoolExecutor(threads, "vsrt-convert") if threads > 1 else None
        check_output_dir(self.path)
        self.format_name = container_format(self.path)
        self.codec, self.pix_fmt = self._choose_codec()
        self._colour, self._codes, _ = output_colour(
            source.colour if source else None, self.pix_fmt, self.width, self.height
        )
        self.notes += output_notes(source, self.format_name, self.codec, self.pix_fmt, self.width, self.height)
        self._rate = frame_rate_of(source, frame_rate)
        # Timestamps arrive in the source's time base; the encoder uses the same one
        # unless the format cannot (see encoder_time_base), then they are rescaled.
        self._input_time_base = source.time_base if source else 1 / self._rate
        self._time_base = encoder_time_base(self.format_name, self.codec, self._input_time_base, self._rate)
        self._out = self._open_container()
        try:
            self._setup()
        except BaseException:
            self.abort()
            raise

    def _reason(self, err: BaseException) -> str:
        return av_reason(err).replace(str(self.path), str(self.shown_as))

    # -- setup ---------------------------------------------------------------------

    def _choose_codec(self) -> tuple[str, str]:
        opts = self.options
        codec, pix_fmt, note = choose_video_codec(
            self.path,
            opts.codec,
            self.source.bit_depth if self.source else 8,
            pix_fmt=opts.pix_fmt,
            width=self.width,
            height=self.height,
        )
        if note:
            self.notes.append(note)
        return codec, pix_fmt

    def _open_container(self):
        container_options = {}
        if supports_faststart(self.format_name):
            container_options["movflags"] = "+faststart"
            # Edit lists (start offsets, AAC priming) are stored in the movie time
            # scale, 1/1000 s by default, which would round a source's start time.
            container_options["movie_timescale"] = str(self._time_base.denominator)
        if self.format_name == "mpegts":
            # A .m2ts or .mts name would switch FFmpeg to Blu-ray packets, whose stream
            # table has no AAC, MP3 or Opus; plain TS plays under any of these names.
            container_options["mpegts_m2ts_mode"] = "0"
        try:
            return av.open(str(self.path), mode="w", format=self.format_name, container_options=container_options)
        except (av.FFmpegError, OSError, ValueError) as err:
            raise OutputError(f"cannot create {self.shown_as}: {self._reason(err)}") from err

    def _setup(self) -> None:
        self._stream = self._add_video_stream()
        if self.source is not None:
            self._out.metadata.update(clean_metadata(self.source.metadata))
            if self._copy_streams:
                decisions = plan_stream_copy(self.path, self.source.streams, self.source.video_index)
                self._extra = PassThrough(
                    self.source.path, self._out, decisions, self.notes, self.source.splices, self._segment,
                    shown_as=self.shown_as,
                )
        self._open_encoder()
        try:
            self._out.start_encoding()
        except (av.FFmpegError, OSError, ValueError) as err:
            raise OutputError(f"cannot write {self.shown_as}: {self._reason(err)}") from err

    def _add_video_stream(self):
        stream = self._out.add_stream(self.codec, rate=self._rate)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, self.pix_fmt
        stream.time_base = self._time_base
        ctx = stream.codec_context
        ctx.time_base = self._time_base
        for name, value in self._codes.items():
            setattr(ctx, name, value)
        opts = self.options
        hdr10 = self.source.hdr10 if self.source is not None else None
        user_options = dict(opts.encoder_options)
        if self._journal is not None and self.codec == "libx265":
            # x265's open groups start at keyframes a resumed run cannot restart at (the
            # pictures after them in the file are shown before them); the user's word wins.
            given = user_options.get("x265-params")
            user_options["x265-params"] = "open-gop=0" + (f":{given}" if given else "")
        ctx.options = encoder_settings(
            self.codec,
            opts.crf,
            opts.preset,
            user_options,
            frame_size=(self.width, self.height),
            hdr10=hdr10,
            container=self.format_name,
        )
        if self.source is not None:
            stream.metadata.update(clean_metadata(self.source.video_metadata))
            self._carry_rotation(stream)
            if self.source.sample_aspect_ratio:
                self._carry_pixel_aspect(ctx, self.source.sample_aspect_ratio)
        return stream

    def _carry_pixel_aspect(self, ctx, ratio) -> None:
        # An upscale scales both axes alike (4x, or --scale to within a pixel), so the pixel
        # shape is unchanged (where the output cannot store it, output_notes says so).
        ctx.sample_aspect_ratio = ratio

    def _carry_rotation(self, stream) -> None:
        if self.source.rotation and supports_rotation(self.format_name):
            stream.set_display_rotation(self.source.rotation)

    def _open_encoder(self) -> None:
        wanted = {str(k) for k in self.options.encoder_options}
        open_encoder(self._stream.codec_context, self.codec, wanted, (self.width, self.height))

    # -- writing -------------------------------------------------------------------

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, rgb: np.ndarray, pts: int | None = None, duration: int | None = None) -> None:
        """Encode one float RGB HxWx3 frame; ``pts``/``duration`` in the source time base."""
        self.write_frame(self.convert(rgb), pts, duration)

    @property
    def converts_tensors(self) -> bool:
        """Whether :meth:`convert` takes a [3, H, W] torch tensor (on any device) as well."""
        return converts_tensors(self.pix_fmt)

    def convert(self, rgb) -> av.VideoFrame:
        """Float RGB (clamped as it goes) -> a frame in the encoder's pixel format.

        ``rgb`` is an HxWx3 numpy array, or a [3, H, W] tensor when ``converts_tensors``.
        Separate from :meth:`write_frame` so that a pipeline can convert before queueing:
        at 5120x2880 a waiting frame is 22 MB in 8-bit 4:2:0 instead of 177 MB of floats.
        Reads only settings fixed at construction, so any thread may call it.
        """
        tensor = not isinstance(rgb, np.ndarray)
        size = tuple(rgb.shape[1:]) if tensor else rgb.shape[:2]
        if rgb.ndim != 3 or (rgb.shape[0] if tensor else rgb.shape[2]) != 3 or size != (self.height, self.width):
            layout = f"3x{self.height}x{self.width}" if tensor else f"{self.height}x{self.width}x3"
            raise ValueError(f"expected a {layout} frame, got {tuple(rgb.shape)}")
        return rgb_to_frame(rgb, self.pix_fmt, self._colour, self._codes, self._convert_pool)

    def frame_bytes(self) -> int:
        """Bytes of one frame made by :meth:`convert`."""
        fmt = av.VideoFormat(self.pix_fmt, self.width, self.height)
        return sum(c.width * c.height * ((c.bits + 7) // 8) for c in fmt.components)

    def write_frame(self, frame: av.VideoFrame, pts: int | None = None, duration: int | None = None) -> None:
        """Encode a frame from :meth:`convert`; ``pts``/``duration`` in the source time base."""
        if self._closed:
            raise ValueError("write() on a closed VideoWriter")
        frame.pts = self._next_pts(self._rescale(self._from_origin(pts)))
        frame.time_base = self._time_base
        self._last_duration = self._rescale(duration) or self._nominal_duration()
        frame.duration = self._last_duration
        # x264 and others hand back packets without a duration; the muxer then guesses the
        # last frame's from the frame rate (one tick for a cover's 90 kHz "rate").
        self._durations[frame.pts] = self._last_duration
        if self._journal is not None:
            self._source_pts[frame.pts] = pts
        try:
            packets = self._stream.encode(frame)
        except (av.FFmpegError, ValueError) as err:
            raise CodecError(f"{self.codec} failed on frame {self.frames_written}: {av_reason(err)}") from err
        self._mux_video(packets)
        self.frames_written += 1

    def _rescale(self, stamp: int | None) -> int | None:
        if stamp is None or self._time_base == self._input_time_base:
            return None if stamp is None else int(stamp)
        # Halves up, not to even: a stream half a tick off the grid (an MPEG-PS at 0.54 s
        # into 1/25 s) would otherwise map frames 14.5 and 15.5 apart but 13.5 and 14.5
        # onto one tick.
        return math.floor(stamp * self._input_time_base / self._time_base + Fraction(1, 2))

    def _from_origin(self, pts: int | None) -> int | None:
        # AVI plays every stream from its first chunk and fills a gap in the video with
        # empty slots, except before its first frame: a video that starts late (a TS
        # at 1.4 s, audio that leads) would freeze its first picture for that long.
        if pts is None or self.format_name != "avi":
            return pts
        if self._origin is None:
            self._origin = pts
        return pts - self._origin

    def _nominal_duration(self) -> int:
        return max(1, round(1 / (self._rate * self._time_base)))

    def _next_pts(self, pts: int | None) -> int:
        """The frame's own pts; encoders need them strictly increasing, so repair if not."""
        if pts is None:
            pts = 0 if self._last_pts is None else self._last_pts + self._last_duration
        elif self._last_pts is not None and pts <= self._last_pts:
            self._nudged += 1
            pts = self._last_pts + 1
        self._last_pts = int(pts)
        return self._last_pts

    def copy_journal(self) -> int:
        """Mux the packets an earlier run encoded (the journal's, up to where it resumes)
        before any new frame; returns how many. The frames that follow continue their clock."""
        copied = 0
        for packet, source_pts in self._journal.copied(self._time_base):
            if self.format_name == "avi" and self._origin is None and source_pts is not None:
                self._origin = source_pts  # AVI (no B-frames) shows its first packet first
            self._last_pts = packet.pts if self._last_pts is None else max(self._last_pts, packet.pts)
            self._last_duration = packet.duration or self._last_duration
            self._mux_video([packet], record=False)
            copied += 1
        self.frames_written += copied
        return copied

    def _mux_video(self, packets, record: bool = True) -> None:
        for packet in packets:
            duration = self._durations.pop(packet.pts, None)
            if not packet.duration and duration:
                packet.duration = duration
            if self._journal is not None and record:
                # Before muxing, which moves the packet's timestamps to the stream's time base.
                self._journal.record(packet, self._source_pts.pop(packet.pts, None))
            if self._extra is not None:
                self._extra.mux_until(packet_seconds(packet))
            try:
                self._out.mux(packet)
            except (av.FFmpegError, OSError) as err:
                raise OutputError(f"cannot write {self.shown_as}: {self._reason(err)}") from err

    def close(self) -> None:
        """Flush the encoder, carry the remaining streams over and finish the file."""
        if self._closed:
            return
        self._closed = True
        try:
            try:
                packets = self._stream.encode(None)
            except (av.FFmpegError, ValueError) as err:
                raise CodecError(f"{self.codec} failed while flushing: {av_reason(err)}") from err
            self._mux_video(packets)
            if self._extra is not None:
                self._extra.finish()
            self._out.close()
        except (av.FFmpegError, OSError) as err:
            raise OutputError(f"cannot finish {self.shown_as}: {self._reason(err)}") from err
        finally:
            self._release()
        if self._nudged:
            self.notes.append(f"{self._nudged} frame(s) had non-increasing timestamps and were nudged forward")

    def abort(self) -> None:
        """Close whatever is open without raising; the partial file is the caller's to delete."""
        self._closed = True
        try:
            self._out.close()
        except Exception:  # noqa: BLE001 - already failing; a second error would hide the first
            pass
        self._release()

    def _release(self) -> None:
        if self._convert_pool is not None:
            self._convert_pool.shutdown(wait=True)
            self._convert_pool = None
        if self._extra is not None:
            self._extra.close()
            self._extra = None
