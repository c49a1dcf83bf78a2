"""Temporal windows: which T input frames produce which output frames.

The video is cut into consecutive chunks of ``stride`` output frames. Each chunk is
predicted by one window of T frames centred on the chunk, so every output frame comes from
a window in which it is as central as possible (a frame is never more than stride//2
positions from its window's centre). With stride 1 this is the official protocol: one
window per frame, centre frame kept.

Near the ends of the video the window is padded the way the official test code pads
(``reflection_circle`` in BasicSR's ``generate_frame_indices``). Windows depend only on
the chunk and, near the end, on the index of the last frame, so a streaming decoder that
does not know the frame count in advance builds exactly the same windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..errors import UsageError


@dataclass(frozen=True)
class Window:
    """``indices[p]`` is the source frame at window position p; ``outputs`` pairs each
    output frame with the window position it is taken from."""

    indices: tuple[int, ...]
    outputs: tuple[tuple[int, int], ...]

    @property
    def output_frames(self) -> tuple[int, ...]:
        return tuple(frame for frame, _ in self.outputs)


def default_stride(num_frames: int) -> int:
    """Output frames per window unless the user chooses: all T, windows side by side.

    Every input frame then goes through the transformer once. The model is trained on all
    T outputs, and on held-out clips the window's end frames (one-sided context) scored
    as well as the middle ones; benchmarks/README.md gives the measured PSNR of each
    stride against stride 1 and the official protocol.
    """
    return max(1, num_frames)


def validate_stride(stride: int, num_frames: int) -> None:
    if not 1 <= stride <= num_frames:
        raise UsageError(f"--window-stride {stride}: must be between 1 and {num_frames} (the model's frame count)")


def reflection_circle(center: int, num_frames: int, last_index: int) -> tuple[int, ...]:
    """The official ``reflection_circle`` padding, made safe for videos shorter than T.

    An index before the start maps to ``center + T//2 - i``; one past the end maps to
    ``(center - T//2) - (i - last)``. For very short videos the reflected index can still
    fall outside; it is then clamped, so a one-frame video repeats that frame.
    """
    half = num_frames // 2
    indices = []
    for i in range(center - half, center - half + num_frames):
        if i < 0:
            i = center + half - i
        elif i > last_index:
            i = (center - half) - (i - last_index)
        indices.append(min(max(i, 0), last_index))
    return tuple(indices)


def chunk_window(start: int, length: int, num_frames: int, last_index: int) -> Window:
    """The window for output frames ``start .. start + length - 1``."""
    centre = start + (length - 1) // 2
    indices = reflection_circle(centre, num_frames, last_index)
    half = num_frames // 2
    outputs = tuple((frame, half + frame - centre) for frame in range(start, start + length))
    return Window(indices=indices, outputs=outputs)


def frames_needed(start: int, stride: int, num_frames: int) -> int:
    """The highest source index a full chunk at ``start`` may read (before end clamping)."""
    return start + (stride - 1) // 2 + num_frames // 2


def plan_windows(frame_count: int, num_frames: int, stride: int) -> list[Window]:
    """Every window for a video of ``frame_count`` frames."""
    return list(iter_windows(frame_count, num_frames, stride))


def iter_windows(frame_count: int, num_frames: int, stride: int) -> Iterator[Window]:
    validate_stride(stride, num_frames)
    last = frame_count - 1
    for start in range(0, frame_count, stride):
        yield chunk_window(start, min(stride, frame_count - start), num_frames, last)
