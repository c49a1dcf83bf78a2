"""`vsrt upscale` end to end, with a tiny random model so it runs in seconds."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from media import audio_packets, make_interlaced_video, make_video, read_frames, stream_kinds
from tiny_models import tiny_config, tiny_model
from vsrt_cli.errors import UsageError
from vsrt_cli.models import VSRTransformer
from vsrt_cli.cli import main
from vsrt_cli.pipeline import upscale_video
from vsrt_cli.weights.checkpoint import save_checkpoint



@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_checkpoint(tiny_model(), path)
    return path


def run_cli(*args):
    """Run `vsrt ARGS` in-process; returns the exit code."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if "vsrt-partial" in p.name]


def seconds(pts_list, time_base):
    return [Fraction(p) * time_base for p in pts_list]


def test_mkv_vfr_odd_size_two_audio_tracks_and_subtitles(tmp_path, weights, capsys):
    source = make_video(tmp_path / "in.mkv", width=21, height=13, frames=6, vfr=True, audio_tracks=2, subtitles=True)
    target = tmp_path / "out.mkv"
    code = run_cli("upscale", source, "-o", target, "--weights", weights, "--device", "cpu", "--json")
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["status"] == "ok" and summary["frames"] == 6
    src, out = read_frames(source), read_frames(target)
    assert out.frames[0].shape == (52, 84, 3)
    assert len(out.frames) == len(src.frames) == 6
    # Variable frame rate: every timestamp kept exactly.
    assert seconds(out.pts, out.time_base) == seconds(src.pts, src.time_base)
    assert stream_kinds(target) == stream_kinds(source) == ["video", "audio", "audio", "subtitle"]
    assert list(audio_packets(target).values()) == list(audio_packets(source).values())
    assert leftovers(tmp_path) == []


