"""`--start` / `--duration`: which frames, packets and chapters a part of a video keeps."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest

from cli_runner import run_cli
from media import make_video, read_frames
from tiny_models import tiny_model
from vsrt_cli.errors import InputError, UsageError
from vsrt_cli.video import EncodeOptions, VideoReader, VideoWriter
from vsrt_cli.video.segment import Segment, SegmentClock, chapters_within, format_time, parse_time, segment_frames
from vsrt_cli.weights.checkpoint import save_checkpoint


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90.5", Fraction(181, 2)), (".25", Fraction(1, 4)), ("1:30", 90), ("75:00", 4500),
     ("1:02:03.25", 3723 + Fraction(1, 4)), (" 0:00:01 ", 1)],
)
def test_times_parse_exactly(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["", "-3", "1:60", "1:61:00", "1:2:3:4", "ten", "1e3", "1:30s"])
def test_a_bad_time_is_a_usage_error_naming_the_option(text):
    with pytest.raises(UsageError, match="^--duration .*expected seconds"):
        parse_time(text, "--duration")


def test_times_are_shown_to_the_millisecond():
    assert format_time(Fraction(3723, 1) + Fraction(1, 4)) == "1:02:03.250"
    assert format_time(0.0005) == "0:00:00.001" and format_time(59.9996) == "0:01:00.000"


def test_a_segment_refuses_a_negative_start_and_an_empty_duration():
    with pytest.raises(UsageError, match="--start"):
        Segment(-1)
    with pytest.raises(UsageError, match="--duration"):
        Segment(0, 0)
    assert Segment().whole and not Segment(0, 5).whole and not Segment(1).whole


def test_a_segment_counts_from_the_first_video_frame():
    clock = Segment(Fraction(3), Fraction(2)).clock(Fraction(14, 10))  # an MPEG-TS starting at 1.4 s
    assert (clock.begin, clock.end) == (Fraction(44, 10), Fraction(64, 10))
    assert clock.before(Fraction(43, 10)) and not clock.before(Fraction(44, 10))
    assert not clock.after(Fraction(639, 100)) and clock.after(Fraction(64, 10))
    assert clock.ticks(Fraction(1, 90000)) == 396000
    assert Segment(Fraction(3)).clock(0).after(10**9) is False


def test_frame_estimates_for_a_part():
    rate = Fraction(24)
    assert segment_frames(240, 10.0, rate, Segment()) == 240
    assert segment_frames(240, 10.0, rate, Segment(3, Fraction(3, 2))) == 36
    assert segment_frames(240, 10.0, rate, Segment(9)) == 24
    assert segment_frames(240, 10.0, rate, Segment(9, 5)) == 24  # only what is left
    assert segment_frames(None, None, rate, Segment(9, 5)) == 120
    assert segment_frames(None, None, rate, Segment(9)) is None
    assert segment_frames(None, 10.0, None, Segment(9)) is None
    # Counted on the frame grid: the frames at or after the start and before the end.
    rate = Fraction(25)
    assert segment_frames(100, 4.0, rate, Segment(Fraction("1.02"), Fraction(1, 2))) == 12  # 1.04 to 1.48 s
    assert segment_frames(100, 4.0, rate, Segment(Fraction("3.5"))) == 12
    assert segment_frames(100, 4.0, rate, Segment(Fraction("3.99"), 1)) == 0  # after the last frame (3.96 s)
    assert segment_frames(100, 4.0, rate, Segment(Fraction("2.01"), Fraction("0.02"))) == 0  # between two frames
    assert segment_frames(None, 4.0, rate, Segment(Fraction("3.5"))) == 12  # the count from duration x rate


def test_chapters_are_cut_to_the_part_and_moved_with_it():
    chapters = [
        {"id": i + 1, "start": i * 4000, "end": (i + 1) * 4000, "time_base": Fraction(1, 1000), "metadata": {"title": str(i)}}
        for i in range(3)
    ]
    kept = chapters_within(chapters, SegmentClock(Fraction(5), Fraction(9)))
    assert [(c["metadata"]["title"], c["start"], c["end"]) for c in kept] == [("1", 0, 3000), ("2", 3000, 4000)]
    assert [c["start"] for c in chapters_within(chapters, SegmentClock(Fraction(8), None))] == [0]


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".ts", ".mov"])
@pytest.mark.parametrize(("start", "duration"), [(Fraction(3), Fraction(1)), (Fraction(7, 24), None), (0, Fraction(1, 2))])
def test_the_reader_gives_exactly_the_frames_of_the_part(tmp_path, ext, start, duration):
    """Frames by presentation time, from a keyframe before the start (x264 here puts one
    keyframe in 120 frames, so every seek lands before it or far after)."""
    source = make_video(tmp_path / f"long{ext}", frames=120, fps=24, audio_tracks=0)
    with VideoReader(source) as whole:
        frames = [(f.pts, f.rgb) for f in whole]
        origin, time_base = whole.origin, whole.info.time_base
    segment = Segment(start, duration)
    begin = origin + segment.start
    end = begin + (segment.duration or 10**6)
    expected = [(pts, rgb) for pts, rgb in frames if begin <= pts * time_base < end]
    with VideoReader(source, segment=segment) as part:
        got = [(f.pts, f.rgb) for f in part]
    shift = round(begin / time_base)
    assert [pts for pts, _ in got] == [pts - shift for pts, _ in expected]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, expected))
    assert got[0][0] * time_base < Fraction(1, 24)  # the part starts at zero


def test_a_part_past_the_last_frame_says_so(tmp_path):
    source = make_video(tmp_path / "short.mp4", frames=12, fps=24)
    with VideoReader(source, segment=Segment(Fraction(499, 1000))) as reader:
        # 0.499 s is before the end of the last frame (0.5 s) but after its start.
        with pytest.raises(InputError, match=r"no video frame from 0:00:00.499 to the end \(past the last frame, or between two\)"):
            list(reader)


def _packets(path, kind):
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        return [(p.pts * p.time_base, (p.duration or 0) * p.time_base, bytes(p))
                for p in container.demux(stream) if p.size]


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_audio_and_subtitles_of_the_part_are_carried_moved_with_the_video(tmp_path, ext):
    source = make_video(tmp_path / f"talk{ext}", frames=240, fps=24, subtitles=True)
    target = tmp_path / f"part{ext}"
    segment = Segment(3, Fraction(3, 2))
    with VideoReader(source, segment=segment) as reader:
        writer = VideoWriter(target, reader.info, 96, 64, EncodeOptions(preset="ultrafast"), segment=reader.clock)
        with writer:
            for frame in reader:
                writer.write(frame.rgb, frame.pts, frame.duration)
    # Audio: the very packets that start within the part, each 3 s earlier.
    source_audio = [p for p in _packets(source, "audio") if 3 <= p[0] < Fraction(9, 2)]
    audio = _packets(target, "audio")
    assert [p[2] for p in audio] == [p[2] for p in source_audio]
    assert float(audio[0][0]) == pytest.approx(float(source_audio[0][0] - 3), abs=1e-4)
    # Subtitles, cues from 0 to 3.33 s and from 3.33 to 6.67 s: both are on screen within
    # the part, cut to it (the first shown from its start, the second ending with it).
    cues = [(round(float(start), 2), round(float(start + length), 2)) for start, length, data in _packets(target, "subtitle")
            if data.strip(b"\x00")]
    assert cues == [(0.0, 0.33), (0.33, 1.5)]
    frames = read_frames(target)
    assert len(frames.frames) == 36 and frames.pts[0] == 0


def test_cli_sample_of_a_video(tmp_path, capsys):
    weights = save_checkpoint(tiny_model(), tmp_path / "tiny.safetensors")
    source = make_video(tmp_path / "film.mp4", frames=48, fps=24)
    base = ["upscale", source, "--weights", weights, "--device", "cpu"]
    code, out, _ = run_cli([*base, "-o", tmp_path / "p.mp4", "--start", "0:01", "--duration", "0.5", "--dry-run", "--json"], capsys)
    plan = json.loads(out)
    assert code == 0 and plan["frames"] == 12 and not plan["frames_exact"]
    assert plan["segment"] == {"start_s": 1.0, "duration_s": 0.5}
    assert plan["notes"][0].startswith("only 0:00:01.000 to 0:00:01.500 of the source will be upscaled")
    code, out, _ = run_cli([*base, "-o", tmp_path / "p.mp4", "--start", "1", "--duration", "0.5", "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["frames"] == 12 and result["segment"] == {"start_s": 1.0, "duration_s": 0.5}
    assert len(read_frames(tmp_path / "p.mp4").frames) == 12
    code, _, err = run_cli([*base, "-o", tmp_path / "q.mp4", "--start", "2:00"], capsys)
    assert code == 1 and err.strip().splitlines() == [
        f"vsrt: error: {source}: --start 0:02:00.000 is past the end of the video (0:00:02.000)"
    ]
    code, _, err = run_cli([*base, "-o", tmp_path / "q.mp4", "--duration", "1:75"], capsys)
    assert code == 2 and "--duration '1:75': expected seconds" in err
    assert not (tmp_path / "q.mp4").exists()


def test_library_sample_and_a_failed_item_name_the_part(tmp_path, capsys):
    import vsrt_cli

    weights = save_checkpoint(tiny_model(), tmp_path / "tiny.safetensors")
    source = make_video(tmp_path / "film.mp4", frames=48, fps=24)
    model = vsrt_cli.load_model(weights)
    result = vsrt_cli.upscale_video(
        source, tmp_path / "lib.mp4", model, segment=vsrt_cli.Segment(start=Fraction(3, 2), duration=Fraction(1, 4))
    )
    assert result.frames == 6 and result.segment == {"start_s": 1.5, "duration_s": 0.25}
    assert len(read_frames(tmp_path / "lib.mp4").frames) == 6
    # In a batch, a file too short for the part fails alone, and its summary names the part.
    (tmp_path / "in").mkdir()
    short = make_video(tmp_path / "in" / "short.mp4", frames=12, fps=24)
    make_video(tmp_path / "in" / "long.mp4", frames=48, fps=24)
    code, out, _ = run_cli(
        ["upscale", tmp_path / "in", "-o", tmp_path / "out", "--weights", weights, "--device", "cpu",
         "--start", "1", "--json", "-q"],
        capsys,
    )
    results = {r["source"]: r for r in map(json.loads, out.splitlines())}
    assert code == 3
    assert results[str(short)]["status"] == "failed" and results[str(short)]["segment"] == {"start_s": 1.0, "duration_s": None}
    assert [r["status"] for r in results.values()].count("ok") == 1
    assert not (tmp_path / "out" / "short.mp4").exists()


def test_a_late_part_is_read_from_a_keyframe_near_it_not_from_the_start(tmp_path, monkeypatch):
    import vsrt_cli.video.reader as reader_module

    source = make_video(tmp_path / "long.mp4", width=32, height=32, frames=240, fps=24, audio_tracks=0,
                        x26x_params="keyint=24")
    packets = []
    decode = reader_module.VideoReader._decode_packet
    monkeypatch.setattr(reader_module.VideoReader, "_decode_packet",
                        lambda self, stream, packet: packets.append(packet) or decode(self, stream, packet))
    with VideoReader(source, segment=Segment(8, Fraction(1, 2))) as reader:
        assert len(list(reader)) == 12
    # From the keyframe at 8 s (every second here): a few packets of lookahead, not 200.
    assert len(packets) < 24


def test_a_keyframe_the_decoder_cannot_restart_at_sends_the_reader_further_back(tmp_path, monkeypatch):
    """Some files flag I-frames that are not clean restart points (cockatoo.mp4 at 7.25 s):
    the part's frames then decode damaged, so the reader seeks to an earlier keyframe."""
    source = make_video(tmp_path / "gop.mp4", width=64, height=48, frames=240, fps=24, audio_tracks=0,
                        x26x_params="keyint=24:min-keyint=24:scenecut=0")
    segment = Segment(Fraction(85, 12), Fraction(1, 4))
    with VideoReader(source) as whole:
        expected = [f.rgb for f in whole if segment.start <= f.pts * f.time_base < segment.start + segment.duration]
    real = VideoReader._packets_after_seek
    targets = []

    def landing_after_the_keyframe(self, container, stream, target, begin):
        targets.append(target)
        landed = real(self, container, stream, target, begin)
        if landed is not None and len(targets) == 1:
            next(landed[1])  # the first seek's keyframe lost: what follows cannot decode cleanly
        return landed

    monkeypatch.setattr(VideoReader, "_packets_after_seek", landing_after_the_keyframe)
    with VideoReader(source, segment=segment) as part:
        got = [f.rgb for f in part]
        assert part.corrupt_frames == 0 and part.decode_errors == 0
    assert targets == [Fraction(85, 12), Fraction(25, 12)]  # 7.08 s, then 5 s earlier
    assert len(got) == len(expected) == 6 and all(np.array_equal(a, b) for a, b in zip(got, expected))


