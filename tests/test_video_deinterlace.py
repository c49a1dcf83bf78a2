"""Interlaced sources: detected, deinterlaced with bwdif, timestamps and frame count kept."""

from fractions import Fraction

import av
import numpy as np
import pytest

from media import make_interlaced_video, make_progressive_then_interlaced_video, make_video
from vsrt_cli.video import VideoReader, probe
from vsrt_cli.video.deinterlace import Deinterlacer, deinterlace_notes, wants_deinterlace


def row_jumps(rgb: np.ndarray) -> float:
    """Mean difference between neighbouring rows: large where the two fields disagree."""
    return float(np.abs(np.diff(rgb, axis=0)).mean())


@pytest.fixture(scope="module")
def interlaced(tmp_path_factory):
    return make_interlaced_video(tmp_path_factory.mktemp("interlaced") / "dv.mkv")


def test_mode_decision():
    assert wants_deinterlace("auto", True) and not wants_deinterlace("auto", False)
    assert wants_deinterlace("on", False) and not wants_deinterlace("off", True)
    with pytest.raises(ValueError, match="auto, on, off"):
        wants_deinterlace("yes", True)


def test_interlaced_source_is_detected_and_its_comb_removed(interlaced):
    assert probe(interlaced).interlaced
    with VideoReader(interlaced, deinterlace="off") as reader:
        raw = list(reader)
    with VideoReader(interlaced, deinterlace="auto") as reader:
        clean = list(reader)
        assert reader.deinterlaced and reader.interlaced_frames == 8
    assert len(clean) == len(raw) == 8
    assert [f.pts for f in clean] == [f.pts for f in raw]
    assert [f.time_base for f in clean] == [f.time_base for f in raw]
    # The fields' bars sit 4 pixels apart, so rows alternate between them (a comb) until
    # bwdif rebuilds each frame from one field.
    assert row_jumps(clean[4].rgb) < row_jumps(raw[4].rgb) / 5


def test_progressive_source_is_left_alone(tmp_path):
    source = make_video(tmp_path / "p.mp4", frames=5, audio_tracks=0)
    assert not probe(source).interlaced
    with VideoReader(source, deinterlace="auto") as reader:
        assert len(list(reader)) == 5
        assert not reader.deinterlaced and reader.interlaced_frames == 0


def test_a_source_that_turns_interlaced_later_is_deinterlaced_from_there(tmp_path):
    source = make_progressive_then_interlaced_video(tmp_path / "intro.mkv", progressive=4, interlaced=6)
    assert not probe(source).interlaced  # the first frame is progressive
    with VideoReader(source, deinterlace="off") as reader:
        raw = list(reader)
        flagged = reader.interlaced_frames
    with VideoReader(source, deinterlace="auto") as reader:
        clean = list(reader)
        assert reader.deinterlaced and reader.interlaced_frames == flagged
    # MPEG-2's decoder drops the last picture before the new sequence header, so count
    # what it gives rather than what was coded.
    assert flagged == 6 and len(raw) >= 9
    assert [f.pts for f in clean] == [f.pts for f in raw]
    progressive = len(raw) - flagged
    for before, after in zip(raw[:progressive], clean[:progressive]):
        np.testing.assert_array_equal(before.rgb, after.rgb)  # the intro is untouched
    # bwdif starts at the first flagged frame, which has no earlier field to look at; from
    # the next frame on, the output is exactly what bwdif gives when it runs throughout.
    assert row_jumps(clean[progressive].rgb) < row_jumps(raw[progressive].rgb) / 5
    with VideoReader(source, deinterlace="on") as reader:
        throughout = list(reader)
    for ours, reference in zip(clean[progressive + 1 :], throughout[progressive + 1 :]):
        np.testing.assert_array_equal(ours.rgb, reference.rgb)
    assert sum(row_jumps(f.rgb) for f in clean[progressive:]) < sum(row_jumps(f.rgb) for f in raw[progressive:]) / 2


def test_notes_say_how_many_frames_were_flagged():
    assert deinterlace_notes("auto", 0, 10) == []
    assert deinterlace_notes("off", 0, 10) == []
    assert deinterlace_notes("auto", 10, 10) == ["deinterlaced with bwdif before upscaling (every frame is flagged interlaced)"]
    assert deinterlace_notes("auto", 6, 9) == ["deinterlaced with bwdif before upscaling (6 of 9 frames are flagged interlaced)"]
    assert deinterlace_notes("on", 0, 10) == ["deinterlaced every frame with bwdif before upscaling"]
    assert deinterlace_notes("off", 1, 10) == ["1 of 10 frames is flagged interlaced but was upscaled without deinterlacing"]
    assert deinterlace_notes("off", 6, 9) == ["6 of 9 frames are flagged interlaced but were upscaled without deinterlacing"]
    assert deinterlace_notes("off", 9, 9) == ["every frame is flagged interlaced but was upscaled without deinterlacing"]


def test_a_size_change_mid_stream_keeps_every_frame():
    deinterlacer = Deinterlacer(every_frame=True)
    out = []
    for index, (width, height) in enumerate([(32, 16)] * 3 + [(48, 24)] * 3):
        frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24").reformat(
            format="yuv420p"
        )
        frame.pts = index
        frame.time_base = Fraction(1, 25)
        out += deinterlacer.push(frame)
    out += deinterlacer.flush()
    assert [f.pts for f in out] == list(range(6))
    assert [(f.width, f.height) for f in out] == [(32, 16)] * 3 + [(48, 24)] * 3
