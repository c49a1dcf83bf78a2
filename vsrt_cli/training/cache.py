"""The training data cache: decoded, shrunk sources as ``.npy`` files, memory-mapped.

Decoding the videos and shrinking the photos takes minutes; a resumed run (every session)
must start in seconds. Entries are keyed by the source file's bytes and the shrink, so a
copied or remounted data folder still hits the cache, and an edited file replaces its
stale entry instead of sitting beside it.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from pathlib import Path

import numpy as np

from ..errors import UsageError

# Bump when the cached arrays would come out differently, so stale caches are not reused.
CACHE_VERSION = 1


def cache_key(path: Path, *parts: object) -> str:
    # From the file's bytes, not its path or mtime: a data folder that is copied or
    # remounted (fresh mtimes every session) must not trigger minutes of re-decoding.
    content = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            content.update(block)
    text = "|".join(str(p) for p in (CACHE_VERSION, content.hexdigest(), *parts))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def entry_name(kind: str, path: Path, factor: float) -> str:
    # The whole file name and the shrink: entries that differ in either (p0.jpg and p0.png,
    # or two configs sharing a cache) never replace each other.
    return f"{kind}-{path.name}-x{factor:g}"


def drop_stale_entries(cache_dir: Path, name: str, key: str) -> None:
    """Delete the cache files of ``name`` made under any key other than ``key``: the
    same source file (and shrink) with older contents."""
    pattern = re.compile(rf"{re.escape(name)}-([0-9a-f]{{16}})(-segments)?\.npy")
    for entry in cache_dir.glob(f"{glob.escape(name)}-*.npy"):
        match = pattern.fullmatch(entry.name)
        if match and match.group(1) != key:
            entry.unlink(missing_ok=True)


def save_atomic(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial.npy")
    try:
        np.save(temporary, array)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def cached(cache_dir: Path | None, name: str, key: str, build) -> np.ndarray:
    """``build()``'s array, stored as ``.npy`` under ``cache_dir`` and memory-mapped after."""
    if cache_dir is None:
        return build()
    if cache_dir.exists() and not cache_dir.is_dir():
        raise UsageError(f"data.cache_dir {cache_dir} is a file, not a folder")
    target = cache_dir / f"{name}-{key}.npy"
    if target.exists():
        try:
            return np.load(target, mmap_mode="r")
        except (ValueError, OSError, EOFError):  # damaged (a disk that filled up, an edit): make it again
            target.unlink(missing_ok=True)
    save_atomic(target, build())
    drop_stale_entries(cache_dir, name, key)
    return np.load(target, mmap_mode="r")