@pytest.mark.parametrize(("start", "duration", "frames"), [("0", "0.5", 12), ("1", "0.5", 12)])
def test_a_part_of_an_flv_with_audio(tmp_path, capsys, start, duration, frames):
    """FLV refuses a seek to before its first video frame; the audio is then read from the
    start instead of failing the run."""
    weights = save_checkpoint(tiny_model(), tmp_path / "tiny.safetensors")
    source = make_video(tmp_path / "clip.flv", frames=48, fps=24, codec="flv", audio_codec="libmp3lame",
                        audio_rate=44100)
    target = tmp_path / "part.flv"
    code, out, err = run_cli(["upscale", source, "-o", target, "--weights", weights, "--device", "cpu", "--json",
                              "--start", start, "--duration", duration], capsys)
    assert code == 0, err
    assert len(read_frames(target).frames) == frames
    # In sync: the first audio packet as far after the first frame as in the source (FLV
    # delays every stream of the output alike, for the B-frames).
    begin = min(p[0] for p in _packets(source, "video")) + Fraction(start)
    source_audio = [p for p in _packets(source, "audio") if begin <= p[0] < begin + Fraction(duration)]
    audio, video = _packets(target, "audio"), _packets(target, "video")
    assert [p[2] for p in audio] == [p[2] for p in source_audio]
    assert audio[0][0] - min(p[0] for p in video) == source_audio[0][0] - begin


def test_a_subtitle_line_that_began_long_before_the_part_is_still_shown(tmp_path):
    """Keyframes every second, and a line from 3.33 s to 6.67 s: a part from 6 s shows it,
    though the line began more than two seconds before the part's keyframe."""
    source = make_video(tmp_path / "talk.mkv", frames=240, fps=24, subtitles=True, x26x_params="keyint=24:scenecut=0")
    target = tmp_path / "part.mkv"
    with VideoReader(source, segment=Segment(6, Fraction(1, 2))) as reader:
        writer = VideoWriter(target, reader.info, 96, 64, EncodeOptions(preset="ultrafast"), segment=reader.clock)
        with writer:
            for frame in reader:
                writer.write(frame.rgb, frame.pts, frame.duration)
    cues = [(round(float(start), 2), round(float(start + length), 2)) for start, length, data in _packets(target, "subtitle")
            if data.strip(b"\x00")]
    assert cues == [(0.0, 0.5)]
