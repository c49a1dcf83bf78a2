"""Interlaced sources: detected, deinterlaced with bwdif, timestamps and frame count kept."""

from fractions import Fraction

import av
import numpy as np
import pytest

from media import make_interlaced_video, make_video
from vsrt_cli.video import VideoReader, probe
from vsrt_cli.video.deinterlace import Deinterlacer, wants_deinterlace


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
        assert reader.deinterlacing
        clean = list(reader)
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
        assert not reader.deinterlacing
        assert len(list(reader)) == 5


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
