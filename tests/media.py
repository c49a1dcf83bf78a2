"""Synthetic test media, written with PyAV directly (never through ``vsrt_cli.video``).

Keeping the generator independent of the code under test means a bug in the
reader/writer cannot hide itself by being present on both sides of an assertion.
The content is a smooth, textured pattern with a few hard edges that drifts by a
sub-pixel amount per frame, so it looks like camera footage to codecs and models
rather than like noise or flat colour.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
from av.video.reformatter import Interpolation

# swscale's defaults trade accuracy for speed (about 4/255 off on textured chroma);
# these flags make it a trustworthy reference.
_ACCURATE = (
    Interpolation.BICUBIC | Interpolation.ACCURATE_RND
    | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP
)

# FFmpeg enum values (AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic).
_COLOUR_TAGS = {
    "bt709": (1, 1, 1),
    "bt601": (6, 6, 6),
    "bt2020": (9, 9, 14),
}
# swscale's own colourspace ids, which differ from the AVColorSpace ids above.
_SWS_MATRIX = {"bt709": "itu709", "bt601": "itu601", "bt2020": "bt2020"}

_RANGE_TV = 1
_RANGE_PC = 2

# A minimal ASS header: FFmpeg's text-subtitle encoders refuse to open without one.
ASS_HEADER = (
    "[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n"
    "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
    "OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, "
    "Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, "
    "MarginV, Encoding\nStyle: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,"
    "100,100,0,0,1,1,0,2,10,10,10,0\n\n[Events]\nFormat: Layer, Start, End, Style, "
    "Name, MarginL, MarginR, MarginV, Effect, Text\n"
).encode()

SUBTITLE_LINES = ("First line", "Second line", "Third line")
VFR_PATTERN = (1.0, 1.5, 0.5, 2.0, 1.0, 0.75)


class DecodedVideo(NamedTuple):
    frames: list[np.ndarray]  # float32 HxWx3 in [0, 1]
    pts: list[int | None]
    time_base: Fraction


def pattern(width: int, height: int, t: float) -> np.ndarray:
    """Float32 RGB in [0.05, 0.95]: sinusoids, a gradient and a hard-edged disc.

    ``t`` shifts the whole scene by a sub-pixel amount, so consecutive frames are
    related by motion the way real video is.
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    x = xx - 0.37 * t
    y = yy - 0.21 * t
    r = 0.5 + 0.25 * np.sin(x / 5.3) * np.cos(y / 7.1) + 0.15 * (x / max(width, 1) - 0.5)
    g = 0.5 + 0.3 * np.sin((x + 2 * y) / 11.0)
    b = 0.45 + 0.2 * np.cos(y / 4.7) + 0.1 * np.sin(x / 2.9)
    disc = (x - width * 0.6) ** 2 + (y - height * 0.45) ** 2 < (min(width, height) * 0.22) ** 2
    r = np.where(disc, 0.85, r)
    g = np.where(disc, 0.2, g)
    b = np.where(xx > width * 0.8, 0.9, b)
    rgb = np.stack([r, g, b], axis=-1)
    return np.clip(rgb, 0.05, 0.95).astype(np.float32)


def frame_times(frames: int, fps: float, vfr: bool) -> list[Fraction]:
    """Presentation times in seconds; VFR cycles through irregular frame durations."""
    step = Fraction(1) / Fraction(fps).limit_denominator(1001)
    times, now = [], Fraction(0)
    for i in range(frames):
        times.append(now)
        factor = Fraction(VFR_PATTERN[i % len(VFR_PATTERN)]) if vfr else Fraction(1)
        now += step * factor
    return times


