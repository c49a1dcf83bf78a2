"""Pictures whose size changes mid-stream are fitted to the size the video started at.

Placements are checked on broadcast-style sizes by hand; the reader and the pipeline on
MPEG-TS pieces of different sizes joined with ``cat``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from media import make_video, read_frames
from tiny_models import tiny_model
from vsrt_cli.pipeline import upscale_video
from vsrt_cli.video import EncodeOptions, VideoReader
from vsrt_cli.video.fit import Placement, fit_picture, fit_placement, refit_note

HD = (1920, 1080)
SD = (720, 576)
WIDE_SD = Fraction(64, 45)  # 16:9 DVB/DVD
NARROW_SD = Fraction(16, 15)  # 4:3 DVB/DVD


@pytest.mark.parametrize(
    ("source", "source_aspect", "target", "target_aspect", "expected"),
    [
        # Same shape, another size: scaled to fill, as FFmpeg would.
        ((1280, 720), None, HD, None, Placement(1920, 1080)),
        # A 16:9 SD insert in an HD channel has the HD shape once its wide pixels count.
        (SD, WIDE_SD, HD, None, Placement(1920, 1080)),
        # And the other way round: an HD insert in a 16:9 SD recording.
        (HD, None, SD, WIDE_SD, Placement(720, 576)),
        # A 4:3 SD advert in an HD channel: pillarboxed, not stretched.
        (SD, NARROW_SD, HD, None, Placement(1440, 1080, 240, 0)),
        # A scope film in a 16:9 frame: letterboxed.
        ((1920, 804), None, HD, None, Placement(1920, 804, 0, 138)),
        # 704 columns of the same pixels are narrower than 720: thin bars, no stretch.
        ((704, 576), WIDE_SD, SD, WIDE_SD, Placement(704, 576, 8, 0)),
        # Coded 1088 lines against 1080: under the tolerance, so stretched rather than
        # bordered by a few rows of rounding.
        ((1920, 1088), None, HD, None, Placement(1920, 1080)),
    ],
)
def test_pictures_are_placed_keeping_their_displayed_shape(source, source_aspect, target, target_aspect, expected):
    assert fit_placement(source, source_aspect, target, target_aspect) == expected


def test_a_picture_is_scaled_into_its_place_on_black():
    grey = np.full((30, 40, 3), 0.6, np.float32)
    placement = Placement(24, 20, 4, 2)
    framed = fit_picture(grey, placement, (32, 24))
    assert framed.shape == (24, 32, 3) and framed.dtype == np.float32
    inside = np.zeros(framed.shape[:2], bool)
    inside[2:22, 4:28] = True
    np.testing.assert_allclose(framed[inside], 0.6, atol=1e-6)
    assert not framed[~inside].any()


def test_shrinking_averages_fine_detail_instead_of_aliasing():
    # One-pixel stripes shrunk 3x: plain sampling would land on the white ones only.
    stripes = np.zeros((48, 96, 3), np.float32)
    stripes[:, 1::2] = 1.0
    shrunk = fit_picture(stripes, Placement(32, 16), (32, 16))
    assert abs(shrunk.mean() - 0.5) < 0.05
    assert shrunk.std() < 0.1


def test_enlarging_a_hard_edge_stays_in_range():
    edge = np.zeros((8, 8, 3), np.float32)
    edge[:, 4:] = 1.0
    grown = fit_picture(edge, Placement(24, 24), (24, 24))
    assert grown.min() >= 0.0 and grown.max() <= 1.0
    assert grown[:, :10].max() < 0.05 and grown[:, 14:].min() > 0.95


def test_the_note_names_the_sizes_and_the_borders():
    assert refit_note(1, [(48, 32)], (32, 24), False) == "1 frame of another size (48x32) was scaled to the video's 32x24"
    assert refit_note(30, [(48, 32), (64, 48)], (32, 24), True) == (
        "30 frames of another size (48x32, 64x48) were scaled to the video's 32x24, with black borders to keep their shape"
    )


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    """A 4:3 piece, then the same shape larger, then a wider one, each 12 frames."""
    folder = tmp_path_factory.mktemp("fit")
    first = make_video(folder / "first.ts", width=32, height=24, frames=12)
    same_shape = make_video(folder / "same_shape.ts", width=64, height=48, frames=12)
    # Square-coded but 16:9 on screen: only the bitstream's pixel aspect says so.
    wide = make_video(folder / "wide.ts", width=32, height=24, frames=12, sample_aspect_ratio=Fraction(4, 3))
    joined = folder / "joined.ts"
    joined.write_bytes(first.read_bytes() + same_shape.read_bytes() + wide.read_bytes())
    return first, same_shape, wide, joined


def decoded(path):
    with VideoReader(path) as reader:
        return [frame.rgb for frame in reader]


def test_the_reader_gives_every_frame_the_first_pictures_size(pieces):
    first, same_shape, wide, joined = pieces
    with VideoReader(joined) as reader:
        frames = [frame.rgb for frame in reader]
        assert (reader.info.width, reader.info.height) == (32, 24)
        assert reader.refitted_frames == 12
        assert reader.refitted_sizes == [(64, 48)]
        assert not reader.refit_bordered
    assert len(frames) == 36
    for mine, own in zip(frames[:12], decoded(first)):
        np.testing.assert_array_equal(mine, own)
    for mine, own in zip(frames[12:24], decoded(same_shape)):
        np.testing.assert_array_equal(mine, fit_picture(own, Placement(32, 24), (32, 24)))
    # The wide piece is the first's size, so it is not refitted: only a size change is.
    for mine, own in zip(frames[24:], decoded(wide)):
        np.testing.assert_array_equal(mine, own)


def test_a_differently_shaped_piece_is_bordered_by_its_pixel_aspect(pieces, tmp_path):
    first, *_ = pieces
    # The wide piece at another size: 48x36 coded, 16:9 on screen, after 4:3 square pixels.
    wide_large = make_video(tmp_path / "wide_large.ts", width=48, height=36, frames=6, sample_aspect_ratio=Fraction(4, 3))
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + wide_large.read_bytes())
    with VideoReader(joined) as reader:
        frames = [frame.rgb for frame in reader]
        assert reader.refit_bordered
    # 16:9 in a 4:3 frame of 32x24: full width, 18 rows, 3 black rows above and below.
    expected = Placement(32, 18, 0, 3)
    assert fit_placement((48, 36), Fraction(4, 3), (32, 24), None) == expected
    assert len(frames) == 18
    for mine, own in zip(frames[12:], decoded(wide_large)):
        assert not mine[:3].any() and not mine[21:].any()
        np.testing.assert_array_equal(mine, fit_picture(own, expected, (32, 24)))


def test_upscale_keeps_every_frame_of_a_recording_that_changes_size(pieces, tmp_path):
    *_, joined = pieces
    target = tmp_path / "joined_4x.mkv"
    result = upscale_video(joined, target, tiny_model(), encode=EncodeOptions(preset="ultrafast"))
    assert (result.width, result.height, result.frames) == (128, 96, 36)
    assert "12 frames of another size (64x48) were scaled to the video's 32x24" in result.notes
    out = read_frames(target)
    assert len(out.frames) == 36 and out.frames[0].shape == (96, 128, 3)
