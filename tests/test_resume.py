"""`--resumable`: the journal, where a run goes on from, and a stopped run finished later."""

from __future__ import annotations

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

from cli_runner import run_cli
from media import audio_packets, make_interlaced_video, make_video, read_frames
from tiny_models import tiny_model
from vsrt_cli.pipeline.resume import Journal, Record, _scan, journal_path, resume_point
from vsrt_cli.pipeline.upscale import upscale_video
from vsrt_cli.video import EncodeOptions
from vsrt_cli.inference import InferenceOptions
from vsrt_cli.weights.checkpoint import save_checkpoint


def _records(*frames):
    """(pts, keyframe) in decode order -> records, each frame's source pts 10x its pts."""
    return [Record(pts, pts, 1, 10 * pts, key, 100 * i) for i, (pts, key) in enumerate(frames)]


def test_the_resume_point_is_the_last_keyframe_after_which_nothing_earlier_is_shown():
    # Decode order of I P B B | I P B B (closed groups): go on from the second I.
    records = _records((0, True), (3, False), (1, False), (2, False), (4, True), (7, False), (5, False))
    point = resume_point(records)
    assert (point.frames, point.source_pts, point.end) == (4, 40, 400 - 37)  # less its 37-byte header
    # The keyframe at 4 opens a group whose frame 3, after it, is shown before it (HEVC's
    # CRA): not a place to go on from. The closed one at 6 is, once a later frame is in.
    records = _records((0, True), (2, False), (1, False), (4, True), (3, False), (5, False), (6, True), (8, False),
                       (7, False))
    assert resume_point(records[:6]) is None
    assert resume_point(records[:7]) is None  # nothing after 6 written yet
    assert (resume_point(records).frames, resume_point(records).source_pts) == (6, 60)
    assert resume_point(_records((0, True), (1, False), (2, False))) is None  # nothing to keep


def _packet(data: bytes, pts: int, key: bool) -> av.Packet:
    packet = av.Packet(data)
    packet.pts = packet.dts = pts
    packet.duration = 1
    packet.time_base = Fraction(1, 24)
    packet.is_keyframe = key
    return packet


def test_a_journal_keeps_what_it_resumes_and_ignores_a_record_cut_short(tmp_path):
    target = tmp_path / "film.mkv"
    run = {"settings": 1}
    journal = Journal(target, run)
    assert journal.resumption is None and journal.note is None
    journal.start()
    for pts in range(7):
        journal.record(_packet(bytes([pts]) * (pts + 1), pts, pts % 3 == 0), 1000 + pts)
    journal.close()
    with open(journal_path(target), "ab") as file:
        file.write(b"\x01\x02\x03")  # a crash in the middle of a record
    again = Journal(target, run)
    # Keyframes at 0, 3 and 6; nothing after 6 was written, so it goes on from 3.
    assert (again.resumption.frames, again.resumption.source_pts) == (3, 1003)
    again.start()
    copied = list(again.copied(Fraction(1, 24)))
    assert [bytes(p) for p, _ in copied] == [bytes([pts]) * (pts + 1) for pts in range(3)]
    assert [p.pts for p, _ in copied] == list(range(3)) and [s for _, s in copied] == list(range(1000, 1003))
    assert [p.is_keyframe for p, _ in copied] == [True, False, False]
    again.record(_packet(b"new", 3, True), 1003)
    again.remove()
    assert not journal_path(target).exists()
    other = Journal(target, {"settings": 2})
    assert other.resumption is None and other.note is None  # none left to replace


def test_a_journal_of_other_settings_is_replaced(tmp_path):
    target = tmp_path / "film.mkv"
    journal = Journal(target, {"crf": 18})
    journal.start()
    for pts in range(4):
        journal.record(_packet(b"x", pts, pts in (0, 2)), pts)
    journal.close()
    other = Journal(target, {"crf": 20})
    assert other.resumption is None and "of another source or other settings: the run starts over" in other.note


def test_an_empty_journal_is_said_to_be_empty(tmp_path):
    target = tmp_path / "film.mkv"
    journal_path(target).write_bytes(b"")  # its run was killed before it wrote anything
    journal = Journal(target, {"crf": 18})
    assert journal.resumption is None and "journal beside the output is empty" in journal.note
    journal.start()  # and one started is never empty: it names its run at once
    assert journal_path(target).stat().st_size > 0
    journal.close()


def test_an_output_name_near_the_limit_is_resumable_too(tmp_path, capsys):
    weights = save_checkpoint(tiny_model(), tmp_path / "tiny.safetensors")
    source = make_video(tmp_path / "clip.mp4", width=40, height=24, frames=6)
    target = tmp_path / ("y" * 250 + ".mp4")  # `.NAME.vsrt-resume` would be 268 bytes
    code, _, err = run_cli(["upscale", source, "-o", target, "--weights", weights, "--resumable", "-q"], capsys)
    assert code == 0, err
    assert len(read_frames(target).frames) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["clip.mp4", "tiny.safetensors", target.name])


