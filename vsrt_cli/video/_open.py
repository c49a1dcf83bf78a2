"""Opening containers with FFmpeg failures turned into one-line vsrt errors."""

from __future__ import annotations

import os
from pathlib import Path

import av

from ..errors import InputError
from .numbering import ffmpeg_pattern, input_options, is_picture_input


def av_reason(err: BaseException) -> str:
    """A short human reason for an FFmpeg error, without errno noise or file paths."""
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return text.strip().rstrip(".")


def check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a directory, not a video file: {path}")
    if not os.access(path, os.R_OK):
        raise InputError(f"cannot read input file (permission denied): {path}")


def open_input(path, frame_rate=None) -> av.container.InputContainer:
    """Open a video file, or numbered pictures (``scan/%06d.dpx``) read at ``frame_rate``
    (None: FFmpeg's 25) from the first number there is."""
    path = Path(path)
    if is_picture_input(path):
        options = input_options(path, frame_rate)
        try:
            return av.open(ffmpeg_pattern(path), mode="r", format="image2", options=options)
        except (av.FFmpegError, OSError, ValueError) as err:
            raise InputError(f"cannot open {path}: {av_reason(err)}") from err
    check_readable(path)
    try:
        return av.open(str(path), mode="r")
    except av.error.InvalidDataError:
        raise InputError(f"not a readable video file (unrecognised or corrupt data): {path}") from None
    except (av.FFmpegError, OSError, ValueError) as err:
        raise InputError(f"cannot open {path}: {av_reason(err)}") from err
