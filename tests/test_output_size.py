"""`--scale`: the output's size (a pure function) and the frames written at it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_runner import run_cli
from media import make_video, read_frames
from tiny_models import tiny_model
from vsrt_cli.errors import UsageError
from vsrt_cli.models.vsrt import SCALE
from vsrt_cli.pipeline.upscale import resize_frame
from vsrt_cli.plan.output_size import MODEL_SCALE, OutputSize, check_scale, output_size
from vsrt_cli.weights.checkpoint import save_checkpoint


def test_the_planner_knows_the_models_scale():
    assert MODEL_SCALE == SCALE


@pytest.mark.parametrize(
    ("size", "scale", "expected"),
    [
        ((1280, 720), 4, (5120, 2880)),
        ((1280, 720), 2, (2560, 1440)),
        ((1280, 720), 1.5, (1920, 1080)),
        ((720, 480), 3, (2160, 1440)),
        ((853, 480), 2.25, (1920, 1080)),  # 1919.25 -> the nearest even number
        ((333, 101), 4, (1332, 404)),  # 4x is exact, odd sources included
        ((333, 101), 2, (666, 202)),
        ((333, 101), 2.5, (830, 252)),  # 252.5 high: 252, and 830.9 wide at that height
        ((333, 101), 1, (336, 102)),  # even sides, even at the source's own size (336.3 at 102 high)
        ((67, 45), 2.25, (152, 102)),  # per side it would be 150x102, 2.7 px narrower in shape
        ((1, 1), 1, (2, 2)),
    ],
)
def test_output_sizes_are_even_and_keep_the_shape_within_a_pixel(size, scale, expected):
    width, height = output_size(*size, scale)
    assert (width, height) == expected
    assert width % 2 == 0 and height % 2 == 0
    assert abs(height - size[1] * scale) <= 1
    assert abs(width - size[0] * height / size[1]) <= 1  # the shape, at the output's height


def test_every_small_size_keeps_its_shape_within_a_pixel():
    for width in range(2, 120):
        for height in range(2, 90):
            for scale in (1, 1.5, 2.25, 3.7):
                out_w, out_h = output_size(width, height, scale)
                assert out_w % 2 == 0 and out_h % 2 == 0
                assert abs(out_w - width * out_h / height) <= 1


@pytest.mark.parametrize("scale", [0, 0.99, 4.01, float("inf"), float("nan"), "two", None, True])
def test_scales_outside_one_to_four_are_usage_errors(scale):
    with pytest.raises(UsageError, match="--scale"):
        check_scale(scale)


def test_shrinking_keeps_a_flat_picture_flat_and_does_not_alias_fine_stripes():
    flat = torch.full((3, 64, 96), 0.25)
    assert torch.allclose(resize_frame(flat, (32, 48)), torch.full((3, 32, 48), 0.25), atol=1e-6)
    same = torch.rand(3, 8, 8)
    assert resize_frame(same, (8, 8)) is same
    # One-pixel stripes, shrunk 2x: an antialiased filter makes them mid-grey, a plain
    # bicubic sample would keep picking one colour and show a false pattern.
    stripes = torch.zeros(3, 64, 64)
    stripes[:, :, ::2] = 1
    shrunk = resize_frame(stripes, (32, 32))
    assert float(shrunk[:, 4:-4, 4:-4].std()) < 0.02
    assert float(shrunk.mean()) == pytest.approx(0.5, abs=0.02)


def test_scale_writes_the_4x_frames_shrunk(tmp_path, capsys):
    weights = save_checkpoint(tiny_model(), tmp_path / "tiny.safetensors")
    source = make_video(tmp_path / "in.mp4", width=40, height=24, frames=6)
    base = ["upscale", source, "--weights", weights, "--device", "cpu", "--precision", "fp32", "--crf", "0",
            "--pix-fmt", "yuv444p", "--json", "-q"]
    code, out, _ = run_cli([*base, "-o", tmp_path / "x4.mp4"], capsys)
    assert code == 0
    code, out, _ = run_cli([*base, "-o", tmp_path / "x2.mp4", "--scale", "2.5"], capsys)
    result = json.loads(out)
    assert code == 0 and (result["width"], result["height"]) == (100, 60)
    full, scaled = read_frames(tmp_path / "x4.mp4").frames, read_frames(tmp_path / "x2.mp4").frames
    assert len(scaled) == len(full) == 6 and scaled[0].shape == (60, 100, 3)
    for big, small in zip(full, scaled):
        expected = resize_frame(torch.from_numpy(big.astype(np.float32) / 255).permute(2, 0, 1), (60, 100))
        expected = (expected.clamp(0, 1).permute(1, 2, 0).numpy() * 255)
        # Both went through 8-bit YUV once, so they agree to a few codes, not exactly.
        assert np.abs(small.astype(np.float32) - expected).mean() < 1.5
    code, out, _ = run_cli([*base, "-o", tmp_path / "p.mp4", "--scale", "1.5", "--dry-run"], capsys)
    assert code == 0 and json.loads(out)["output_size"] == [60, 36]


@pytest.mark.parametrize(
    ("size", "ext", "extra", "planned"),
    [
        ((1280, 720), ".mov", ["--scale", "1.5", "--codec", "dnxhd", "-e", "b=120M"], True),  # 1080p only
        ((88, 72), ".3gp", ["--scale", "2", "--codec", "h263"], True),  # 176x144, a size H.263 has
        ((88, 72), ".3gp", ["--scale", "1.5", "--codec", "h263"], False),  # 132x108, one it has not
        ((1280, 720), ".mpg", ["--codec", "mpeg1video"], False),  # 5120x2880: over MPEG-1's 4095
        ((1280, 720), ".mpg", ["--codec", "mpeg1video", "--scale", "3"], True),
    ],
)
def test_the_dry_run_opens_the_encoder_at_the_output_size(tmp_path, capsys, size, ext, extra, planned):
    weights = save_checkpoint(tiny_model(), tmp_path / "tiny.safetensors")
    source = make_video(tmp_path / "in.mp4", width=size[0], height=size[1], frames=1, audio_tracks=0)
    code, out, err = run_cli(["upscale", source, "-o", tmp_path / f"out{ext}", "--weights", weights, "--dry-run",
                              "--json", *extra], capsys)
    if planned:
        assert code == 0 and json.loads(out)["status"] == "planned", err
    else:
        assert code == 1 and err.startswith("vsrt: error: cannot start the"), err


@pytest.mark.parametrize(
    ("source", "rotation", "lines", "expected"),
    [
        ((720, 480), 0, 1080, (1620, 1080)),  # NTSC DVD (stored 3:2)
        ((720, 576), 0, 1080, (1350, 1080)),  # PAL DVD
        ((1280, 720), 0, 2160, (3840, 2160)),
        ((640, 360), 0, 2160, (3840, 2160)),  # beyond 4x (1440): enlarged, with a note
        ((3840, 2160), 0, 1080, (1920, 1080)),  # smaller than the source, with a note
        ((1920, 1080), 90, 3840, (3840, 2160)),  # a phone video stored sideways: 3840 lines shown
        ((1080, 1920), 0, 1920, (1080, 1920)),
        ((333, 101), 0, 404, (1332, 404)),  # exactly 4x
        ((333, 101), 0, 405, (1338, 406)),  # lines rounded to even
    ],
)
def test_height_sets_the_lines_shown_and_the_width_follows_the_shape(source, rotation, lines, expected):
    size = OutputSize(height=lines)
    assert size.resolve(*source, rotation) == expected


def test_height_notes_sizes_beyond_the_model_and_below_the_source():
    assert OutputSize(height=1440).note(640, 360) is None  # the model's own 4x
    assert OutputSize(height=2160).note(640, 360) == (
        "3840x2160 is more than the model's 4x (2560x1440): the last step is a bicubic enlargement"
    )
    assert OutputSize(height=1080).note(3840, 2160) == "1920x1080 is smaller than the source (3840x2160)"
    assert OutputSize(scale=2).note(640, 360) is None


@pytest.mark.parametrize("lines", [0, 1, -1080, 1080.5, "1080p", "", True, 10**6])
def test_heights_that_are_not_line_counts_are_usage_errors(lines):
    with pytest.raises(UsageError, match="--height"):
        OutputSize(height=lines)


def test_scale_and_height_are_one_or_the_other():
    with pytest.raises(UsageError, match="either --scale or --height"):
        OutputSize(scale=2, height=1080)
    assert OutputSize(height="1080").height == 1080 and OutputSize(scale="2.5").scale == 2.5


def test_height_on_a_folder_of_mixed_sizes(tmp_path, capsys):
    weights = save_checkpoint(tiny_model(), tmp_path / "tiny.safetensors")
    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "wide.mp4", width=40, height=24, frames=3, audio_tracks=0)
    make_video(tmp_path / "in" / "pal.mp4", width=36, height=32, frames=3, audio_tracks=0)
    code, out, _ = run_cli(["upscale", tmp_path / "in", "-o", tmp_path / "out", "--weights", weights, "--device", "cpu",
                            "--height", "72", "--json", "-q"], capsys)
    sizes = {Path(r["source"]).name: (r["width"], r["height"]) for r in map(json.loads, out.splitlines())}
    assert code == 0 and sizes == {"wide.mp4": (120, 72), "pal.mp4": (82, 72)}
    assert read_frames(tmp_path / "out" / "pal.mp4").frames[0].shape == (72, 82, 3)
    code, _, err = run_cli(["upscale", tmp_path / "in", "-o", tmp_path / "o2", "--weights", weights,
                            "--height", "72", "--scale", "2"], capsys)
    assert code == 2 and err.strip() == "vsrt: error: use either --scale or --height, not both"
