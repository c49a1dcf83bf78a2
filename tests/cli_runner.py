"""Running `vsrt` in-process from tests."""

import pytest

from vsrt_cli.cli import main


def run_cli(args: list, capsys) -> tuple[int, str, str]:
    """Run `vsrt ARGS`; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as stopped:
        main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return stopped.value.code, captured.out, captured.err