def test_mp4_keeps_duration_and_colour_tags(tmp_path, weights):
    source = make_video(tmp_path / "in.mp4", width=24, height=16, frames=5, colour="bt709")
    target = tmp_path / "out.mp4"
    assert run_cli("upscale", source, "-o", target, "--weights", weights, "--device", "cpu", "-q") == 0
    with av.open(str(source)) as a, av.open(str(target)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        assert (vb.width, vb.height) == (96, 64)
        assert vb.codec_context.name in ("libx264", "h264")
        frame_time = float(1 / va.average_rate)
        assert abs(float(vb.duration * vb.time_base) - float(va.duration * va.time_base)) <= frame_time + 1e-6
        assert vb.codec_context.colorspace == va.codec_context.colorspace
        assert vb.codec_context.color_primaries == va.codec_context.color_primaries


def test_ten_bit_source_gives_ten_bit_output(tmp_path, weights):
    source = make_video(tmp_path / "in.mkv", width=16, height=16, frames=3, bit_depth=10)
    target = tmp_path / "out.mkv"
    assert run_cli("upscale", source, "-o", target, "--weights", weights, "--device", "cpu", "-q") == 0
    with av.open(str(target)) as container:
        assert "10" in container.streams.video[0].codec_context.pix_fmt


def test_folder_batch_keeps_the_tree_and_skip_existing_resumes(tmp_path, weights, capsys):
    inputs = tmp_path / "videos"
    (inputs / "sub").mkdir(parents=True)
    make_video(inputs / "a.mp4", width=16, height=16, frames=3)
    make_video(inputs / "sub" / "b.mkv", width=16, height=16, frames=3)
    (inputs / "notes.txt").write_text("not a video")
    out = tmp_path / "out"
    args = ["upscale", inputs, "-o", out, "-r", "--weights", weights, "--device", "cpu", "--json"]
    assert run_cli(*args) == 0
    assert (out / "a.mp4").is_file() and (out / "sub" / "b.mkv").is_file()
    capsys.readouterr()
    before = (out / "a.mp4").stat().st_mtime_ns
    assert run_cli(*args, "--skip-existing") == 0
    statuses = [json.loads(line)["status"] for line in capsys.readouterr().out.splitlines()]
    assert statuses == ["skipped", "skipped"]
    assert (out / "a.mp4").stat().st_mtime_ns == before
    # Without -y an existing output is refused (one item failed of several: 3 would be partial; all fail: 1).
    assert run_cli(*args) == 1


def test_a_batch_writes_inputs_in_unwritable_containers_as_mkv(tmp_path, weights, capsys):
    # Ogg (Theora/VP8) and raw Y4M are common archive and test-sequence formats that
    # hold none of vsrt's video codecs: the batch keeps their names but not the extension.
    inputs = tmp_path / "videos"
    inputs.mkdir()
    make_video(inputs / "talk.ogv", width=16, height=16, frames=3, codec="libvpx", audio_codec="libopus")
    make_video(inputs / "a.mp4", width=16, height=16, frames=3)
    out = tmp_path / "out"
    assert run_cli("upscale", inputs, "-o", out, "--weights", weights, "--device", "cpu", "--json") == 0
    results = {Path(r["output"]).name: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert sorted(results) == ["a.mp4", "talk.mkv"]
    assert results["talk.mkv"]["notes"][0] == "vsrt cannot write .ogv files; written as .mkv"
    assert stream_kinds(out / "talk.mkv") == ["video", "audio"]
    assert not any("cannot write" in note for note in results["a.mp4"]["notes"])
    # Asked for by name, such an output is refused before any work, with the choices.
    assert run_cli("upscale", inputs / "a.mp4", "-o", tmp_path / "a.ogv", "--weights", weights) == 1
    assert "vsrt cannot write .ogv files; use one of .mp4" in capsys.readouterr().err
    assert not (tmp_path / "a.ogv").exists() and leftovers(tmp_path) == []


def test_one_bad_input_does_not_stop_the_batch(tmp_path, weights, capsys):
    inputs = tmp_path / "videos"
    inputs.mkdir()
    make_video(inputs / "good.mp4", width=16, height=16, frames=3)
    (inputs / "broken.mp4").write_text("this is not a video")
    out = tmp_path / "out"
    code = run_cli("upscale", inputs, "-o", out, "--weights", weights, "--device", "cpu", "--json")
    assert code == 3
    results = {Path(r["source"]).name: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert results["good.mp4"]["status"] == "ok"
    assert results["broken.mp4"]["status"] == "failed" and results["broken.mp4"]["error"]
    assert not (out / "broken.mp4").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "make_input,expected",
    [
        (lambda d: d / "missing.mp4", 2),  # usage: input not found
        (lambda d: (d / "text.mp4").write_text("hello") and d / "text.mp4", 1),
        (lambda d: _audio_only(d), 1),
    ],
)
def test_bad_inputs_give_one_line_and_a_documented_exit_code(tmp_path, weights, capsys, make_input, expected):
    source = make_input(tmp_path)
    code = run_cli("upscale", source, "-o", tmp_path / "out.mp4", "--weights", weights, "--device", "cpu")
    assert code == expected
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vsrt: error:")
    assert "Traceback" not in "\n".join(err)
    assert not (tmp_path / "out.mp4").exists() and leftovers(tmp_path) == []


def _audio_only(folder: Path) -> Path:
    path = folder / "tone.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        samples = (0.1 * np.sin(np.arange(48000) * 0.05)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 48000
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_truncated_input_upscales_what_decodes(tmp_path, weights):
    source = make_video(tmp_path / "full.mp4", width=16, height=16, frames=8, faststart=True)
    data = source.read_bytes()
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(data[: int(len(data) * 0.7)])
    code = run_cli("upscale", truncated, "-o", tmp_path / "out.mp4", "--weights", weights, "--device", "cpu", "-q")
    if code == 0:
        assert 0 < len(read_frames(tmp_path / "out.mp4").frames) <= 8
    else:
        assert code == 1 and not (tmp_path / "out.mp4").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("size", "damaged_bytes", "note"),
    [
        # Small frames: the damage takes whole packets, which cannot be decoded.
        ((32, 32), 600, "could not be decoded"),
        # Bigger frames: the decoder conceals the damage and flags the frame as corrupt.
        ((320, 240), 8, "damaged data were upscaled"),
    ],
)
def test_damage_in_the_middle_is_reported_in_the_notes(tmp_path, size, damaged_bytes, note):
    # MP4 finds every packet from its index, so damage stays local to a few frames.
    width, height = size
    source = make_video(tmp_path / "clean.mp4", width=width, height=height, frames=12, audio_tracks=0, faststart=True)
    data = bytearray(source.read_bytes())
    start = len(data) // 2
    noise = np.random.default_rng(1).integers(0, 256, damaged_bytes, dtype=np.uint8).tobytes()
    data[start : start + damaged_bytes] = noise
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    result = upscale_video(damaged, tmp_path / "out.mp4", tiny_model())
    assert result.frames >= 9
    assert any(note in text for text in result.notes), result.notes


def test_output_safety(tmp_path, weights):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2)
    original = source.read_bytes()
    # Never over the input, even with -y.
    assert run_cli("upscale", source, "-o", source, "-y", "--weights", weights, "--device", "cpu") == 1
    assert source.read_bytes() == original
    target = tmp_path / "out.mp4"
    target.write_bytes(b"keep me")
    assert run_cli("upscale", source, "-o", target, "--weights", weights, "--device", "cpu") == 1
    assert target.read_bytes() == b"keep me"
    assert run_cli("upscale", source, "-o", target, "-y", "--weights", weights, "--device", "cpu", "-q") == 0
    assert target.read_bytes() != b"keep me"


