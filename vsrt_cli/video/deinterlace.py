"""Deinterlacing decoded frames with FFmpeg's bwdif, one progressive frame per frame.

The model was trained on progressive pictures: fed two interleaved fields it upscales the
comb between them. DV tapes, DVDs and broadcast captures are usually interlaced, so
`vsrt upscale` deinterlaces them first (see ``DEINTERLACE_MODES``).
"""

from __future__ import annotations

from fractions import Fraction

import av
import av.filter

from ..errors import InputError, UsageError
from ._open import av_reason

# auto: frames the decoder flags as interlaced; on: every frame; off: none.
DEINTERLACE_MODES = ("auto", "on", "off")


def check_deinterlace_mode(mode: str) -> str:
    if mode not in DEINTERLACE_MODES:
        raise UsageError(f"deinterlace mode must be one of {', '.join(DEINTERLACE_MODES)}, got {mode!r}")
    return mode


def wants_deinterlace(mode: str, source_interlaced: bool) -> bool:
    """What a plan can say before decoding: ``source_interlaced`` is the first frame's flag."""
    return check_deinterlace_mode(mode) == "on" or (mode == "auto" and source_interlaced)


def deinterlace_notes(mode: str, interlaced_frames: int, frames: int) -> list[str]:
    """What a finished run tells the user about interlacing, from the decoder's per-frame flags."""
    if interlaced_frames == frames:
        flagged, singular = "every frame is", True
    else:
        singular = interlaced_frames == 1
        flagged = f"{interlaced_frames} of {frames} frames {'is' if singular else 'are'}"
    if mode == "on":
        why = f" ({flagged} flagged interlaced)" if interlaced_frames else ""
        return [f"deinterlaced every frame with bwdif before upscaling{why}"]
    if not interlaced_frames:
        return []
    if mode == "auto":
        return [f"deinterlaced with bwdif before upscaling ({flagged} flagged interlaced)"]
    return [f"{flagged} flagged interlaced but {'was' if singular else 'were'} upscaled without deinterlacing"]


class Deinterlacer:
    """bwdif in send_frame mode: the output keeps the input's frame count and timestamps.

    The filter holds one frame back (it looks at the next field), so ``push`` may return
    nothing and ``flush`` returns the last frame. A change of frame size or pixel format
    mid-stream flushes the graph and builds a new one.
    """

    def __init__(self, every_frame: bool) -> None:
        self._deint = "all" if every_frame else "interlaced"
        self._graph = None
        self._shape = None
        self._time_base: Fraction | None = None

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        shape = (frame.width, frame.height, frame.format.name)
        ready = []
        if self._graph is not None and shape != self._shape:
            ready += self.flush()
        if self._graph is None:
            self._build(frame)
            self._shape = shape
        self._graph.push(frame)
        return ready + self._drain()

    def flush(self) -> list[av.VideoFrame]:
        if self._graph is None:
            return []
        self._graph.push(None)
        ready = self._drain()
        self._graph = None
        return ready

    def _build(self, frame: av.VideoFrame) -> None:
        self._time_base = frame.time_base or Fraction(1, 90000)
        graph = av.filter.Graph()
        try:
            source = graph.add_buffer(
                width=frame.width, height=frame.height, format=frame.format, time_base=self._time_base
            )
            bwdif = graph.add("bwdif", f"mode=send_frame:parity=auto:deint={self._deint}")
            sink = graph.add("buffersink")
            source.link_to(bwdif)
            bwdif.link_to(sink)
            graph.configure()
        except (av.FFmpegError, ValueError) as err:
            raise InputError(
                f"cannot deinterlace {frame.format.name} frames ({av_reason(err)}); "
                "use --deinterlace off"
            ) from err
        self._graph = graph

    def _drain(self) -> list[av.VideoFrame]:
        ready = []
        while True:
            try:
                frame = self._graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return ready
            ready.append(self._restamp(frame))

    def _restamp(self, frame: av.VideoFrame) -> av.VideoFrame:
        # bwdif counts in half the input's time base (it could emit one frame per field);
        # the rest of the pipeline expects the stream's own units back.
        scale = Fraction(frame.time_base) / self._time_base if frame.time_base else Fraction(1)
        if frame.pts is not None:
            frame.pts = round(frame.pts * scale)
        if frame.duration:
            frame.duration = round(frame.duration * scale)
        frame.time_base = self._time_base
        return frame
