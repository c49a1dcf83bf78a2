"""Rich consoles for the CLI.

stdout carries a command's result: ``--json`` documents, and the listings that are the
whole point of a command (``vsrt models``, ``vsrt upscale --dry-run``), so that they can
be piped. Progress, notes, summaries beside a run, and errors go to stderr.
Rich honours ``NO_COLOR`` and drops colours and live widgets when stderr is not a terminal.
"""

from __future__ import annotations

from rich.console import Console


def error_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def output_console() -> Console:
    return Console(highlight=False, soft_wrap=True)