def test_unwritable_output_and_unknown_codec(tmp_path, weights):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.geteuid() != 0:  # root ignores permissions
            assert run_cli("upscale", source, "-o", locked / "out.mp4", "--weights", weights, "--device", "cpu") == 1
    finally:
        locked.chmod(0o700)
    code = run_cli("upscale", source, "-o", tmp_path / "o.mp4", "--codec", "nope264", "--weights", weights, "--device", "cpu")
    assert code == 1
    assert not (tmp_path / "o.mp4").exists() and leftovers(tmp_path) == []


def test_missing_weights_exit_4(tmp_path, capsys):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2)
    code = run_cli("upscale", source, "-o", tmp_path / "o.mp4", "-m", "vsrt-official-reds")
    assert code == 4
    assert "import-weights" in capsys.readouterr().err


def test_interrupt_in_the_library_leaves_nothing(tmp_path, weights):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=6)
    target = tmp_path / "out.mp4"

    def interrupt(progress):
        if progress.frames_done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upscale_video(source, target, str(weights), progress=interrupt)
    assert not target.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("stop,expected", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_removes_the_partial_file(tmp_path, weights, stop, expected):
    """Ctrl-C, and SIGTERM as kill, timeout, systemd and docker stop send it."""
    # Long enough that the run is still going when the Ctrl-C arrives, even on a fast machine.
    source = make_video(tmp_path / "in.mp4", width=48, height=48, frames=400)
    target = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen(
        [sys.executable, "-m", "vsrt_cli", "upscale", str(source), "-o", str(target), "--weights", str(weights),
         "--device", "cpu"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        # A test run started in the background by a shell inherits SIGINT ignored, and so
        # would vsrt; a terminal's Ctrl-C reaches a process whose SIGINT is the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not leftovers(tmp_path) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert leftovers(tmp_path), "the run should be writing its temporary file"
    process.send_signal(stop)
    code = process.wait(timeout=60)
    assert code == expected, process.stderr.read().decode()
    assert not target.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("resumable", [False, True])
def test_a_file_too_large_for_the_disk_is_one_line_naming_the_target(tmp_path, weights, resumable):
    """A FAT32 stick (4 GB a file) or a full disk, simulated by a file-size limit: whichever
    stream's write fails, the error names the output the user asked for, not a stream or a
    temporary name, and the partial file goes."""
    import resource

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    source = make_video(tmp_path / "in.mp4", width=64, height=48, frames=24, audio_tracks=1)
    target = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-m", "vsrt_cli", "upscale", str(source), "-o", str(target), "--weights", str(weights),
         "--device", "cpu", "--crf", "0", "-q", *(["--resumable"] if resumable else [])],
        env=env, capture_output=True, text=True, timeout=300, preexec_fn=limited,
    )
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.splitlines()
    # Without --resumable the output's own write fails first, with it the journal's.
    named = f"{tmp_path / '.out.mp4.vsrt-resume'}: cannot write the resume journal" if resumable else f"{target}"
    assert line.startswith("vsrt: error: ") and named in line and "File too large" in line
    assert "vsrt-partial" not in line
    assert not target.exists() and leftovers(tmp_path) == []
    # A --resumable run keeps its journal, to go on once there is room.
    assert (tmp_path / ".out.mp4.vsrt-resume").exists() == resumable


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, weights, capsys):
    source = make_video(tmp_path / "in.mp4", width=40, height=24, frames=7)
    code = run_cli("upscale", source, "-o", tmp_path / "o.mp4", "--weights", weights, "--dry-run", "--json")
    assert code == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["frames"] == 7 and plan["output_size"] == [160, 96]
    assert plan["window_stride"] == 3 and plan["windows"] == 3  # T=3 -> stride 3: frames 0-2, 3-5, 6
    assert plan["tiles_per_window"] == 3 * 2 and plan["gmac_per_frame"] > 0
    assert plan["ensemble"] == 1
    # The output side: the writer's own choices, and the notes a run would give.
    assert (plan["encoder"], plan["pix_fmt"], plan["notes"]) == ("libx264", "yuv420p", [])
    assert plan["stream_actions"] == [{"index": 1, "kind": "audio", "action": "copy", "target": None}]
    assert not (tmp_path / "o.mp4").exists()
    assert run_cli("upscale", source, "-o", tmp_path / "o.webm", "--weights", weights, "--dry-run", "--json") == 0
    webm = json.loads(capsys.readouterr().out)
    assert webm["encoder"] == "libvpx-vp9" and webm["stream_actions"][0]["target"] == "libopus"
    assert webm["notes"] == ["WebM cannot hold aac audio; audio stream #1 (aac) transcoded to Opus"]
    assert run_cli("upscale", source, "-o", tmp_path / "o.ogv", "--weights", weights, "--dry-run") == 1
    assert "vsrt cannot write .ogv files" in capsys.readouterr().err
    code = run_cli("upscale", source, "-o", tmp_path / "o.mp4", "--weights", weights, "--dry-run", "--ensemble", "4", "--json")
    assert code == 0
    ensemble = json.loads(capsys.readouterr().out)
    assert ensemble["ensemble"] == 4 and ensemble["flow_gmac_per_frame"] == plan["flow_gmac_per_frame"]
    model_part = plan["gmac_per_frame"] - plan["flow_gmac_per_frame"]
    assert ensemble["gmac_per_frame"] == pytest.approx(plan["flow_gmac_per_frame"] + 4 * model_part, abs=0.03)
    assert run_cli("upscale", source, "-o", tmp_path / "o.mp4", "--weights", weights, "--ensemble", "3") == 2
    assert not (tmp_path / "o.mp4").exists()
    # A network whose SPyNet stops at five of its six levels: a quarter of the flow work.
    coarse = VSRTransformer(dataclasses.replace(tiny_config(), flow_levels=5))
    coarse_weights = save_checkpoint(coarse, tmp_path / "coarse.safetensors")
    code = run_cli("upscale", source, "-o", tmp_path / "o.mp4", "--weights", coarse_weights, "--dry-run", "--json")
    assert code == 0
    five = json.loads(capsys.readouterr().out)
    assert five["flow_gmac_per_frame"] == pytest.approx(0.2498 * plan["flow_gmac_per_frame"], abs=0.01)
    assert five["gmac_per_frame"] - five["flow_gmac_per_frame"] == pytest.approx(model_part, abs=0.02)


