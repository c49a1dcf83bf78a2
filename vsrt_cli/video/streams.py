"""Everything in the output besides the upscaled video: audio, subtitles, data, attachments.

``plan_stream_copy`` decides per source stream (copy / transcode / drop, with the
reason); ``PassThrough`` carries the plan out. It reads the source through a second
demuxer and is driven by the video writer: before each encoded video packet is muxed
it muxes every pending source packet that starts earlier, so memory stays flat however
long the file is, and packets are copied untouched (no decode) wherever possible.
"""

from __future__ import annotations

import errno
import math
from dataclasses import dataclass
from fractions import Fraction

import av

from ..errors import OutputError
from ._open import av_reason, open_input
from .containers import (
    container_format,
    container_label,
    muxer_accepts,
    supports_attachments,
    supports_chapters,
)
from .probe import StreamInfo
from .segment import SegmentClock, chapters_within
from .splice import PacketShifter, SplicePlan

# AC-3 and MP2 only for the MPEG program streams of DVDs and VCDs, which hold neither of the others.
_AUDIO_TARGETS = ("aac", "libopus", "ac3", "mp2")
_SUBTITLE_TARGETS = {"mp4": "mov_text", "mov": "mov_text", "webm": "webvtt"}
_TEXT_SUBTITLE_FALLBACKS = ("subrip", "ass", "webvtt", "mov_text")
_TARGET_LABELS = {
    "aac": "AAC", "libopus": "Opus", "ac3": "AC-3", "mp2": "MP2", "mov_text": "mov_text", "subrip": "SubRip", "webvtt": "WebVTT", "ass": "ASS",
}
# Tags that describe the old encode rather than the content; copying them would lie.
_STALE_TAGS = {"duration", "encoder", "number_of_frames", "number_of_bytes", "bps", "vendor_id"}
_BITRATE_PER_CHANNEL = 64_000
_MAX_AUDIO_BITRATE = 512_000
# libopus takes only the Vorbis channel orders: by channel count, what others become.
_OPUS_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}

# Fallback for text subtitle decoders that expose no header: encoders refuse to open
# without one.
_DEFAULT_ASS_HEADER = (
    "[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n"
    "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
    "OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, "
    "Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, "
    "Encoding\nStyle: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,"
    "2,10,10,10,0\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, "
    "MarginV, Effect, Text\n"
).encode()


@dataclass(frozen=True)
class StreamDecision:
    index: int
    kind: str
    codec_name: str
    action: str  # 'copy' | 'transcode' | 'drop'
    target: str | None = None  # encoder name when transcoding
    reason: str = ""  # user-facing note; empty for a plain copy

    @property
    def note(self) -> str | None:
        return self.reason or None


def plan_stream_copy(container_ext, streams, video_index: int | None = None) -> list[StreamDecision]:
    """Decide, for every stream except the upscaled video, how it reaches the output."""
    fmt = container_format(container_ext)
    streams = list(streams)
    if video_index is None:
        video_index = next((s.index for s in streams if s.kind == "video"), None)
    return [_decide(fmt, s) for s in streams if s.index != video_index]


def _decide(fmt: str, stream: StreamInfo) -> StreamDecision:
    label = container_label(fmt)
    where = f"stream #{stream.index} ({stream.codec_name})"
    if stream.kind == "video":
        return _drop(stream, f"only the first video stream is upscaled; video {where} dropped")
    if stream.kind == "attachment":
        if supports_attachments(fmt):
            return StreamDecision(stream.index, stream.kind, stream.codec_name, "copy")
        return _drop(stream, f"{label} cannot hold attachments; attachment {where} dropped")
    if stream.codec_name != "unknown" and muxer_accepts(fmt, stream.codec_name):
        return StreamDecision(stream.index, stream.kind, stream.codec_name, "copy")
    if stream.kind == "audio":
        return _audio_decision(fmt, stream, label, where)
    if stream.kind == "subtitle":
        return _subtitle_decision(fmt, stream, label, where)
    return _drop(stream, f"{label} cannot hold {stream.kind} {where}; dropped")


def _drop(stream: StreamInfo, reason: str) -> StreamDecision:
    return StreamDecision(stream.index, stream.kind, stream.codec_name, "drop", None, reason)


def _audio_decision(fmt: str, stream: StreamInfo, label: str, where: str) -> StreamDecision:
    order = ("libopus", "aac") if fmt == "webm" else _AUDIO_TARGETS
    for target in order:
        if _encoder_exists(target) and muxer_accepts(fmt, target):
            reason = (
                f"{label} cannot hold {stream.codec_name} audio; "
                f"audio {where} transcoded to {_TARGET_LABELS[target]}"
            )
            return StreamDecision(stream.index, "audio", stream.codec_name, "transcode", target, reason)
    return _drop(stream, f"{label} cannot hold audio {where}; dropped")