def make_video(
    path,
    width: int = 96,
    height: int = 64,
    frames: int = 12,
    fps: float = 24,
    vfr: bool = False,
    bit_depth: int = 8,
    audio_tracks: int = 1,
    subtitles: bool | str = False,
    codec: str = "libx264",
    pix_fmt: str | None = None,
    colour: str | None = "bt709",
    audio_rate: int = 48000,
    audio_codec: str | None = None,
    audio_layout: str = "stereo",
    full_range: bool = False,
    rotation: int = 0,
    x26x_params: str | None = None,
    sample_aspect_ratio: Fraction | None = None,
    title: str | None = None,
    content=None,
    crf: int = 12,
    faststart: bool = False,
    chapters: int = 0,
    attachment: bool = False,
) -> Path:
    """Write a small video file; the container comes from the extension of ``path``.

    ``subtitles`` may be True (SubRip), ``"srt"``, ``"ass"`` or ``"mov_text"``.
    ``content(width, height, index) -> float32 HxWx3`` replaces the default pattern;
    ``crf=0`` makes libx264 lossless. ``faststart`` puts an MP4's index first, which
    is what lets a truncated MP4 still be opened. ``chapters`` splits the duration into
    that many named chapters; ``attachment`` embeds a small font file (Matroska only).
    Odd sizes get 4:4:4 unless ``pix_fmt`` says otherwise, since 4:2:0 needs even sizes.
    """
    path = Path(path)
    pix_fmt = pix_fmt or _default_pix_fmt(width, height, bit_depth, full_range)
    times = frame_times(frames, fps, vfr)
    time_base = Fraction(1, 1000) if vfr else 1 / Fraction(fps).limit_denominator(1001)
    duration = times[-1] + (times[-1] - times[-2] if frames > 1 else time_base) if frames else 0
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", container_options=options) as out:
        if title:
            out.metadata["title"] = title
        if chapters:
            out.set_chapters(_chapters(chapters, duration))
        if attachment:
            out.add_attachment("font.ttf", "application/x-truetype-font", b"\x00\x01\x00\x00fake font")
        video = _add_video(out, codec, width, height, pix_fmt, fps, time_base, colour, full_range, crf)
        if x26x_params:
            key = "x265-params" if codec == "libx265" else "x264-params"
            video.options = {**video.options, key: ":".join(filter(None, (video.options.get(key), x26x_params)))}
        if rotation:
            video.set_display_rotation(rotation)
        if sample_aspect_ratio:
            video.codec_context.sample_aspect_ratio = sample_aspect_ratio
        audio = [
            _add_audio(out, _audio_codec(path, audio_codec), audio_rate, k, audio_layout) for k in range(audio_tracks)
        ]
        subs = _add_subtitles(out, path, subtitles) if subtitles else None
        packets = []
        for i, t in enumerate(times):
            rgb = content(width, height, i) if content else pattern(width, height, i)
            frame = _rgb_to_frame(rgb, pix_fmt, colour, full_range)
            frame.pts = int(t / time_base)
            frame.time_base = time_base
            packets += video.encode(frame)
        packets += video.encode(None)
        for k, stream in enumerate(audio):
            packets += _encode_tone(stream, audio_rate, float(duration), 440.0 * (1 + 0.5 * k))
        if subs is not None:
            packets += _encode_subtitles(subs, float(duration))
        for packet in sorted(packets, key=_packet_seconds):
            out.mux(packet)
    return path


def _chapters(count: int, duration: Fraction) -> list[dict]:
    span = Fraction(duration) / count
    return [
        {"id": i + 1, "start": int(i * span * 1000), "end": int((i + 1) * span * 1000),
         "time_base": Fraction(1, 1000), "metadata": {"title": f"Chapter {i + 1}"}}
        for i in range(count)
    ]


def _default_pix_fmt(width: int, height: int, bit_depth: int, full_range: bool) -> str:
    chroma = "444" if width % 2 or height % 2 else "420"
    if bit_depth > 8:
        return f"yuv{chroma}p{bit_depth}le"
    return f"yuvj{chroma}p" if full_range else f"yuv{chroma}p"


def _audio_codec(path: Path, requested: str | None) -> str:
    if requested:
        return requested
    # AVI cannot express AAC's negative start (encoder priming): its muxer then
    # shifts the video timestamps, so AVI test files get PCM instead.
    return {".webm": "libopus", ".avi": "pcm_s16le"}.get(path.suffix.lower(), "aac")