@pytest.mark.parametrize(
    "option,message",
    [
        (["--window-stride", "0"], "--window-stride 0: must be between 1 and 3"),
        (["--window-stride", "9"], "--window-stride 9: must be between 1 and 3"),
        (["--tile-overlap", "40"], "--tile-overlap 40: must be between 0 and"),
        (["--tile-batch", "0"], "--tile-batch 0: must be at least 1"),
        (["--precision", "fp8"], "--precision 'fp8'"),
        (["--device", "tpu"], "--device 'tpu'"),
        (["--preset", "bogus"], "unknown preset 'bogus'"),
        (["--crf", "-5"], "--crf -5: must be 0 or more"),
        (["--bogus"], "No such option '--bogus' (see 'vsrt upscale --help')"),
        (["--crf", "abc"], "'abc' is not a valid float"),
        (["--scale", "0.5"], "--scale 0.5: must be from 1 to 4"),
        (["--scale", "8"], "--scale 8: must be from 1 to 4"),
        (["--scale", "nan"], "--scale nan: must be from 1 to 4"),
        (["--scale", "2x"], "--scale '2x': expected a number from 1 to 4"),
        (["--height", "1080p"], "--height '1080p': expected a whole number of lines"),
        (["--height", "0"], "--height 0: must be from 2 to"),
    ],
)
@pytest.mark.parametrize("dry_run", [True, False])
def test_a_bad_value_is_one_line_and_exit_2_with_or_without_dry_run(tmp_path, weights, capsys, option, message, dry_run):
    """--dry-run checks what the run checks, so a plan it prints is one the run accepts."""
    source = make_video(tmp_path / "in.mp4", width=40, height=24, frames=3)
    extra = ["--dry-run"] if dry_run else []
    code = run_cli("upscale", source, "-o", tmp_path / "o.mp4", "--weights", weights, *option, *extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("vsrt: error:") and message in err[0], err
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_dry_run_names_the_device_precision_and_encoder_settings(tmp_path, weights, capsys):
    source = make_video(tmp_path / "in.mp4", width=40, height=24, frames=3)
    args = ("upscale", source, "-o", tmp_path / "o.mp4", "--weights", weights, "--device", "cpu", "--dry-run")
    assert run_cli(*args, "--precision", "fp32", "--crf", "20", "--preset", "slow", "--json") == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["device"], plan["precision"]) == ("cpu", "fp32")
    assert plan["encoder_settings"] == {"crf": "20", "preset": "slow"}
    # The human-readable plan is the command's result too: on stdout, so it can be piped.
    assert run_cli(*args) == 0
    out = capsys.readouterr().out
    assert "model: on cpu" in out and "output: libx264 yuv420p (crf=18, preset=medium)" in out