def _subtitle_decision(fmt: str, stream: StreamInfo, label: str, where: str) -> StreamDecision:
    if not is_text_subtitle(stream.codec_name):
        return _drop(stream, f"{label} cannot hold bitmap subtitles; subtitle {where} dropped")
    preferred = _SUBTITLE_TARGETS.get(fmt)
    candidates = (preferred,) if preferred else _TEXT_SUBTITLE_FALLBACKS
    for target in candidates:
        if _encoder_exists(target) and muxer_accepts(fmt, target):
            lost = " (styling is lost)" if stream.codec_name == "ass" else ""
            reason = (
                f"{label} cannot hold {stream.codec_name} subtitles; "
                f"subtitle {where} converted to {_TARGET_LABELS.get(target, target)}{lost}"
            )
            return StreamDecision(stream.index, "subtitle", stream.codec_name, "transcode", target, reason)
    return _drop(stream, f"{label} cannot hold subtitle {where}; dropped")


def is_text_subtitle(codec_name: str) -> bool:
    try:
        return bool(av.Codec(codec_name, "r").text_sub)
    except (ValueError, av.FFmpegError):
        return False


def _encoder_exists(name: str) -> bool:
    try:
        av.Codec(name, "w")
        return True
    except (ValueError, av.FFmpegError):
        return False


def clean_metadata(metadata) -> dict[str, str]:
    """Stream/container tags worth keeping (title, language, handler...), minus stale stats."""
    kept = {}
    for key, value in dict(metadata).items():
        low = key.lower()
        if low in _STALE_TAGS or low.startswith("_statistics"):
            continue
        kept[key] = value
    return kept


def packet_seconds(packet) -> float | None:
    """Decode time of a packet in seconds (presentation time if it has no dts)."""
    stamp = packet.dts if packet.dts is not None else packet.pts
    if stamp is None or not packet.time_base:
        return None
    return float(stamp * packet.time_base)


# Seconds, either side of a segment, within which packets of the other streams may lie
# in the file away from the video's (a muxer's interleaving).
_SEGMENT_SEEK_MARGIN_S = 2
# How far before a segment a subtitle line may start and still be on screen in it: lines
# last a few seconds, rarely more than ten.
_SUBTITLE_REACH_S = 30


class _Copy:
    """Packets go through untouched: same bytes, same timestamps."""

    def __init__(self, source, output):
        self.output = output
        self.stream = output.add_stream_from_template(source)

    def mux(self, packet) -> None:
        packet.stream = self.stream
        self.output.mux(packet)

    def flush(self) -> None:
        return None


class _AudioTranscode:
    def __init__(self, source, output, encoder: str):
        self.source = source
        self.output = output
        decoder = source.codec_context
        rate = _encoder_rate(encoder, decoder.sample_rate)
        layout = _encoder_layout(encoder, decoder.layout)
        channels = max(1, decoder.channels or 2)
        bit_rate = min(_BITRATE_PER_CHANNEL * channels, _MAX_AUDIO_BITRATE)
        # A stream cannot be taken out of the output once added, so the encoder is tried
        # on its own first: if it refuses these settings, only this stream is dropped.
        _try_audio_encoder(encoder, rate, layout, bit_rate)
        self.stream = output.add_stream(encoder, rate=rate)
        # PyAV's encoder resamples decoded frames to this layout and rate.
        self.stream.layout = layout
        self.stream.bit_rate = bit_rate
        self.stream.time_base = Fraction(1, rate)
        self.stream.codec_context.time_base = Fraction(1, rate)

    def mux(self, packet) -> None:
        for frame in self.source.decode(packet):
            self.output.mux(self.stream.encode(frame))

    def flush(self) -> None:
        for frame in self.source.decode(None):
            self.output.mux(self.stream.encode(frame))
        self.output.mux(self.stream.encode(None))


def _encoder_layout(encoder: str, layout) -> str:
    if encoder != "libopus" or layout.name in _OPUS_LAYOUTS.values():
        return layout.name
    return _OPUS_LAYOUTS.get(min(layout.nb_channels, 8), "stereo")


def _try_audio_encoder(encoder: str, rate: int, layout: str, bit_rate: int) -> None:
    trial = av.CodecContext.create(encoder, "w")
    trial.sample_rate = rate
    trial.layout = layout
    trial.format = trial.codec.audio_formats[0]
    trial.bit_rate = bit_rate
    trial.time_base = Fraction(1, rate)
    trial.open()


