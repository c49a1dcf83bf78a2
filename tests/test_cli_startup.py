"""What happens before a command runs: the imports, and a Ctrl-C during them."""

import subprocess
import sys
import textwrap

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