class _Stop(KeyboardInterrupt):
    pass


def _stop_after(frames):
    def stop(progress):
        if progress.frames_done == frames:
            raise _Stop

    return stop


def test_a_damaged_record_ends_the_journal_and_what_came_before_is_used(tmp_path):
    target = tmp_path / "film.mkv"
    journal = Journal(target, {})
    journal.start()
    for pts in range(40):
        journal.record(_packet(bytes([pts]) * 100, pts, pts % 10 == 0), pts)
    journal.close()
    data = bytearray(journal_path(target).read_bytes())
    whole = bytes(data)
    record = 37 + 100 + 4  # header, payload, CRC-32
    start = len(data) - 40 * record
    data[start + 25 * record + 37 + 50] ^= 0x10  # one bit of packet 25's payload
    journal_path(target).write_bytes(bytes(data))
    assert Journal(target, {}).resumption.frames == 20  # packets 0-24 are whole: from the keyframe at 20
    journal_path(target).write_bytes(whole[: start + 33 * record] + bytes(7 * record))  # a power cut's zeros
    assert Journal(target, {}).resumption.frames == 30


def test_a_stopped_run_goes_on_where_it_stopped(tmp_path):
    model = tiny_model()
    source = make_video(tmp_path / "film.mp4", width=40, height=24, frames=60, fps=24)
    # Lossless, so that what is compared is what the model made.
    encode = EncodeOptions(crf=0, preset="ultrafast", pix_fmt="yuv444p",
                           encoder_options={"x264-params": "keyint=8:min-keyint=8:scenecut=0"})
    options = dict(inference=InferenceOptions(device="cpu", precision="fp32"), encode=encode)
    reference = upscale_video(source, tmp_path / "reference.mp4", model, **options)
    target = tmp_path / "film_4x.mp4"

    with pytest.raises(_Stop):
        upscale_video(source, target, model, resumable=True, progress=_stop_after(37), **options)
    assert not target.exists() and journal_path(target).exists()

    seen = []
    result = upscale_video(source, target, model, resumable=True, progress=seen.append, **options)
    copied = seen[0].frames_copied
    assert 8 <= copied <= 32 and copied % 8 == 0  # whole groups of 8, before the stop
    assert result.notes[0] == f"resumed where an earlier run stopped: {copied} frame(s) copied from its journal"
    assert seen[0].frames_done == copied + 1 and seen[-1].frames_done == 60 == result.frames
    assert not journal_path(target).exists()
    expected, got = read_frames(tmp_path / "reference.mp4"), read_frames(target)
    assert got.pts == expected.pts  # every frame at its time
    assert audio_packets(target) == audio_packets(tmp_path / "reference.mp4")  # the audio whole
    # The copied groups are the first run's packets; the rest was upscaled again in the
    # same windows as an unbroken run's (decoded from the window's first frame, the frames
    # before the keyframe dropped): losslessly encoded, the very same frames.
    differences = [float(np.abs(a - b).mean()) for a, b in zip(got.frames, expected.frames)]
    assert max(differences[:copied]) == 0 and max(differences[copied:]) == 0, differences
    assert reference.frames == 60


def test_resumable_refuses_a_part_and_a_finished_run_leaves_no_journal(tmp_path, capsys):
    weights = save_checkpoint(tiny_model(), tmp_path / "tiny.safetensors")
    source = make_video(tmp_path / "clip.mp4", width=40, height=24, frames=6)
    base = ["upscale", source, "--weights", weights, "--device", "cpu", "--resumable"]
    code, _, err = run_cli([*base, "-o", tmp_path / "a.mp4", "--start", "0.1"], capsys)
    assert code == 2 and "--resumable is for whole videos" in err
    code, _, _ = run_cli([*base, "-o", tmp_path / "b.mp4", "-q"], capsys)
    assert code == 0 and len(read_frames(tmp_path / "b.mp4").frames) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.mp4", "clip.mp4", "tiny.safetensors"]


def _records_in(journal) -> int:
    if not journal.exists():
        return 0
    with open(journal, "rb") as file:
        file.readline()
        return sum(1 for _ in _scan(file))


