"""Streaming decode of a file's video stream into float32 RGB frames."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import InputError
from ._open import av_reason, open_input
from .numbering import frame_path
from .colour import resolve_colour
from .convert import frame_to_rgb
from .deinterlace import Deinterlacer, check_deinterlace_mode
from .fit import Placement, fit_picture, fit_placement
from .probe import VideoInfo, probe
from .segment import Segment, SegmentClock
from .splice import PacketShifter


# How far before a segment's start to seek, in turn, when a seek lands after it (some
# demuxers seek to the nearest keyframe, not the one before).
_SEEK_MARGINS_S = (0, 5, 30, 300)


def _stamp(packet_or_frame):
    return packet_or_frame.pts if packet_or_frame.pts is not None else packet_or_frame.dts


@dataclass(frozen=True, eq=False)
class Frame:
    index: int
    rgb: np.ndarray  # float32 HxWx3 in [0, 1]
    pts: int | None
    time_base: Fraction
    duration: int | None


class VideoReader:
    """Iterate decoded frames in presentation order, holding only a few at a time.

    Frames that fail to decode are skipped and counted in ``decode_errors`` so a
    damaged file still yields everything before (and after) the damage; only a file
    where no frame decodes at all raises InputError.

    ``deinterlace``: ``on`` runs bwdif on every frame, ``off`` on none, and ``auto`` on the
    frames the decoder flags as interlaced, from the first such frame on, wherever it comes:
    a capture may turn interlaced after a progressive intro. ``interlaced_frames`` counts
    the flagged frames and ``deinterlaced`` says whether bwdif ran.

    Every frame comes out at the size of the first (``info``'s): pictures of another size
    are fitted to it (see fit.py), counted in ``refitted_frames``, their sizes listed in
    ``refitted_sizes`` and ``refit_bordered`` set when one needed borders to keep its shape.

    ``segment`` limits the frames to a part of the video (see segment.py), read from a
    keyframe before its start; their timestamps are moved so that the part starts at zero.
    ``resume_at`` (instead) gives the frames from the one with that pts on, their timestamps
    as they are: a resumed run (see pipeline/resume.py) goes on where it stopped.

    ``path`` may name numbered pictures (``scan/%06d.dpx``, see numbering.py), read as a
    video at ``frame_rate`` frames a second (None: FFmpeg's 25).
    """

    def __init__(
        self,
        path,
        threads: int = 0,
        deinterlace: str = "off",
        segment: Segment | None = None,
        resume_at: int | None = None,
        frame_rate=None,
    ):
        self.deinterlace = check_deinterlace_mode(deinterlace)
        self.path = Path(path)
        self._frame_rate = frame_rate  # of numbered pictures; a video has its own
        self.info: VideoInfo = probe(self.path, frame_rate)
        # Numbered pictures are read strictly: a picture that does not decode is a frame
        # missing from the film, not damage to step over (see _picture_lost).
        self._first_picture = self.info.first_picture
        self.keep_timestamps = resume_at is not None
        if resume_at is not None:  # from that frame on, on the file's own clock
            segment = Segment(max(Fraction(0), Fraction(resume_at) * self.info.time_base - self.origin))
        self.segment = segment if segment is not None and not segment.whole else None
        self.clock: SegmentClock | None = self.segment.clock(self.origin) if self.segment else None
        self.decode_errors = 0
        self.corrupt_frames = 0
        self.interlaced_frames = 0
        self.frames_read = 0
        self._reset_refit()
        self._threads = threads
        self._container = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    @property
    def origin(self) -> Fraction:
        """Seconds on the file's clock of its first video frame, where ``segment`` counts from."""
        info = self.info
        return Fraction(info.start_pts) * info.time_base if info.start_pts is not None else Fraction(0)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __iter__(self) -> Iterator[Frame]:
        self.close()
        self.decode_errors = self.corrupt_frames = self.interlaced_frames = self.frames_read = 0
        self._reset_refit()
        # Local to this generator: an abandoned earlier iterator, finalised late,
        # must not close the container a newer one is reading.
        container = self._container = open_input(self.path, self._frame_rate)
        stream = container.streams[self.info.video_index]
        # Frame threads report a picture's decode error a few pictures late, which would
        # name the wrong file; a picture decodes fast enough alone.
        stream.thread_type = "AUTO" if self._first_picture is None else "SLICE"
        if self._first_picture is not None and stream.codec_context.name == "mjpeg":
            # Without it FFmpeg's JPEG decoder fills in a truncated picture and says nothing
            # (TIFF's decoder, so told, refuses good pictures: it is asked of JPEG alone).
            stream.codec_context.options = {**stream.codec_context.options, "err_detect": "explode"}
        stream.thread_count = self._threads
        deinterlacer = Deinterlacer(every_frame=True) if self.deinterlace == "on" else None
        try:
            for decoded in self._decoded(container, stream):
                if decoded.is_corrupt:
                    self.corrupt_frames += 1
                if decoded.interlaced_frame:
                    self.interlaced_frames += 1
                    if deinterlacer is None and self.deinterlace == "auto":
                        # Frames before this one went out as they were; bwdif keeps their
                        # order by holding back only frames from here on.
                        deinterlacer = Deinterlacer(every_frame=False)
                if deinterlacer is None:
                    yield self._to_frame(decoded, stream)
                    continue
                for progressive in deinterlacer.push(decoded):
                    yield self._to_frame(progressive, stream)
            if deinterlacer is not None:
                for progressive in deinterlacer.flush():
                    yield self._to_frame(progressive, stream)
        finally:
            container.close()
            if self._container is container:
                self._container = None
        if self.frames_read == 0 and self.segment is not None:
            raise InputError(
                f"{self.path}: no video frame from {self.segment.describe()} (past the last frame, or between two)"
            )
        if self.frames_read == 0:
            raise InputError(f"no frame could be decoded from {self.path} (file damaged or truncated)")
        if self._first_picture is not None and self.segment is None and self.frames_read < self.info.n_frames:
            raise self._picture_lost(self.frames_read, "could not be read")

    @property
    def deinterlaced(self) -> bool:
        """Whether the last iteration ran frames through bwdif."""
        return self.deinterlace == "on" or (self.deinterlace == "auto" and self.interlaced_frames > 0)

    def _decoded(self, container, stream):
        """The part's av.VideoFrames (every frame without a part), read from a keyframe
        before it; decode and demux errors end up in ``decode_errors``."""
        clock = self.clock
        # Joined pieces restart their clocks, so a time to seek to has no one place:
        # those files are read from the beginning.
        if clock is None or clock.begin <= self.origin or self.info.splices or self.info.cover_art:
            yield from self._within_segment(self._decode(container.demux(stream), stream))
            return
        for target in self._seek_targets(clock.begin):
            landed = self._packets_after_seek(container, stream, target, clock.begin)
            if landed is None:
                continue
            key_stamp, packets = landed
            frames = self._decode(packets, stream)
            first = next(frames, None)
            if first is None or first.is_corrupt or _stamp(first) is None or _stamp(first) > key_stamp:
                # A keyframe the decoder cannot restart at (an H.264 I-frame that is not an
                # IDR, say): its picture came out damaged, or not at all, so go further back.
                frames.close()
                stream.codec_context.flush_buffers()
                self.decode_errors = 0
                continue
            yield from self._within_segment(itertools.chain([first], frames))
            return
        # Every seek failed, landed after the start or gave damage: read it all.
        stream.codec_context.flush_buffers()
        self.decode_errors = 0
        yield from self._within_segment(self._decode(self._packets_from_start(stream), stream))

    def _decode(self, packets, stream):
        # Shifted before decoding, so that frames and bwdif see one increasing clock.
        shifter = PacketShifter(self.info.splices)
        try:
            for packet in packets:
                shifter.shift(packet)
                yield from self._decode_packet(stream, packet)
        except (av.FFmpegError, OSError):
            # The demuxer itself gave up (e.g. the file is cut short): keep what we have.
            self.decode_errors += 1
        yield from self._decode_packet(stream, None)

    def _seek_targets(self, begin) -> list[Fraction]:
        """Times to seek to, nearest first; the file's start is the fallback, not one of them."""
        targets = []
        for margin in _SEEK_MARGINS_S:
            target = begin - margin
            if target <= self.origin:
                break
            targets.append(target)
        return targets

    def _packets_after_seek(self, container, stream, target, begin):
        """(The keyframe's time stamp, packets from it) after a seek to ``target``, or None
        when the seek fails or lands after ``begin`` (some demuxers seek to the nearest
        keyframe)."""
        try:
            container.seek(math.floor(target / stream.time_base), stream=stream, backward=True)
        except (av.FFmpegError, OSError):
            return None
        packets = container.demux(stream)
        # Packets before the first keyframe cannot be decoded: they are skipped.
        key = next((p for p in packets if p.is_keyframe and _stamp(p) is not None), None)
        if key is None or _stamp(key) * stream.time_base > begin:
            return None
        return _stamp(key), itertools.chain([key], packets)

    def _packets_from_start(self, stream):
        # A file opened anew: some demuxers (FLV) refuse a seek back to the start.
        with open_input(self.path, self._frame_rate) as container:
            yield from container.demux(container.streams[stream.index])

    def _within_segment(self, decoded_frames):
        """Frames of the segment only; stops decoding once past its end."""
        clock = self.clock
        for decoded in decoded_frames:
            if clock is not None and not self.info.cover_art:
                stamp = _stamp(decoded)
                if stamp is not None:
                    seconds = stamp * (decoded.time_base or Fraction(self.info.time_base))
                    if clock.before(seconds):
                        continue
                    if clock.after(seconds):
                        return
            yield decoded

    def _decode_packet(self, stream, packet):
        try:
            frames = stream.decode(packet)
        except av.error.EOFError:
            # The demuxer's final empty packet already flushed the decoder.
            return
        except (av.FFmpegError, OSError):
            if self._first_picture is not None:
                raise self._picture_lost(packet.pts if packet is not None else None, "does not decode") from None
            self.decode_errors += 1
            return
        yield from frames

    def _picture_lost(self, index: int | None, why: str) -> InputError:
        """The error for numbered pictures whose ``index``-th (from 0) cannot be used."""
        name = "a picture" if index is None else frame_path(self.path, self._first_picture + index).name
        return InputError(f"{self.path}: {name} {why} (damaged?); vsrt reads a sequence whole")

    def _to_frame(self, decoded, stream) -> Frame:
        colour = self._frame_colour(decoded)
        try:
            rgb = frame_to_rgb(decoded, colour)
        except (av.FFmpegError, ValueError) as err:
            raise InputError(
                f"cannot convert a {decoded.format.name} frame of {self.path} to RGB: {av_reason(err)}"
            ) from err
        if (decoded.width, decoded.height) != (self.info.width, self.info.height):
            rgb = self._refit(rgb, stream)
        time_base = decoded.time_base or stream.time_base
        pts = _stamp(decoded)
        if pts is not None and self.clock is not None and not self.info.cover_art and not self.keep_timestamps:
            pts -= self.clock.ticks(time_base)
        frame = Frame(
            index=self.frames_read,
            rgb=rgb,
            pts=pts,
            time_base=time_base,
            duration=decoded.duration or None,
        )
        self.frames_read += 1
        return frame

    def _reset_refit(self) -> None:
        self.refitted_frames = 0
        self.refitted_sizes: list[tuple[int, int]] = []
        self.refit_bordered = False
        self._placements: dict[tuple, Placement] = {}

    def _refit(self, rgb: np.ndarray, stream) -> np.ndarray:
        size = (rgb.shape[1], rgb.shape[0])
        target = (self.info.width, self.info.height)
        # Frames carry no pixel aspect in PyAV; the decoder's is that of the picture it
        # just decoded (it changes with the bitstream's headers).
        pixel_aspect = stream.codec_context.sample_aspect_ratio
        pixel_aspect = Fraction(pixel_aspect) if pixel_aspect and pixel_aspect > 0 else None
        key = (size, pixel_aspect)
        if key not in self._placements:
            self._placements[key] = fit_placement(size, pixel_aspect, target, self.info.sample_aspect_ratio)
        placement = self._placements[key]
        self.refitted_frames += 1
        if size not in self.refitted_sizes:
            self.refitted_sizes.append(size)
        self.refit_bordered |= not placement.fills(target)
        return fit_picture(rgb, placement, target)

    @staticmethod
    def _frame_colour(decoded):
        """Per-frame tags, not the header's: broadcast streams may switch mid-way."""
        return resolve_colour(
            decoded.width, decoded.height, decoded.format.name, decoded.colorspace,
            decoded.color_range, decoded.color_primaries, decoded.color_trc,
        )
