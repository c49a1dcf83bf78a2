"""Keeping freed tensor memory in the process (glibc only).

glibc's malloc hands blocks above its mmap threshold (128 KiB at first, adapting up to
32 MiB) to the kernel on free, and gives freed heap memory back once more than the trim
threshold sits unused at the top. A model tile allocates and frees tensors of several MB
every few milliseconds, so each one came back as fresh pages, and every 4 KiB page cost a
page fault and a zeroing on first touch. On a 2-core Xeon with AMX (where the convolutions
themselves are fast) that was a third of the upsampler's time and 12% of a whole tile
(benchmarks/README.md). Keeping the memory mapped costs nothing in peak RSS: it is the
same memory the run already needed at its peak.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameter numbers from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# Blocks up to 32 MiB (glibc's own ceiling for this setting) come from the heap: a 64x64
# tile's biggest tensors are about 10 MB; 720p frames and canvases (100+ MB) stay mmapped.
MMAP_THRESHOLD = 32 * 2**20
# Up to 256 MiB of freed heap stays mapped: more than a tile's working set, far below
# the pipeline's peak.
TRIM_THRESHOLD = 256 * 2**20


def keep_freed_memory(libc: ctypes.CDLL | None = None) -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True when applied.

    A no-op returning False where the C library has no ``mallopt`` (macOS, Windows, musl
    without it). The CLI calls this once per process; a Python user may call it too.
    """
    if libc is None:
        name = ctypes.util.find_library("c")
        if name is None:
            return False
        try:
            libc = ctypes.CDLL(name)
        except OSError:
            return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    # mallopt(int, int) -> int matches ctypes' default conversions. It returns 1 on
    # success; setting the mmap threshold also stops glibc adapting it.
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
