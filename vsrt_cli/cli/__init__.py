"""The ``vsrt`` command: a thin Click layer over the library API.

Each sub-command lives in its own module and registers itself on :data:`cli`.
:func:`main` is the only place that turns exceptions into exit codes, so every
command reports errors the same way.
"""

from __future__ import annotations

import sys
import traceback

import click

from .. import __version__
from ..errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, VsrtError
from ..inference.allocator import keep_freed_memory
from .console import error_console


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="vsrt")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """vsrt: 4x video super-resolution with a bundled VSR-Transformer."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    # The process is ours: every command that runs a model gains from it (see the module).
    keep_freed_memory()


# Sub-commands register themselves on ``cli`` when imported.
from . import commands  # noqa: E402,F401


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``vsrt`` script and ``python -m vsrt_cli``."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    try:
        code = cli.main(args=args, prog_name="vsrt", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        error_console().print("vsrt: interrupted")
        code = EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show(file=sys.stderr)
        code = exc.exit_code if exc.exit_code is not None else EXIT_USAGE
    except VsrtError as exc:
        if debug:
            traceback.print_exc()
        error_console().print(f"vsrt: error: {exc}", markup=False, highlight=False)
        code = exc.exit_code
    except KeyboardInterrupt:
        error_console().print("vsrt: interrupted")
        code = EXIT_INTERRUPTED
    except Exception as exc:  # a bug: keep it to one line unless asked
        if debug:
            traceback.print_exc()
        error_console().print(
            f"vsrt: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
            markup=False,
            highlight=False,
        )
        code = EXIT_FAILURE
    sys.exit(code if isinstance(code, int) else 0)
