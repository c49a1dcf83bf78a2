"""One run per output at a time: parallel workers over one folder split it between them."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from cli_runner import run_cli
from media import make_video
from tiny_models import tiny_model
from vsrt_cli.errors import OutputError
from vsrt_cli.pipeline.claim import OutputBusyError, claim_output, lock_path
from vsrt_cli.pipeline.outputs import temporary_path
from vsrt_cli.pipeline.resume import journal_path
from vsrt_cli.weights.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_checkpoint(tiny_model(), tmp_path_factory.mktemp("weights") / "tiny.safetensors")


def test_a_claimed_output_is_busy_for_any_other_claim_until_released(tmp_path):
    target = tmp_path / "out.mp4"
    with claim_output(target):
        assert lock_path(target).is_file()
        with pytest.raises(OutputBusyError, match=rf"out.mp4: another vsrt run \(process {os.getpid()}\) is writing"):
            with claim_output(target):
                pass
    assert os.listdir(tmp_path) == []  # the lock file goes with the claim
    with claim_output(target):
        pass


def test_a_failed_claim_removes_the_folders_it_made(tmp_path):
    target = tmp_path / "new" / "deeper" / "%06d.png"
    with pytest.raises(OutputError, match="already exists"):
        with claim_output(target):
            assert target.parent.is_dir()
            raise OutputError("already exists")
    assert os.listdir(tmp_path) == []


def test_hidden_names_fit_the_file_system_and_stay_distinct(tmp_path):
    assert lock_path(tmp_path / "a.mp4").name == ".a.mp4.vsrt-lock"
    assert journal_path(tmp_path / "a.mp4").name == ".a.mp4.vsrt-resume"
    # Legal names of 250 bytes, two-byte characters, differing only at their ends.
    first, second = (tmp_path / ("é" * 120 + end + ".mp4") for end in ("aa", "ab"))
    for name_of in (lock_path, journal_path, temporary_path):
        names = [name_of(target).name for target in (first, second)]
        assert all(len(name.encode()) <= 255 and name.startswith(".é") for name in names)
        assert names[0] != names[1]
    assert lock_path(first) == lock_path(first)  # the same on every run
    assert temporary_path(first).suffix == ".mp4"


def test_a_killed_run_leaves_no_claim_behind(tmp_path):
    target = tmp_path / "out.mp4"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from vsrt_cli.pipeline.claim import claim_output
        with claim_output(Path({str(target)!r})):
            print("claimed", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "claimed"
        with pytest.raises(OutputBusyError, match=f"process {holder.pid}"):
            with claim_output(target):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert lock_path(target).exists()  # the name stays; the lock does not
    with claim_output(target):
        pass
    assert not lock_path(target).exists()


def test_a_batch_skips_what_another_run_is_writing_with_skip_existing(tmp_path, weights, capsys):
    inputs = tmp_path / "videos"
    inputs.mkdir()
    for name in ("a.mp4", "b.mp4"):
        make_video(inputs / name, width=16, height=16, frames=3)
    out = tmp_path / "out"
    args = ["upscale", inputs, "-o", out, "--weights", weights, "--device", "cpu", "--json"]
    with claim_output(out / "a.mp4"):  # another worker is on a.mp4
        code, stdout, stderr = run_cli([*args, "--skip-existing"], capsys)
        assert f"skipped {inputs / 'a.mp4'}: {out / 'a.mp4'} is being written by another vsrt run" in stderr
        records = {os.path.basename(r["source"]): r for r in map(json.loads, stdout.splitlines())}
        assert code == 0
        assert records["a.mp4"]["status"] == "skipped" and records["a.mp4"]["notes"] == ["being written by another vsrt run"]
        assert records["b.mp4"]["status"] == "ok" and (out / "b.mp4").is_file()
        assert not (out / "a.mp4").exists()

        code, stdout, _ = run_cli([*args, "-y"], capsys)  # without --skip-existing it is an error, not a skip
        records = {os.path.basename(r["source"]): r for r in map(json.loads, stdout.splitlines())}
        assert code == 3 and records["a.mp4"]["status"] == "failed"
        assert "another vsrt run" in records["a.mp4"]["error"] and records["b.mp4"]["status"] == "ok"
    code, _, _ = run_cli([*args, "--skip-existing"], capsys)
    assert code == 0 and (out / "a.mp4").is_file()
    assert sorted(os.listdir(out)) == ["a.mp4", "b.mp4"]


def test_two_processes_on_one_folder_each_write_each_output_once(tmp_path, weights):
    inputs = tmp_path / "videos"
    inputs.mkdir()
    for index in range(4):
        make_video(inputs / f"{index}.mp4", width=16, height=16, frames=3)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "vsrt_cli", "upscale", str(inputs), "-o", str(out), "--weights", str(weights),
               "--device", "cpu", "--threads", "1", "--skip-existing", "--json"]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [err for _, err in results]
    records = [json.loads(line) for stdout, _ in results for line in stdout.splitlines()]
    written = sorted(os.path.basename(r["source"]) for r in records if r["status"] == "ok")
    assert written == ["0.mp4", "1.mp4", "2.mp4", "3.mp4"]  # each once, by one worker or the other
    assert sorted(os.listdir(out)) == written


def test_a_dry_run_says_what_the_run_would_do_about_an_output_being_written(tmp_path, weights, capsys):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2)
    target = tmp_path / "out.mp4"
    args = ["upscale", source, "-o", target, "--weights", weights, "--dry-run"]
    with claim_output(target):
        code, out, err = run_cli([*args, "--json"], capsys)
        assert code == 1 and f"another vsrt run (process {os.getpid()}) is writing it" in err
        assert json.loads(out)["status"] == "failed"
        code, out, _ = run_cli([*args, "--json", "--skip-existing"], capsys)
        record = json.loads(out)
        assert code == 0 and record["status"] == "skipped" and record["notes"] == ["being written by another vsrt run"]
        assert {"frames", "exit_code", "error", "seconds"} <= set(record)  # the shape of a run's record
        code, out, _ = run_cli([*args, "--skip-existing"], capsys)
        assert code == 0 and "being written by another vsrt run, skipped (--skip-existing)" in out
    code, out, _ = run_cli([*args, "--json"], capsys)
    assert code == 0 and json.loads(out)["status"] == "planned"
    assert os.listdir(tmp_path) == ["in.mp4"]


@pytest.mark.parametrize("dry_run", [False, True])
def test_picture_names_too_long_for_the_file_system_are_refused_before_any_work(tmp_path, weights, capsys, dry_run):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2)
    target = tmp_path / "out" / ("a" * 246 + "%06d.png")  # a legal name; its pictures' names are 256 bytes
    code, _, err = run_cli(["upscale", source, "-o", target, "--weights", weights, "-q"] + ["--dry-run"] * dry_run,
                           capsys)
    assert code == 1 and "would be too long for the file system" in err
    assert os.listdir(tmp_path) == ["in.mp4"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in a folder without write permission")
def test_a_dry_run_refuses_a_folder_the_run_could_not_write_in(tmp_path, weights, capsys):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2)
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o555)
    code, _, err = run_cli(["upscale", source, "-o", closed / "new" / "o.mp4", "--weights", weights, "--dry-run"], capsys)
    assert code == 1 and f"cannot write {closed / 'new' / 'o.mp4'}: Permission denied" in err
    code, _, err = run_cli(["upscale", source, "-o", closed / "o.mp4", "--weights", weights, "-q"], capsys)
    assert code == 1 and f"cannot write {closed / 'o.mp4'}: Permission denied" in err  # the run says the same


def test_a_dry_run_refuses_an_output_folder_that_is_a_file(tmp_path, weights, capsys):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2)
    (tmp_path / "taken").write_text("a file")
    code, _, err = run_cli(["upscale", source, "-o", tmp_path / "taken" / "o.mp4", "--weights", weights, "--dry-run"],
                           capsys)
    assert code == 1 and "taken is a file" in err


def test_what_killed_runs_left_of_this_output_goes_and_nothing_else(tmp_path, weights, capsys):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2)
    target = tmp_path / "out.mp4"
    stale = temporary_path(target)
    stale.write_bytes(b"x" * 1000)  # what `kill -9` leaves of a run of out.mp4
    others = temporary_path(tmp_path / "other.mp4")
    others.write_bytes(b"y")  # another output's: maybe a live run's
    code, out, err = run_cli(["upscale", source, "-o", target, "--weights", weights, "--json"], capsys)
    assert code == 0, err
    assert "removed 1 partial output(s) of this output left by a run that was killed" in json.loads(out)["notes"][0]
    assert sorted(os.listdir(tmp_path)) == sorted(["in.mp4", "out.mp4", others.name])

    pictures = tmp_path / "frames" / "%04d.png"
    pictures.parent.mkdir()
    dead, interrupted = temporary_path(pictures), temporary_path(pictures)
    dead.mkdir()
    (dead / "0001.png").write_bytes(b"new")
    (interrupted / "earlier").mkdir(parents=True)  # killed while replacing an earlier sequence
    (interrupted / "earlier" / "0001.png").write_bytes(b"old")
    code, out, err = run_cli(["upscale", source, "-o", pictures, "--weights", weights, "--json"], capsys)
    notes = " ".join(json.loads(out)["notes"])
    assert code == 0, err
    assert "removed 1 partial output(s)" in notes and "holds earlier pictures" in notes
    assert not dead.exists() and (interrupted / "earlier" / "0001.png").read_bytes() == b"old"
