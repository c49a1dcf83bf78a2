"""Errors that reach the user as one line and a documented exit code.

Library code raises these; the CLI turns them into ``vsrt: error: <message>`` and
``sys.exit(exit_code)``. Anything else escaping to the CLI is a bug and is reported
as an internal error (exit 1) with the traceback shown only under ``--debug``.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_WEIGHTS_MISSING = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process the signal ended


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, timeout, systemd, docker stop), raised in the main thread so that it
    unwinds like Ctrl-C: partial outputs are removed on the way out."""


def interrupt_exit_code(stop: BaseException) -> int:
    return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED


class VsrtError(Exception):
    """Base class: a failure the user can understand and act on."""

    exit_code = EXIT_FAILURE


class UsageError(VsrtError, ValueError):
    """The command line or the call's arguments do not make sense.

    Also a ``ValueError``, so library callers that catch bad values the usual way catch it.
    """

    exit_code = EXIT_USAGE


class InputError(VsrtError):
    """An input file is missing, unreadable, truncated, or has no video stream."""


class InputNotFoundError(InputError):
    """An input that is not there (no such file, no picture matching a pattern): exit 2,
    the code the command line gives a name it cannot find, from the library too."""

    exit_code = EXIT_USAGE


class OutputError(VsrtError):
    """The output cannot be written (exists, unwritable, would overwrite an input)."""


class CodecError(VsrtError):
    """A codec or container combination is not available or not supported."""


class WeightsMissingError(VsrtError):
    """A model's weights are not on this machine or could not be fetched."""

    exit_code = EXIT_WEIGHTS_MISSING


class CheckpointError(VsrtError):
    """A weights file is corrupt, of another architecture, or not plain tensors."""