def _encoder_rate(encoder: str, source_rate: int) -> int:
    """Keep the source rate when the encoder allows it (Opus only runs at 48k and below)."""
    rates = av.Codec(encoder, "w").audio_rates
    if not rates or source_rate in rates:
        return source_rate or 48000
    return 48000 if 48000 in rates else max(rates)


class _SubtitleTranscode:
    """Text subtitles decoded to ASS events and re-encoded; timing comes from the source."""

    def __init__(self, source, output, encoder: str):
        self.output = output
        self.decoder = source.codec_context
        # Opening the decoder is what makes it produce its ASS header.
        self.decoder.open(strict=False)
        self.stream = output.add_stream(encoder)
        self.stream.codec_context.subtitle_header = self.decoder.subtitle_header or _DEFAULT_ASS_HEADER

    def mux(self, packet) -> None:
        cue = self.decoder.decode2(packet)
        if cue is None:
            return
        encoded = self.stream.codec_context.encode_subtitle(cue)
        encoded.stream = self.stream
        encoded.time_base = packet.time_base
        encoded.pts = packet.pts
        encoded.dts = packet.dts if packet.dts is not None else packet.pts
        encoded.duration = packet.duration
        self.output.mux(encoded)

    def flush(self) -> None:
        return None


class _StartAtZero:
    """Moves each stream to start at zero, as AVI will play it anyway.

    AVI stores no start times: every stream plays from its first chunk (the video
    writer moves the video the same way). FFmpeg's muxer would instead move all streams
    by the earliest negative timestamp (AAC's priming), which AVI turns into an empty
    frame slot after the first picture. What sync AVI cannot store,
    ``avi_audio_offset_notes`` tells the user.
    """

    def __init__(self):
        self._ticks: dict[int, int] = {}

    def shift(self, packet) -> None:
        stamp = packet.dts if packet.dts is not None else packet.pts
        if stamp is None:
            return
        ticks = self._ticks.setdefault(packet.stream_index, -stamp)
        if packet.pts is not None:
            packet.pts += ticks
        if packet.dts is not None:
            packet.dts += ticks


