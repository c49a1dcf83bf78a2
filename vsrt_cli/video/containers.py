"""Which container a path means and what that container can hold.

The answers come from FFmpeg's own muxer tables (``avformat_query_codec`` through a
scratch in-memory container), so they stay right as FFmpeg changes.
"""

from __future__ import annotations

import io
from pathlib import Path

import av

from ..errors import CodecError

# Common extensions, so the answer does not depend on FFmpeg's guessing order.
_EXTENSIONS = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
    ".avi": "avi", ".ts": "mpegts", ".m2ts": "mpegts", ".mts": "mpegts", ".flv": "flv",
    ".nut": "nut",
}
_LABELS = {"mp4": "MP4", "mov": "MOV", "matroska": "MKV", "webm": "WebM", "avi": "AVI", "mpegts": "MPEG-TS"}
SUGGESTED_EXTENSIONS = (".mp4", ".mkv", ".mov", ".webm", ".avi")


def _extension(container_ext) -> str:
    text = str(container_ext)
    # Path('.mp4').suffix is empty (a dotfile), hence the fallback.
    return (Path(text).suffix or "." + text.lstrip(".")).lower()


def container_format(container_ext) -> str:
    """FFmpeg muxer name for an extension or a path ('.mkv', 'mkv', 'out/x.mkv')."""
    ext = _extension(container_ext)
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    try:
        # Opening for writing only guesses the muxer; no file is created before the
        # header is written.
        with av.open(f"probe{ext}", mode="w") as scratch:
            return scratch.format.name
    except (ValueError, av.FFmpegError):
        raise CodecError(
            f"cannot tell the output container from extension '{ext}'; "
            f"use one of {', '.join(SUGGESTED_EXTENSIONS)}"
        ) from None


def container_label(format_name: str) -> str:
    return _LABELS.get(format_name, format_name)


# MPEG-TS has no codec table, so FFmpeg answers "unknown" for every codec, which PyAV
# takes as yes; the muxer then writes what it has no stream type for as opaque private
# data that no player decodes. These are the codecs it gives a stream type.
_MPEGTS_CODECS = frozenset({
    "mpeg1video", "mpeg2video", "mpeg4", "h264", "hevc", "vc1", "dirac", "cavs",
    "mp2", "mp3", "aac", "aac_latm", "ac3", "eac3", "dts", "truehd", "opus", "s302m",
    "dvb_subtitle", "dvb_teletext", "klv", "timed_id3",
})


def _codec_id_name(name: str) -> str:
    """The codec behind an encoder or decoder name ('libx264' -> 'h264')."""
    for mode in ("w", "r"):
        try:
            return av.Codec(name, mode).canonical_name
        except (ValueError, av.FFmpegError):
            continue
    return name


def muxer_accepts(format_name: str, codec_name: str) -> bool:
    """True if FFmpeg's ``format_name`` muxer can store ``codec_name`` (codec or encoder name)."""
    if format_name == "mpegts":
        return _codec_id_name(codec_name) in _MPEGTS_CODECS
    scratch = av.open(io.BytesIO(), mode="w", format=format_name)
    try:
        scratch.add_mux_stream(codec_name)
        return True
    except (ValueError, av.FFmpegError):
        return False
    finally:
        scratch.close()


def supports_faststart(format_name: str) -> bool:
    return format_name in ("mp4", "mov")


def supports_attachments(format_name: str) -> bool:
    return format_name == "matroska"


def supports_rotation(format_name: str) -> bool:
    """Muxers that write a display matrix: MP4/MOV natively, Matroska/WebM as projection."""
    return format_name in ("mp4", "mov", "matroska", "webm")


def supports_chapters(format_name: str) -> bool:
    return format_name in ("mp4", "mov", "matroska", "webm")
