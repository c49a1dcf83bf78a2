"""Rich consoles for the CLI: everything human-readable goes to stderr.

stdout is reserved for machine-readable output (``--json``) so scripts can pipe it.
Rich honours ``NO_COLOR`` and drops colours and live widgets when stderr is not a terminal.
"""

from __future__ import annotations

from rich.console import Console


def error_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def output_console() -> Console:
    return Console(highlight=False, soft_wrap=True)