class PassThrough:
    """Carries out a stream plan from a second demuxer of the source file.

    ``splices`` is the source's plan for restarting timestamps (see :mod:`.splice`); its
    packets are shifted by it exactly as the video reader shifts the video's. With a
    ``segment`` only the packets that start within it are carried, moved as the video is.
    """

    def __init__(
        self,
        source_path,
        output,
        decisions,
        notes: list[str],
        splices: SplicePlan = SplicePlan(),
        segment: SegmentClock | None = None,
        shown_as=None,
    ):
        self._output = output
        self._shown_as = shown_as or output.name  # the target named in errors, not its temporary name
        self._shifter = PacketShifter(splices)
        self._segment = segment
        self._start_at_zero = _StartAtZero() if output.format.name == "avi" else None
        self._notes = notes
        self._input = open_input(source_path)
        if segment is not None and not splices:
            # Before the streams are set up: a failed seek means opening the file anew.
            carries_subtitles = any(d.kind == "subtitle" and d.action != "drop" for d in decisions)
            reach = _SUBTITLE_REACH_S if carries_subtitles else _SEGMENT_SEEK_MARGIN_S
            self._seek_before(source_path, segment.begin - reach)
        self._routes: dict[int, object] = {}
        self._pending = None
        self._packets = None
        self._failed_packets = 0
        self._backward_packets = 0
        try:
            self._setup(decisions)
        except Exception:
            self.close()
            raise
        streams = [self._input.streams[i] for i in self._routes]
        self._packets = self._input.demux(*streams) if streams else None

    def _seek_before(self, source_path, seconds) -> None:
        # A demuxer seeks by the video's keyframes and the other streams' packets lie up
        # to about a second either side of them in the file, so the caller asks for a
        # time this much earlier; what comes before the segment is dropped as it is read.
        if seconds <= 0:
            return  # just opened: at the start already
        try:
            self._input.seek(math.floor(seconds * av.time_base), backward=True)
        except (av.FFmpegError, OSError):
            # Some demuxers (FLV) refuse some seeks: read from the start instead.
            self._input.close()
            self._input = open_input(source_path)

    def _setup(self, decisions) -> None:
        for decision in decisions:
            if decision.note:
                self._notes.append(decision.note)
            if decision.action == "drop":
                continue
            source = self._input.streams[decision.index]
            try:
                self._add(decision, source)
            except (av.FFmpegError, ValueError) as err:
                self._notes.append(
                    f"{decision.kind} stream #{decision.index} ({decision.codec_name}) could not be "
                    f"carried over and was dropped: {av_reason(err)}"
                )
        self._copy_chapters()
        self._output.metadata.update(clean_metadata(self._input.metadata))

    def _add(self, decision: StreamDecision, source) -> None:
        if decision.kind == "attachment":
            name = source.metadata.get("filename", f"attachment{decision.index}")
            self._output.add_attachment(name, source.mimetype or "application/octet-stream", source.data)
            return
        if decision.action == "copy":
            route = _Copy(source, self._output)
        elif decision.kind == "audio":
            route = _AudioTranscode(source, self._output, decision.target)
        else:
            route = _SubtitleTranscode(source, self._output, decision.target)
        route.stream.metadata.update(clean_metadata(source.metadata))
        route.stream.disposition = int(source.disposition)
        self._routes[decision.index] = route

    def _copy_chapters(self) -> None:
        chapters = self._input.chapters()
        if self._segment is not None:
            chapters = chapters_within(chapters, self._segment)
        if not chapters:
            return
        if not supports_chapters(self._output.format.name):
            label = container_label(self._output.format.name)
            self._notes.append(f"{label} cannot hold chapters; {len(chapters)} dropped")
            return
        try:
            self._output.set_chapters(chapters)
        except (av.FFmpegError, ValueError, TypeError) as err:
            self._notes.append(f"chapters could not be copied: {av_reason(err)}")

    def mux_until(self, seconds: float | None) -> None:
        """Mux every pending source packet that starts before ``seconds`` (None: all)."""
        limit = math.inf if seconds is None else seconds
        while True:
            packet = self._peek()
            if packet is None:
                return
            start = packet_seconds(packet)
            if start is not None and start >= limit:
                return
            self._pending = None
            self._route(packet)

    def finish(self) -> None:
        self.mux_until(None)
        for route in self._routes.values():
            try:
                route.flush()
            except av.FFmpegError as err:
                raise OutputError(
                    f"cannot finish {self._shown_as} ({route.stream.type} stream): {av_reason(err)}"
                ) from err
        if self._failed_packets:
            self._notes.append(
                f"{self._failed_packets} damaged packet(s) of the audio/subtitle streams were skipped"
            )
        if self._backward_packets:
            self._notes.append(
                f"{self._backward_packets} audio/subtitle packet(s) whose timestamps went backwards were skipped"
            )

    def close(self) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None
            self._packets = None

    def _peek(self):
        while self._pending is None and self._packets is not None:
            try:
                packet = next(self._packets)
            except StopIteration:
                self._packets = None
                return None
            except (av.FFmpegError, OSError):
                # The source ends in damage: keep everything read so far.
                self._failed_packets += 1
                self._packets = None
                return None
            if packet.size:
                self._shifter.shift(packet)
                if self._segment is not None and not self._within_segment(packet):
                    continue
                if self._start_at_zero is not None:
                    self._start_at_zero.shift(packet)
                self._pending = packet
        return self._pending

    def _within_segment(self, packet) -> bool:
        """Whether the packet belongs to the segment; if so it is moved as the video is.

        Audio and data packets belong when they start within it. A subtitle belongs when
        it is on screen at any time within it, and is cut to it: a line that began just
        before the start is shown from the start, and none outlasts the video.
        """
        segment = self._segment
        stamp = packet.pts if packet.pts is not None else packet.dts
        if stamp is None or not packet.time_base:
            return False
        time_base = packet.time_base
        seconds = stamp * time_base
        if segment.after(seconds - _SEGMENT_SEEK_MARGIN_S):
            self._packets = None  # well past the end: nothing later can start inside
            return False
        if segment.after(seconds):
            return False
        ticks = segment.ticks(time_base)
        if packet.stream.type == "subtitle" and packet.duration:
            until = seconds + packet.duration * time_base
            if until <= segment.begin:
                return False
            stamp = max(stamp, ticks)
            if segment.end is not None:
                until = min(until, segment.end)
            packet.duration = max(1, math.floor(until / time_base) - stamp)
        elif segment.before(seconds):
            return False
        packet.pts = stamp - ticks
        packet.dts = packet.pts if packet.dts is None or packet.stream.type == "subtitle" else packet.dts - ticks
        return True

    def _route(self, packet) -> None:
        route = self._routes.get(packet.stream_index)
        if route is None:
            return
        try:
            route.mux(packet)
        except av.error.InvalidDataError:
            self._failed_packets += 1
        except (av.FFmpegError, OSError) as err:
            if getattr(err, "errno", None) == errno.EINVAL:
                # What muxers answer to a timestamp earlier than the stream's last: a slip
                # too small to be a join (see splice.py) costs that packet, not the file.
                self._backward_packets += 1
                return
            raise OutputError(f"cannot write {self._shown_as} ({route.stream.type} stream): {av_reason(err)}") from err