def _add_video(out, codec, width, height, pix_fmt, fps, time_base, colour, full_range, crf):
    stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.time_base = time_base
    stream.codec_context.time_base = time_base
    if codec in ("libx264", "libx265"):
        stream.options = {"preset": "ultrafast", "crf": str(crf)}
    if codec == "libx265":
        stream.options["x265-params"] = "log-level=error"
    if colour:
        spc, prim, trc = _COLOUR_TAGS[colour]
        stream.codec_context.colorspace = spc
        stream.codec_context.color_primaries = prim
        stream.codec_context.color_trc = trc
    if colour or full_range:
        stream.codec_context.color_range = _RANGE_PC if full_range else _RANGE_TV
    return stream


def _rgb_to_frame(rgb: np.ndarray, pix_fmt: str, colour: str | None, full_range: bool):
    """Convert through swscale so the reference path shares no code with vsrt_cli."""
    deep = av.VideoFormat(pix_fmt).components[0].bits > 8
    if deep:
        src = av.VideoFrame.from_ndarray(np.round(rgb * 65535).astype(np.uint16), format="rgb48le")
    else:
        src = av.VideoFrame.from_ndarray(np.round(rgb * 255).astype(np.uint8), format="rgb24")
    return src.reformat(
        format=pix_fmt,
        dst_colorspace=_SWS_MATRIX.get(colour or "bt601", "itu601"),
        dst_color_range=_RANGE_PC if full_range else _RANGE_TV,
        interpolation=_ACCURATE,
    )


def _add_audio(out, codec: str, rate: int, track: int, layout: str = "stereo"):
    stream = out.add_stream(codec, rate=rate)
    stream.layout = layout
    stream.metadata["language"] = ("eng", "deu", "fra", "spa")[track % 4]
    stream.metadata["title"] = f"Tone {track + 1}"
    return stream


def _encode_tone(stream, rate: int, seconds: float, freq: float) -> list:
    total = max(int(round(seconds * rate)), 1)
    chunk = 1024
    packets = []
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        t = (np.arange(start, start + n) / rate).astype(np.float64)
        tone = (0.3 * np.sin(2 * math.pi * freq * t)).astype(np.float32)
        layout = stream.codec_context.layout
        frame = av.AudioFrame.from_ndarray(np.stack([tone] * layout.nb_channels), format="fltp", layout=layout.name)
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        packets += stream.encode(frame)
    packets += stream.encode(None)
    return packets


def _add_subtitles(out, path: Path, kind: bool | str):
    if kind is True:
        kind = "mov_text" if path.suffix.lower() in (".mp4", ".mov", ".m4v") else "srt"
    codec = {"srt": "subrip", "subrip": "subrip", "ass": "ass", "mov_text": "mov_text", "webvtt": "webvtt"}[kind]
    stream = out.add_stream(codec)
    stream.codec_context.subtitle_header = ASS_HEADER
    stream.metadata["language"] = "eng"
    stream.metadata["title"] = "Captions"
    return stream


