"""Keeping freed tensor memory in the process (glibc only).

glibc's malloc hands blocks above its mmap threshold (128 KiB at first, adapting up to
32 MiB) to the kernel on free, and gives freed heap memory back once more than the trim
threshold sits unused at the top. A model tile allocates and frees tensors of several MB
every few milliseconds, so each one came back as fresh pages, and every 4 KiB page cost a
page fault and a zeroing on first touch. On a 2-core Xeon with AMX (where the convolutions
themselves are fast) that was a third of the upsampler's time and 12% of a whole tile
(benchmarks/README.md). Kept memory can fragment, though, so the pipeline hands free
pages back where it is cheap (:func:`release_freed_memory`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
from typing import Iterator

# mallopt parameter numbers from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
# glibc's own M_MMAP_MAX (DEFAULT_MMAP_MAX in malloc.c).
GLIBC_MMAP_MAX = 65536

# Blocks up to 32 MiB (glibc's own ceiling for this setting) come from the heap: the
# biggest tensors of two 64x64 tiles in bf16 are about 21 MB; output canvases at 4x of
# 720p (177 MB) stay mmapped.
MMAP_THRESHOLD = 32 * 2**20
# Up to 256 MiB of freed heap stays mapped: more than a tile's working set, far below
# the pipeline's peak.
TRIM_THRESHOLD = 256 * 2**20


@functools.lru_cache(maxsize=None)
def _libc() -> ctypes.CDLL | None:
    # Looked up once: find_library runs ldconfig (about 4 ms), and the trim runs per window.
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def _libc_function(libc: ctypes.CDLL | None, name: str):
    """``name`` from ``libc`` (the process's C library by default), or None if it lacks it."""
    return getattr(libc if libc is not None else _libc(), name, None)


def release_freed_memory(libc: ctypes.CDLL | None = None) -> bool:
    """Hand the heap's free pages back to the kernel now (glibc's ``malloc_trim``).

    With :func:`keep_freed_memory` in force, blocks freed between tiles stay mapped, and
    frames of the encoder's pixel format (22 MB at 5120x2880, allocated on one thread and
    freed on another) fragment the heap around them: peak RSS grew 4% from 20 to 40 frames
    of 720p. The runner calls this once per window when the window's canvases exceed
    TRIM_THRESHOLD, so that at big sizes the kept memory is one window's, not the run's.
    """
    trim = _libc_function(libc, "malloc_trim")
    if trim is None:
        return False
    trim(0)
    return True


def keep_freed_memory(libc: ctypes.CDLL | None = None) -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True when applied.

    A no-op returning False where the C library has no ``mallopt`` (macOS, Windows, musl
    without it). The CLI calls this once per process; a Python user may call it too.
    """
    mallopt = _libc_function(libc, "mallopt")
    if mallopt is None:
        return False
    # mallopt(int, int) -> int matches ctypes' default conversions. It returns 1 on
    # success; setting the mmap threshold also stops glibc adapting it.
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


@contextlib.contextmanager
def large_blocks_on_heap(libc: ctypes.CDLL | None = None) -> Iterator[bool]:
    """Within the block, serve allocations of any size from the heap, never from their own
    mmap (glibc's M_MMAP_MAX = 0); yields whether that applied.

    :func:`keep_freed_memory` cannot keep blocks above 32 MiB (glibc's ceiling for the
    threshold). A training step at batch 4 allocates dozens of them (the x4 maps of 20
    frames: 42 MB each in bf16), so each came back as about 10,000 fresh pages per
    allocation: 22,000-37,000 page faults per vsrt-small step, against 0-1,500 with this,
    and the step took 537 ms instead of 591-607 (2-core AMX Xeon, peak RSS unchanged at
    1.3-1.4 GB). Meant for loops whose allocations repeat exactly, such as training steps;
    the upscaler stays on glibc's default, where a 720p window's 177 MB canvases go back
    to the kernel as soon as they are freed. glibc's default is restored on exit.
    """
    mallopt = _libc_function(libc, "mallopt")
    applied = mallopt is not None and bool(mallopt(M_MMAP_MAX, 0))
    try:
        yield applied
    finally:
        if applied:
            mallopt(M_MMAP_MAX, GLIBC_MMAP_MAX)
