"""Inference planning: pure functions, no video, no model."""

import numpy as np
import pytest

from vsrt_cli.plan import plan_tiles, plan_windows, reflection_circle, tile_starts, tile_weights
from vsrt_cli.plan.tiles import lr_pixels_computed, ramp
from vsrt_cli.plan.windows import chunk_window, default_stride


@pytest.mark.parametrize(
    "center,frames,last,expected",
    [
        (0, 5, 99, (4, 3, 0, 1, 2)),  # the spec's examples
        (0, 7, 99, (6, 5, 4, 0, 1, 2, 3)),
        (99, 7, 99, (96, 97, 98, 99, 95, 94, 93)),
        (50, 5, 99, (48, 49, 50, 51, 52)),
        (0, 5, 0, (0, 0, 0, 0, 0)),  # a one-frame video repeats its frame
    ],
)
def test_reflection_circle(center, frames, last, expected):
    assert reflection_circle(center, frames, last) == expected


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6, 7, 11, 30])
@pytest.mark.parametrize("frames,stride", [(5, 1), (5, 3), (5, 5), (7, 5), (3, 2)])
def test_every_frame_is_output_once_in_order_from_a_window_holding_it(count, frames, stride):
    windows = plan_windows(count, frames, stride)
    outputs = [frame for window in windows for frame in window.output_frames]
    assert outputs == list(range(count))
    for window in windows:
        assert len(window.indices) == frames
        assert all(0 <= i < count for i in window.indices)
        for frame, position in window.outputs:
            assert window.indices[position] == frame
            # As central as the stride allows.
            assert abs(position - frames // 2) <= stride // 2


def test_stride_one_is_the_official_one_window_per_frame_protocol():
    windows = plan_windows(10, 5, 1)
    assert [w.indices for w in windows] == [reflection_circle(c, 5, 9) for c in range(10)]
    assert all(w.outputs == ((c, 2),) for c, w in enumerate(windows))


def test_windows_do_not_depend_on_knowing_the_length_until_the_end():
    # A streaming reader passes an unknown (huge) last index until it has seen the end.
    compared = 0
    for window in plan_windows(40, 5, 3):
        streamed = chunk_window(window.output_frames[0], len(window.outputs), 5, 2**62)
        if max(streamed.indices) <= 39:
            assert streamed == window
            compared += 1
    assert compared >= 12


def test_default_stride_puts_windows_side_by_side():
    assert default_stride(5) == 5
    assert default_stride(7) == 7
    assert default_stride(1) == 1


def test_invalid_stride_is_refused():
    with pytest.raises(ValueError, match="between 1 and 5"):
        plan_windows(10, 5, 6)


@pytest.mark.parametrize("length", [64, 65, 100, 180, 320, 1000])
@pytest.mark.parametrize("overlap", [0, 8, 16])
def test_tiles_cover_the_frame_with_at_least_the_overlap(length, overlap):
    starts = tile_starts(length, 64, overlap)
    assert starts[0] == 0 and starts[-1] == length - 64
    assert starts == sorted(set(starts))
    for a, b in zip(starts, starts[1:]):
        assert 64 - (b - a) >= overlap
    # No more tiles than needed.
    if len(starts) > 1:
        assert 64 * (len(starts) - 1) - overlap * (len(starts) - 2) < length


def test_tile_smaller_than_frame_is_refused():
    with pytest.raises(ValueError, match="pad first"):
        tile_starts(40, 64, 8)


def test_blend_weights_are_positive_and_partition_smoothly():
    height, width, size, overlap = 100, 150, 64, 8
    tiles = plan_tiles(height, width, size, overlap)
    total = np.zeros((4 * height, 4 * width))
    for tile in tiles:
        weights = tile_weights(tile, height, width, size, overlap)
        assert weights.shape == (256, 256) and weights.min() > 0
        total[4 * tile.top : 4 * tile.top + 256, 4 * tile.left : 4 * tile.left + 256] += weights
    assert total.min() > 0.5
    # Tile sides on the frame's edge keep full weight.
    corner = tile_weights(tiles[0], height, width, size, overlap)
    assert corner[0, 0] == 1.0


def test_ramp_is_symmetric_and_rises_monotonically():
    weights = ramp(64, 8)
    assert np.allclose(weights, weights[::-1])
    assert np.all(np.diff(weights[:8]) >= 0) and weights.min() > 0
    assert np.all(weights[8:56] == 1)
    # Two tiles overlapping by exactly the overlap have weights summing to one.
    assert np.allclose(weights[56:] + weights[:8], 1.0, atol=1e-3)


def test_redundancy_counts_padded_small_frames_as_one_tile():
    assert lr_pixels_computed(20, 30, 64, 8) == 64 * 64
    assert lr_pixels_computed(180, 320, 64, 8) == 4 * 6 * 64 * 64


def test_an_output_folder_inside_the_input_tree_is_not_searched(tmp_path):
    """Rerunning `vsrt upscale films -o films/4x -r --skip-existing` must not take the
    last run's outputs for new inputs (and upscale them 16x)."""
    from vsrt_cli.pipeline import plan_jobs

    films = tmp_path / "films"
    (films / "4x").mkdir(parents=True)
    (films / "a.mp4").write_bytes(b"")
    (films / "4x" / "a.mp4").write_bytes(b"")
    jobs = plan_jobs([films], films / "4x", recursive=True)
    assert [(job.source, job.target) for job in jobs] == [(films / "a.mp4", films / "4x" / "a.mp4")]
    # A file named on the command line is taken wherever it is.
    assert plan_jobs([films / "4x" / "a.mp4"], tmp_path / "b.mp4")[0].source == films / "4x" / "a.mp4"


def test_two_inputs_for_one_output_name_are_both_named(tmp_path):
    from vsrt_cli.errors import UsageError
    from vsrt_cli.pipeline import plan_jobs

    for folder in ("c1", "c2"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.mp4").write_bytes(b"")
    with pytest.raises(UsageError, match=r"c1/a\.mp4 and \S*c2/a\.mp4 would both be written to \S*co/a\.mp4; upscale"):
        plan_jobs([tmp_path / "c1", tmp_path / "c2"], tmp_path / "co", recursive=True)