def test_quiet_is_quiet_even_for_encoders_that_print_on_their_own(tmp_path, weights):
    """10-bit WebM goes to SVT-AV1 here (this libvpx has no 10-bit), which prints a banner."""
    source = make_video(tmp_path / "p10.mkv", width=16, height=16, frames=2, bit_depth=10, audio_tracks=0)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("SVT_LOG", None)
    done = subprocess.run(
        [sys.executable, "-m", "vsrt_cli", "upscale", str(source), "-o", str(tmp_path / "o.webm"), "-q",
         "--weights", str(weights), "--device", "cpu"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0 and done.stderr == "" and done.stdout == ""
    assert (tmp_path / "o.webm").is_file()


def test_a_dry_run_over_a_folder_plans_every_readable_file(tmp_path, weights, capsys):
    """As the run does: one unreadable file is reported and the rest are planned (exit 3)."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "0.mp4").write_text("not a video")
    make_video(folder / "a.mp4", width=16, height=16, frames=2)
    make_video(folder / "b.mp4", width=16, height=16, frames=3)
    code = run_cli("upscale", folder, "-o", tmp_path / "out", "--weights", weights, "--dry-run", "--json")
    captured = capsys.readouterr()
    assert code == 3
    records = [json.loads(line) for line in captured.out.splitlines()]  # one object per line
    assert [(Path(r["source"]).name, r["status"]) for r in records] == [
        ("0.mp4", "failed"), ("a.mp4", "planned"), ("b.mp4", "planned")
    ]
    assert records[0]["exit_code"] == 1 and records[0]["error"]
    plans = records[1:]
    assert [(p["frames"], p["frames_exact"], p["model"]) for p in plans] == [(2, True, str(weights))] + [(3, True, str(weights))]
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("vsrt: error:") and "0.mp4" in errors[0]
    assert not (tmp_path / "out").exists()


def test_a_truncated_input_says_how_many_frames_it_lost(tmp_path):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=40, faststart=True)
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 2])  # the index (at the front) still lists all 40
    result = upscale_video(source, tmp_path / "out.mp4", tiny_model())
    assert result.status == "ok" and 0 < result.frames < 40
    assert f"the container lists 40 frames but only {result.frames} could be decoded" in " ".join(result.notes)


def test_library_arguments_are_checked_and_a_callbacks_own_error_is_its_own(tmp_path, monkeypatch):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2)
    with pytest.raises(UsageError, match="no extension"):
        upscale_video(source, tmp_path / "noext", tiny_model())
    with pytest.raises(UsageError, match="must be a vsrt VSRTransformer"):
        upscale_video(source, tmp_path / "o.mp4", torch.nn.Conv2d(3, 3, 1))

    def broken_pipe(progress):
        raise BrokenPipeError(32, "Broken pipe")  # print() to a closed pipe, say

    with pytest.raises(BrokenPipeError):  # not an OutputError blaming the target
        upscale_video(source, tmp_path / "o.mp4", tiny_model(), progress=broken_pipe)
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]
    monkeypatch.setenv("HOME", str(tmp_path))  # "~" is the user's home, not a folder named "~"
    assert upscale_video(source, "~/o.mp4", tiny_model(), inference=None).status == "ok"
    assert (tmp_path / "o.mp4").is_file() and not (Path.cwd() / "~").exists()


def test_a_dry_run_says_what_the_run_would_do_about_an_existing_output(tmp_path, weights, capsys):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2)
    (tmp_path / "o.mp4").write_bytes(b"keep")
    args = ("upscale", source, "-o", tmp_path / "o.mp4", "--weights", weights, "--dry-run", "--json")
    assert run_cli(*args) == 1  # as the run: it exists, and neither -y nor --skip-existing
    captured = capsys.readouterr()
    assert "already exists (use -y/--overwrite" in captured.err
    failed = json.loads(captured.out)  # and for scripts, the object a run's failure gives
    assert failed["status"] == "failed" and failed["exit_code"] == 1 and "already exists" in failed["error"]
    assert run_cli(*args, "--skip-existing") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "skipped"
    assert run_cli(*args[:-1], "--skip-existing") == 0  # and in words
    assert "exists, skipped (--skip-existing)" in capsys.readouterr().out
    assert run_cli(*args, "-y") == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["status"] == "planned" and plan["exists"] is True
    assert run_cli(*args[:-1], "-y", "-e", "nosuchopt=1") == 2  # the encoder is opened with its options
    assert "-e nosuchopt: libx264 has no such option" in capsys.readouterr().err
    assert (tmp_path / "o.mp4").read_bytes() == b"keep"


def test_the_library_result_names_a_loaded_model(tmp_path, weights):
    from vsrt_cli import load_model

    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2)
    result = upscale_video(source, tmp_path / "out.mp4", load_model(weights))
    assert result.status == "ok" and result.model == str(weights)


def test_interlaced_source_is_deinterlaced_and_said_so(tmp_path, weights, capsys):
    source = make_interlaced_video(tmp_path / "dv.mkv", width=32, height=24, frames=4)
    code = run_cli("upscale", source, "-o", tmp_path / "o.mp4", "--weights", weights, "--dry-run", "--json")
    assert code == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["interlaced"] is True and plan["deinterlace"] is True
    code = run_cli("upscale", source, "-o", tmp_path / "o.mp4", "--weights", weights, "--json", "-q")
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == 4
    assert "deinterlaced with bwdif before upscaling (every frame is flagged interlaced)" in result["notes"]
    code = run_cli("upscale", source, "-o", tmp_path / "raw.mp4", "--weights", weights, "--deinterlace", "off", "--json")
    assert code == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert "every frame is flagged interlaced but was upscaled without deinterlacing" in notes


def test_python_module_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vsrt_cli", "--help"], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert result.returncode == 0 and "upscale" in result.stdout


def test_big_output_frames_wait_fewer_at_a_time():
    from vsrt_cli.pipeline.upscale import ENCODE_DEPTH, encode_queue_depth

    assert encode_queue_depth(1280 * 720 * 3 // 2) == ENCODE_DEPTH
    assert encode_queue_depth(5120 * 2880 * 3 // 2) == ENCODE_DEPTH  # 22 MB in yuv420p
    assert encode_queue_depth(5120 * 2880 * 3 * 2) == 3  # 88 MB in 16-bit 4:4:4
    assert encode_queue_depth(40000 * 40000 * 3 // 2) == 1


@pytest.mark.parametrize(("codec", "fps"), [("mpeg2video", 24), ("mpeg1video", 25)])
@pytest.mark.parametrize("ext", [".mpg", ".mkv"])
def test_mpeg1_and_mpeg2_from_an_mp4_source(tmp_path, weights, codec, fps, ext):
    """An MP4's time base (1/12288 here) is no MPEG-1/2 frame rate: the encoder takes 1/fps."""
    source = make_video(tmp_path / "in.mp4", width=40, height=24, frames=6, fps=fps)
    target = tmp_path / f"out{ext}"
    assert run_cli("upscale", source, "-o", target, "--weights", weights, "--device", "cpu", "--codec", codec, "-q") == 0
    with av.open(str(target)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == codec and stream.average_rate == fps
    assert len(read_frames(target).frames) == 6


def test_the_plain_progress_line_gives_the_share_done_and_the_time_left():
    from vsrt_cli.cli.reporting import plain_progress
    from vsrt_cli.pipeline.upscale import Progress

    assert plain_progress(Progress(600, 172_800, 600 / 0.93)) == "frame 600/172800 (0.3%), 0.93 fps, 51:26:01 left"
    assert plain_progress(Progress(5, None, 10.0)) == "frame 5, 0.50 fps"  # a total the container does not say
    assert plain_progress(Progress(0, 100, 0.0)) == "frame 0/100 (0.0%), 0.00 fps"
    assert Progress(120, 100, 60.0).seconds_left == 0  # an estimated total can be passed


def test_the_folder_script_passes_options_on_and_resumes(tmp_path, weights):
    script = Path(__file__).resolve().parents[1] / "examples" / "upscale_folder.sh"
    (tmp_path / "src" / "sub").mkdir(parents=True)
    make_video(tmp_path / "src" / "a.mp4", width=40, height=24, frames=3, audio_tracks=0)
    make_video(tmp_path / "src" / "sub" / "b.mkv", width=36, height=32, frames=3, audio_tracks=0)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = ["bash", str(script), str(tmp_path / "src"), str(tmp_path / "dst"), "--weights", str(weights),
               "--device", "cpu", "--height", "48"]
    for expected in ("ok", "skipped"):  # the second run resumes: nothing left to do
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in (tmp_path / "dst" / "vsrt-log.jsonl").read_text().splitlines()]
        assert [line["status"] for line in lines[-2:]] == [expected, expected]
    assert read_frames(tmp_path / "dst" / "sub" / "b.mkv").frames[0].shape == (48, 54, 3)


def test_a_batch_stopped_in_a_file_says_which_in_its_json(tmp_path, weights, capsys, monkeypatch):
    import vsrt_cli.cli.upscale_cmd as upscale_cmd

    (tmp_path / "in").mkdir()
    for name in ("a.mp4", "b.mp4"):
        make_video(tmp_path / "in" / name, width=16, height=16, frames=2, audio_tracks=0)
    real = upscale_cmd.run_job

    def stopped_in_b(job, *args, **kwargs):
        if job.source.name == "b.mp4":
            report = kwargs["progress"]

            def stop_after_one(progress):
                report(progress)
                raise KeyboardInterrupt

            kwargs = {**kwargs, "progress": stop_after_one}
        return real(job, *args, **kwargs)

    monkeypatch.setattr(upscale_cmd, "run_job", stopped_in_b)
    code = run_cli("upscale", tmp_path / "in", "-o", tmp_path / "out", "--weights", weights, "--json", "-q")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 130
    assert [(Path(r["source"]).name, r["status"], r["exit_code"]) for r in lines] == [
        ("a.mp4", "ok", 0), ("b.mp4", "interrupted", 130)
    ]
    assert lines[1]["frames"] == 1  # how far it got
