"""Writing the upscaled video as numbered pictures (``frames/%06d.png``), as FFmpeg does.

For grading, restoration or compositing tools that take image sequences, and for
archives that keep film as one lossless picture per frame. A sequence holds only
pictures: audio, subtitles and timestamps stay in the source. PNG and TIFF are
lossless; a source of more than 8 bits gets 16-bit pictures. Frames are numbered from 1
in the order they are shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np

from ..errors import CodecError, OutputError
from ._open import av_reason
from .numbering import FIRST_NUMBER, ffmpeg_pattern

if TYPE_CHECKING:
    from .probe import VideoInfo

# extension (numbering.WRITABLE_EXTENSIONS) -> (FFmpeg encoder, pixel format for 8-bit sources, for deeper ones, options).
# zlib level 3 rather than FFmpeg's 6 for PNG: a 2560x1440 frame took 0.40 s instead of
# 1.02 s on one core, for 18% more bytes, and the encoder shares the cores with the model.
_FORMATS = {
    ".png": ("png", "rgb24", "rgb48be", {"compression_level": "3"}),
    ".tif": ("tiff", "rgb24", "rgb48le", {"compression_algo": "deflate"}),
    ".tiff": ("tiff", "rgb24", "rgb48le", {"compression_algo": "deflate"}),
}
_HDR_TRANSFERS = ("smpte2084", "arib-std-b67")


def picture_format(target: Path, bit_depth: int) -> tuple[str, str, dict]:
    """(encoder, pixel format, encoder options) for a sequence at this source bit depth."""
    encoder, eight, deep, options = _FORMATS[target.suffix.lower()]
    return encoder, (eight if bit_depth <= 8 else deep), dict(options)


def sequence_notes(source: VideoInfo | None, pix_fmt: str) -> list[str]:
    """What a sequence does not keep of the source."""
    if source is None:
        return []
    notes = []
    others = [s for s in source.streams if s.index != source.video_index and s.kind != "attachment"]
    if others:
        kinds = ", ".join(sorted({s.kind for s in others}))
        notes.append(f"an image sequence holds only pictures: {len(others)} {kinds} stream(s) of the source not kept")
    if source.colour.transfer in _HDR_TRANSFERS:
        notes.append(
            f"the pictures hold the source's {source.colour.transfer} (HDR) coded values, which PNG and TIFF"
            " viewers show as if they were SDR"
        )
    if source.alpha:
        notes.append("transparency (alpha channel) is not kept: the pictures are RGB")
    if pix_fmt.startswith("rgb48"):
        notes.append(f"{source.bit_depth}-bit source: written as 16-bit pictures")
    return notes


class ImageSequenceWriter:
    """Encode frames as numbered pictures at ``path`` (a pattern; the caller handles temp
    folders). The same calls as :class:`~vsrt_cli.video.writer.VideoWriter` for the
    pipeline: :meth:`convert` (float RGB to 8 or 16-bit codes), :meth:`write_frame`,
    :meth:`close`, :meth:`abort`; timestamps are accepted and not stored."""

    converts_tensors = False

    def __init__(self, path, source: VideoInfo | None, width: int, height: int, shown_as=None):
        self.path = Path(path)
        self.shown_as = Path(shown_as) if shown_as is not None else self.path
        self.width, self.height = int(width), int(height)
        self.codec, self.pix_fmt, options = picture_format(self.path, source.bit_depth if source else 8)
        self.notes = sequence_notes(source, self.pix_fmt)
        self.frames_written = 0
        self._top = 255 if self.pix_fmt == "rgb24" else 65535
        try:
            self._out = av.open(
                ffmpeg_pattern(self.path), mode="w", format="image2", options={"start_number": str(FIRST_NUMBER)}
            )
        except (av.FFmpegError, OSError, ValueError) as err:
            raise OutputError(f"cannot create {self.shown_as}: {av_reason(err)}") from err
        try:
            # The rate only numbers the frames; a sequence stores none.
            self._stream = self._out.add_stream(self.codec, rate=25, options=options)
            self._stream.width, self._stream.height, self._stream.pix_fmt = self.width, self.height, self.pix_fmt
            self._stream.codec_context.open()
        except (av.FFmpegError, ValueError) as err:
            self.abort()
            raise CodecError(f"cannot start the {self.codec} encoder for {self.shown_as}: {av_reason(err)}") from err

    def frame_bytes(self) -> int:
        return self.width * self.height * 3 * (1 if self._top == 255 else 2)

    def convert(self, rgb: np.ndarray) -> av.VideoFrame:
        """Float RGB HxWx3 (clamped here) -> a frame of 8 or 16-bit codes."""
        if rgb.shape != (self.height, self.width, 3):
            raise ValueError(f"expected a {self.height}x{self.width}x3 frame, got {tuple(rgb.shape)}")
        dtype = np.uint8 if self._top == 255 else np.uint16
        codes = np.rint(np.clip(rgb, 0.0, 1.0) * self._top).astype(dtype)
        return av.VideoFrame.from_ndarray(codes, format="rgb24" if self._top == 255 else "rgb48le")

    def write_frame(self, frame: av.VideoFrame, pts: int | None = None, duration: int | None = None) -> None:
        frame.pts = self.frames_written
        try:
            packets = self._stream.encode(frame)
        except (av.FFmpegError, ValueError) as err:
            raise CodecError(f"{self.codec} failed on frame {self.frames_written}: {av_reason(err)}") from err
        self._mux(packets)
        self.frames_written += 1

    def write(self, rgb: np.ndarray, pts: int | None = None, duration: int | None = None) -> None:
        self.write_frame(self.convert(rgb), pts, duration)

    def _mux(self, packets) -> None:
        try:
            self._out.mux(packets)
        except (av.FFmpegError, OSError) as err:
            raise OutputError(f"cannot write {self.shown_as}: {av_reason(err)}") from err

    def close(self) -> None:
        self._mux(self._stream.encode(None))
        try:
            self._out.close()
        except (av.FFmpegError, OSError) as err:
            raise OutputError(f"cannot finish {self.shown_as}: {av_reason(err)}") from err

    def abort(self) -> None:
        """Close without raising; the pictures written are the caller's to delete."""
        try:
            self._out.close()
        except Exception:  # noqa: BLE001 - already failing; a second error would hide the first
            pass