def _encode_subtitles(stream, seconds: float) -> list:
    """Evenly spaced cues in milliseconds; the muxer rescales them to its own time base."""
    span = max(int(seconds * 1000) // len(SUBTITLE_LINES), 1)
    packets = []
    for i, text in enumerate(SUBTITLE_LINES):
        cue = av.subtitles.subtitle.SubtitleSet.create(
            f"{i},0,Default,,0,0,0,,{text}".encode(), 0, span, 0
        )
        packet = stream.codec_context.encode_subtitle(cue)
        packet.stream = stream
        packet.time_base = Fraction(1, 1000)
        packet.pts = packet.dts = i * span
        packet.duration = span
        packets.append(packet)
    return packets


def _packet_seconds(packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    if stamp is None or packet.time_base is None:
        return -math.inf
    return float(stamp * packet.time_base)


def _guess_sws_matrix(frame) -> str:
    code = frame.colorspace
    if code == 1:
        return "itu709"
    if code in (9, 10):
        return "bt2020"
    if code in (5, 6):
        return "itu601"
    return "itu709" if frame.height >= 720 or frame.width >= 1280 else "itu601"


def read_frames(path) -> DecodedVideo:
    """Every frame as float32 RGB via swscale, honouring the frame's matrix and range."""
    frames, pts = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        for frame in container.decode(stream):
            full = frame.color_range == _RANGE_PC or frame.format.name.startswith("yuvj")
            rgb = frame.reformat(
                format="rgb48le",
                src_colorspace=_guess_sws_matrix(frame),
                src_color_range=_RANGE_PC if full else _RANGE_TV,
                dst_color_range=_RANGE_PC,
                interpolation=_ACCURATE,
            ).to_ndarray()
            frames.append(rgb.astype(np.float32) / 65535.0)
            pts.append(frame.pts)
    return DecodedVideo(frames, pts, time_base)


def audio_packets(path) -> dict[int, list[tuple[int | None, bytes]]]:
    """Stream index -> [(pts, payload)] for every audio stream, in demux order."""
    result: dict[int, list[tuple[int | None, bytes]]] = {}
    with av.open(str(path)) as container:
        streams = list(container.streams.audio)
        for stream in streams:
            result[stream.index] = []
        for packet in container.demux(*streams):
            if packet.size == 0:
                continue
            result[packet.stream_index].append((packet.pts, bytes(packet)))
    return result


def stream_kinds(path) -> list[str]:
    """Stream types in index order, e.g. ['video', 'audio', 'audio', 'subtitle']."""
    with av.open(str(path)) as container:
        return [stream.type for stream in container.streams]


def interlaced_picture(index: int, width: int, height: int, fields_differ: bool = True) -> np.ndarray:
    """A bar moving right; when ``fields_differ`` the odd rows (the later field) are half a
    frame ahead, so the woven frame shows a comb."""
    rgb = np.full((height, width, 3), 60, np.uint8)
    rgb[0::2, 8 + 2 * index : 24 + 2 * index] = 220  # top field
    shift = 4 if fields_differ else 0
    rgb[1::2, 8 + shift + 2 * index : 24 + shift + 2 * index] = 220  # bottom field
    return rgb


def make_interlaced_video(path, width: int = 64, height: int = 48, frames: int = 8) -> Path:
    """An MPEG-2 file coded as interlaced whose two fields differ (the odd rows move), as
    a DV or DVD source would: decoded frames are flagged interlaced and show a comb."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg2video", rate=25)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.options = {"flags": "+ildct+ilme", "b": "4M"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(interlaced_picture(i, width, height), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    return path


def make_progressive_then_interlaced_video(
    path, progressive: int = 4, interlaced: int = 6, width: int = 64, height: int = 48
) -> Path:
    """An MKV whose MPEG-2 stream is coded progressive, then interlaced from frame
    ``progressive`` on (a capture with a progressive intro): two encoders' packets in one
    stream, so only the decoder's per-frame flags tell the parts apart."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg2video", rate=25)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        start = 0
        for count, coded_interlaced in ((progressive, False), (interlaced, True)):
            encoder = av.CodecContext.create("mpeg2video", "w")
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
            encoder.time_base, encoder.framerate = Fraction(1, 25), Fraction(25)
            encoder.options = {"flags": "+ildct+ilme", "b": "4M"} if coded_interlaced else {"b": "4M"}
            pictures = (interlaced_picture(i, width, height, coded_interlaced) for i in range(start, start + count))
            for index, rgb in enumerate(pictures):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts, frame.time_base = index, Fraction(1, 25)
                _mux_shifted(out, video, encoder.encode(frame), start)
            _mux_shifted(out, video, encoder.encode(None), start)
            start += count
    return path


def _mux_shifted(out, video, packets, offset: int) -> None:
    for packet in packets:
        packet.pts += offset
        packet.dts += offset
        packet.stream, packet.time_base = video, Fraction(1, 25)
        out.mux(packet)


def remux_later(source, target, seconds: Fraction, kind: str | None = None) -> Path:
    """``source`` with every timestamp (of ``kind`` streams only, if given) ``seconds``
    later, packets untouched otherwise; ``target``'s extension picks its container."""
    target = Path(target)
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is None:
                continue
            moved = kind is None or packet.stream.type == kind
            offset = round(seconds / packet.time_base) if moved else 0
            packet.pts += offset
            packet.dts += offset
            packet.stream = streams[packet.stream_index]
            out.mux(packet)
    return target
