"""The ``vsrt`` command: a thin Click layer over the library API.

Each sub-command lives in its own module and registers itself on :data:`cli`.
:func:`main` is the only place that turns exceptions into exit codes, so every
command reports errors the same way.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback

import click

from .. import __version__
from ..errors import EXIT_FAILURE, EXIT_USAGE, Terminated, VsrtError, interrupt_exit_code
from .console import error_console


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="vsrt")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """vsrt: 4x video super-resolution with a bundled VSR-Transformer."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    from ..inference.allocator import keep_freed_memory  # torch: imported once a command runs

    # The process is ours: every command that runs a model gains from it (see the module).
    keep_freed_memory()
    # SVT-AV1 (10-bit WebM) prints a 20-line banner and warnings to stderr itself, past
    # FFmpeg's log level and through --quiet, reading SVT_LOG once per process; 1 keeps
    # its errors. A user's own setting wins.
    os.environ.setdefault("SVT_LOG", "1")


def _register_commands() -> None:
    """Import the sub-commands, which register themselves on ``cli``.

    Called inside :func:`main`'s error handling, not at import: they import torch, which
    takes seconds, and a Ctrl-C in those seconds is an interrupt like any other.
    """
    from . import commands  # noqa: F401


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv


def _print_error(message: str) -> None:
    """The one line every error gets, whatever raised it (scripts match on the prefix)."""
    error_console().print(f"vsrt: error: {' '.join(message.split())}", markup=False, highlight=False)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stop(signum, frame) -> None:
    """The first Ctrl-C or SIGTERM stops the run; later ones are ignored, so that they cannot
    cut short the removal of the partial output (or print a traceback from an exit hook)."""
    for each in _STOP_SIGNALS:
        signal.signal(each, signal.SIG_IGN)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _handle_stop_signals() -> dict | None:
    """Install :func:`_stop`; returns the handlers to put back."""
    try:
        previous = {each: signal.getsignal(each) for each in _STOP_SIGNALS}
        for each, handler in previous.items():
            if handler is not signal.SIG_IGN:  # a shell's background job ignores Ctrl-C: so do we
                signal.signal(each, _stop)
        return previous
    except ValueError:  # not the main thread (an embedding program's): leave signals alone
        return None


def _restore_signals(previous: dict | None) -> None:
    if previous is None:
        return
    if any(signal.getsignal(each) is signal.SIG_IGN is not handler for each, handler in previous.items()):
        return  # a stop signal came: they stay ignored until the process has exited
    for each, handler in previous.items():
        if handler is not None:  # None: set outside Python, which cannot put it back
            signal.signal(each, handler)


def _report_interrupt(stop: BaseException) -> int:
    error_console().print("vsrt: terminated" if isinstance(stop, Terminated) else "vsrt: interrupted")
    return interrupt_exit_code(stop)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``vsrt`` script and ``python -m vsrt_cli``."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    if debug:  # it belongs to the group, but `vsrt upscale --debug ...` is what people type
        args = ["--debug", *(a for a in args if a != "--debug")]
    previous = _handle_stop_signals()
    try:
        _register_commands()
        code = cli.main(args=args, prog_name="vsrt", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort as exc:  # click's wrapper around KeyboardInterrupt
        code = _report_interrupt(exc.__cause__ or exc)
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show(file=sys.stderr)  # a bare command: its help is the answer
        code = EXIT_USAGE
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "vsrt"
        _print_error(f"{exc.format_message().rstrip('.').replace('. (', ' (')} (see '{where} --help')")
        code = EXIT_USAGE
    except click.ClickException as exc:
        _print_error(exc.format_message())
        code = exc.exit_code if exc.exit_code is not None else EXIT_USAGE
    except VsrtError as exc:
        if debug:
            traceback.print_exc()
        _print_error(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt as exc:
        code = _report_interrupt(exc)
    except OSError as exc:  # the system's refusal (disk full, read-only, permission): not a bug
        where = f": {exc.filename}" if exc.filename else ""
        _print_error(f"{exc.strerror or exc}{where}")
        code = EXIT_FAILURE
    except Exception as exc:  # a bug: keep it to one line unless asked
        if debug:
            traceback.print_exc()
        error_console().print(
            f"vsrt: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
            markup=False,
            highlight=False,
        )
        code = EXIT_FAILURE
    finally:
        _restore_signals(previous)
    sys.exit(code if isinstance(code, int) else 0)
