"""What happens before a command runs: the imports, and a Ctrl-C during them."""

import subprocess
import sys
import textwrap
import time

import pytest

import vsrt_cli


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def test_importing_the_package_leaves_torch_until_a_public_name_is_used():
    done = run_python(
        """
        import sys
        import vsrt_cli, vsrt_cli.cli
        print("torch" in sys.modules)
        vsrt_cli.upscale_clip
        print("torch" in sys.modules)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


def test_the_sub_packages_are_attributes_after_a_bare_import():
    # As they were when the package imported them all: the README names vsrt_cli.errors.*
    # and vsrt_cli.inference.upscale_stream.
    done = run_python(
        """
        import vsrt_cli
        print(vsrt_cli.inference.upscale_stream.__name__, vsrt_cli.errors.InputError.__name__)
        print(vsrt_cli.video.__name__, vsrt_cli.weights.__name__, vsrt_cli.pipeline.__name__)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["upscale_stream", "InputError", "vsrt_cli.video", "vsrt_cli.weights",
                                   "vsrt_cli.pipeline"]


def test_the_public_names_resolve_to_the_library_objects():
    from vsrt_cli.pipeline import upscale_video
    from vsrt_cli.weights.loading import load_model

    assert vsrt_cli.upscale_video is upscale_video
    assert vsrt_cli.load_model is load_model
    assert set(vsrt_cli.__all__) <= set(dir(vsrt_cli))
    for name in vsrt_cli.__all__:
        assert getattr(vsrt_cli, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'upscale'"):
        vsrt_cli.upscale


def test_a_ctrl_c_while_the_commands_import_is_an_interrupt_not_a_traceback():
    # The same KeyboardInterrupt a Ctrl-C raises during torch's import, at a fixed point.
    done = run_python(
        """
        import sys

        class CtrlC:
            def find_spec(self, name, path=None, target=None):
                if name == "vsrt_cli.cli.upscale_cmd":
                    raise KeyboardInterrupt

        sys.meta_path.insert(0, CtrlC())
        from vsrt_cli.cli import main
        main(["upscale", "in.mp4"])
        """
    )
    assert done.returncode == 130
    assert done.stderr == "vsrt: interrupted\n"


def test_after_the_first_stop_signal_later_ones_are_ignored_until_exit():
    # A second Ctrl-C must not cut short the removal of the partial output.
    import signal

    from vsrt_cli import cli

    previous = cli._handle_stop_signals()
    try:
        assert signal.getsignal(signal.SIGINT) is cli._stop
        with pytest.raises(KeyboardInterrupt):
            cli._stop(signal.SIGINT, None)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        cli._restore_signals(previous)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # kept until the process exits
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)


def test_a_run_started_with_ctrl_c_ignored_keeps_ignoring_it(tmp_path):
    # As a shell's background job is: Ctrl-C at the terminal is for the foreground program.
    import signal

    from media import make_video

    source = make_video(tmp_path / "in.mp4", width=32, height=32, frames=6)
    command = [sys.executable, "-m", "vsrt_cli", "upscale", str(source), "-o", str(tmp_path / "out.mp4"), "-q",
               "--threads", "1"]
    run = subprocess.Popen(command, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    for _ in range(3):
        time.sleep(1)
        run.send_signal(signal.SIGINT)
    assert run.wait(timeout=300) == 0
    assert (tmp_path / "out.mp4").is_file()