def test_sigterm_keeps_the_journal_and_the_same_command_goes_on(tmp_path, capsys):
    weights = save_checkpoint(tiny_model(), tmp_path / "tiny.safetensors")
    source = make_video(tmp_path / "film.mp4", width=48, height=48, frames=400)
    target = tmp_path / "film_4x.mp4"
    command = ["upscale", source, "-o", target, "--weights", weights, "--device", "cpu", "--resumable",
               "-e", "x264-params=keyint=10:min-keyint=10:scenecut=0"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen([sys.executable, "-m", "vsrt_cli", *map(str, command)], env=env,
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    journal = journal_path(target)
    deadline = time.monotonic() + 120
    while _records_in(journal) < 25 and process.poll() is None:  # two groups of 10 or more
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    assert "its journal is kept: the same command goes on" in process.stderr.read().decode()
    assert journal.exists() and not target.exists()
    code, out, _ = run_cli([*command, "--dry-run"], capsys)
    assert code == 0 and "an earlier run's journal:" in out
    code, out, _ = run_cli([*command, "--json", "-q"], capsys)
    result = json.loads(out)
    assert code == 0 and result["frames"] == 400 and result["notes"][0].startswith("resumed where an earlier run")
    assert not journal.exists() and read_frames(target).pts == read_frames(source).pts


def test_a_resumed_run_starts_decoding_where_its_window_starts():
    from vsrt_cli.pipeline.resume import Resumption

    shown = tuple(range(100, 124))  # 24 frames copied, source pts 100 to 123
    resumption = Resumption(24, 124, 0, shown)
    # Windows of 5 side by side: from frame 15, a window before the one that holds frame 24.
    assert resumption.window_start(5, 5) == (115, 9)
    assert resumption.window_start(4, 5) == (116, 8)  # overlapping windows: two strides back
    assert resumption.window_start(1, 5) == (119, 5)
    assert Resumption(3, 103, 0, (100, 101, 102)).window_start(1, 5) == (100, 3)  # from the first frame
    assert Resumption(25, 125, 0, tuple(range(100, 125))).window_start(5, 5) == (120, 5)


@pytest.mark.parametrize("kind", ["interlaced", "x265"])
def test_interlaced_sources_and_x265_resume_too(tmp_path, kind):
    """bwdif looks at the frames before, and x265 makes open groups unless told not to."""
    model = tiny_model()
    if kind == "interlaced":
        source = make_interlaced_video(tmp_path / "tape.mkv", width=48, height=32, frames=60)
        encode = EncodeOptions(crf=0, preset="ultrafast", pix_fmt="yuv444p",
                               encoder_options={"x264-params": "keyint=8:min-keyint=8:scenecut=0"})
        target = tmp_path / "tape_4x.mkv"
    else:
        source = make_video(tmp_path / "film.mp4", width=40, height=24, frames=60)
        encode = EncodeOptions(codec="libx265", crf=0, preset="ultrafast", pix_fmt="yuv444p",
                               encoder_options={"x265-params": "lossless=1:keyint=8:min-keyint=8:scenecut=0:log-level=error"})
        target = tmp_path / "film_4x.mp4"
    options = dict(inference=InferenceOptions(device="cpu", precision="fp32"), encode=encode)
    upscale_video(source, tmp_path / f"reference{target.suffix}", model, **options)
    with pytest.raises(_Stop):
        upscale_video(source, target, model, resumable=True, progress=_stop_after(37), **options)
    seen = []
    upscale_video(source, target, model, resumable=True, progress=seen.append, **options)
    assert seen[0].frames_copied >= 8
    expected, got = read_frames(tmp_path / f"reference{target.suffix}"), read_frames(target)
    assert got.pts == expected.pts
    assert max(float(np.abs(a - b).max()) for a, b in zip(got.frames, expected.frames)) == 0


def test_a_journal_left_beside_a_plain_run_is_named_and_one_that_cannot_be_written_is_an_error(tmp_path, capsys):
    weights = save_checkpoint(tiny_model(), tmp_path / "tiny.safetensors")
    source = make_video(tmp_path / "clip.mp4", width=40, height=24, frames=6)
    journal_path(tmp_path / "a.mp4").write_bytes(b"left by an earlier run")
    code, out, _ = run_cli(["upscale", source, "-o", tmp_path / "a.mp4", "--weights", weights, "--json", "-q"], capsys)
    assert code == 0 and any(".a.mp4.vsrt-resume, is beside the output" in note for note in json.loads(out)["notes"])
    assert journal_path(tmp_path / "a.mp4").read_bytes() == b"left by an earlier run"
    journal_path(tmp_path / "b.mp4").mkdir()
    code, _, err = run_cli(["upscale", source, "-o", tmp_path / "b.mp4", "--weights", weights, "--resumable"], capsys)
    assert code == 1 and err.strip().splitlines() == [
        f"vsrt: error: {journal_path(tmp_path / 'b.mp4')}: cannot write the resume journal (Is a directory)"
    ]
    assert not (tmp_path / "b.mp4").exists()
