"""One run per output at a time, so that several vsrt processes can share a batch.

Two runs writing one target (two shell loops over one folder, a script started twice)
would each do the whole work, read each other's resume journal, and mix the pictures of a
sequence. A run claims its target with an advisory lock on a hidden file beside it; a
second run finds the claim taken and is told so (with --skip-existing it moves on to the
next input instead, which is how parallel workers split a folder). The lock goes with the
process, so a run that is killed leaves no claim behind; a crashed run's lock file is only
a name, taken over by the next run.

Where the system has no ``fcntl`` (Windows), nothing is claimed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from ..errors import OutputError
from .outputs import hidden_name, make_folder

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_SUFFIX = ".vsrt-lock"
BUSY_NOTE = "being written by another vsrt run"  # a skipped output's note, for scripts to match


class OutputBusyError(OutputError):
    """Another vsrt run is writing the same target."""


def lock_path(target: Path) -> Path:
    """The hidden lock file of ``target``: ``.NAME.vsrt-lock``."""
    return hidden_name(target, LOCK_SUFFIX)


@contextlib.contextmanager
def claim_output(target: Path) -> Iterator[bool]:
    """Hold ``target`` for this run; raise OutputBusyError if another run holds it.

    Yields whether the claim excludes other runs: False where the system has no locks.

    Makes the target's folder if needed (the lock file lives there) and, if the block
    fails, removes the folders it made once they are empty again.
    """
    if fcntl is None:
        yield False
        return
    made = make_folder(target.parent)
    succeeded = False
    try:
        handle, exclusive = _lock(target)
        try:
            yield exclusive
            succeeded = True
        finally:
            # Removed while still locked: a run that opens the name after this finds a new
            # file, and one that opened it before sees it gone (see _lock).
            with contextlib.suppress(OSError):
                os.unlink(lock_path(target))
            os.close(handle)
    finally:
        if not succeeded:
            for folder in made:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if still empty


def _lock(target: Path) -> tuple[int, bool]:
    path = lock_path(target)
    while True:
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise OutputError(f"cannot write {target}: {error.strerror or error}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(handle)
            os.close(handle)
            raise _busy(target, holder) from None
        except OSError:
            # A file system without locks (some network shares): run unclaimed, as before.
            return handle, False
        # The holder before us may have removed the name between our open and our lock:
        # then the lock is on a file nobody else will find, and the name is taken afresh.
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(handle).st_ino:
                os.ftruncate(handle, 0)
                os.write(handle, f"{os.getpid()}\n".encode())
                return handle, True
        os.close(handle)


def check_unclaimed(target: Path) -> None:
    """Raise OutputBusyError if another run holds ``target``, without claiming it (``--dry-run``)."""
    if fcntl is None:
        return
    try:
        handle = os.open(lock_path(target), os.O_RDONLY)
    except OSError:  # no lock file (or none we may read): nobody holds it
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _busy(target, _read_holder(handle)) from None
    except OSError:
        pass
    finally:
        os.close(handle)


def _busy(target: Path, holder: str) -> OutputBusyError:
    return OutputBusyError(f"{target}: another vsrt run{holder} is writing it; wait for it to finish, or write elsewhere")


def _read_holder(handle: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f" (process {int(os.pread(handle, 32, 0).decode().strip())})"
    return ""
