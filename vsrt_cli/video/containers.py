"""Which container a path means and what that container can hold.

The answers come from FFmpeg's own muxer tables (``avformat_query_codec`` through a
scratch in-memory container), so they stay right as FFmpeg changes.
"""

from __future__ import annotations

import io
from pathlib import Path

import av

from ..errors import CodecError
from .numbering import READABLE_EXTENSIONS

# The containers vsrt writes, by extension: each is tested end to end with audio and
# subtitles. Others that FFmpeg knows either hold none of vsrt's video codecs (Ogg, DV,
# GIF, image sequences, raw Y4M) or refuse all but studio profiles (MXF).
_EXTENSIONS = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".qt": "mov", ".mkv": "matroska", ".webm": "webm",
    ".avi": "avi", ".ts": "mpegts", ".m2ts": "mpegts", ".mts": "mpegts", ".flv": "flv", ".f4v": "f4v",
    ".nut": "nut", ".mpg": "mpeg", ".mpeg": "mpeg", ".vob": "vob", ".wmv": "asf", ".asf": "asf",
    ".3gp": "3gp", ".3g2": "3g2",
}
_LABELS = {
    "mp4": "MP4", "mov": "MOV", "matroska": "MKV", "webm": "WebM", "avi": "AVI", "mpegts": "MPEG-TS",
    "mpeg": "MPEG-PS", "vob": "VOB", "asf": "ASF",
}
SUGGESTED_EXTENSIONS = (".mp4", ".mkv", ".mov", ".webm", ".avi")
# Where a batch writes an input whose own container vsrt cannot write.
FALLBACK_EXTENSION = ".mkv"


def _extension(container_ext) -> str:
    text = str(container_ext)
    # Path('.mp4').suffix is empty (a dotfile), hence the fallback.
    return (Path(text).suffix or "." + text.lstrip(".")).lower()


def writable_extension(container_ext) -> bool:
    return _extension(container_ext) in _EXTENSIONS


def container_format(container_ext) -> str:
    """FFmpeg muxer name for an output extension or path ('.mkv', 'mkv', 'out/x.mkv')."""
    ext = _extension(container_ext)
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    pictures = " (or numbered PNG or TIFF pictures: 'frames/%06d.png')" if ext in READABLE_EXTENSIONS else ""
    raise CodecError(
        f"vsrt cannot write {ext} files; use one of {', '.join(SUGGESTED_EXTENSIONS)} "
        f"(or {', '.join(e for e in _EXTENSIONS if e not in SUGGESTED_EXTENSIONS)}){pictures}"
    )


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


# MPEG-PS (FFmpeg's mpegenc) likewise: any video is accepted and written under an MPEG
# video stream id, which players then decode as MPEG video; audio outside this list
# fails when the header is written.
_MPEG_PS_CODECS = frozenset({
    "mpeg1video", "mpeg2video", "mpeg4", "h264",
    "mp1", "mp2", "mp3", "ac3", "dts", "pcm_dvd", "pcm_s16be", "mlp", "truehd", "dvd_subtitle",
})
_TABLELESS_MUXERS = {"mpegts": _MPEGTS_CODECS, "mpeg": _MPEG_PS_CODECS, "vob": _MPEG_PS_CODECS}


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
    if format_name in _TABLELESS_MUXERS:
        return _codec_id_name(codec_name) in _TABLELESS_MUXERS[format_name]
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


# What each muxer keeps of the tags users name their streams by, as FFmpeg writes them
# (tests mux every container and read the tags back, so these stay true).
_DROPS_STREAM_LANGUAGE = frozenset({"avi", "flv", "mpeg", "vob"})
_KEEPS_STREAM_TITLE = frozenset({"matroska", "webm", "avi", "nut", "mp4", "mov"})
_DROPS_FILE_TITLE = frozenset({"mpegts", "mpeg", "vob", "3gp", "3g2"})


def keeps_stream_language(format_name: str) -> bool:
    return format_name not in _DROPS_STREAM_LANGUAGE


def keeps_stream_title(format_name: str) -> bool:
    return format_name in _KEEPS_STREAM_TITLE


def keeps_file_title(format_name: str) -> bool:
    return format_name not in _DROPS_FILE_TITLE


def lost_tags_note(format_name: str, languages: list[str], titles: list[str], file_title: str | None) -> str | None:
    """A note naming the source's stream languages and titles, and its title, that the
    output container cannot store; None when nothing is lost."""
    lost = []
    if languages and not keeps_stream_language(format_name):
        lost.append(f"stream languages ({', '.join(languages)})")
    if titles and not keeps_stream_title(format_name):
        lost.append(f"stream titles ({', '.join(repr(t) for t in titles)})")
    if file_title and not keeps_file_title(format_name):
        lost.append(f"the title {file_title!r}")
    if not lost:
        return None
    return f"{container_label(format_name)} cannot store {' or '.join(lost)}; use .mkv to keep them"


def supports_rotation(format_name: str) -> bool:
    """Muxers that write a display matrix: MP4/MOV natively, Matroska/WebM as projection."""
    return format_name in ("mp4", "mov", "matroska", "webm")


def supports_chapters(format_name: str) -> bool:
    return format_name in ("mp4", "mov", "matroska", "webm")
