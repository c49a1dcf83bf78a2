"""The held-out validation set: layout, determinism, and agreement with ``vsrt eval``.

Uses small generated videos in place of cityCC0/cockatoo (tests never read ../shared).
"""

from __future__ import annotations

import numpy as np
import pytest

from test_training_data import panning_frames, write_mjpeg_avi
from vsrt_cli.errors import InputError
from vsrt_cli.models.vsrt import VSRTransformer
from vsrt_cli.quality.clips import read_image
from vsrt_cli.quality.evaluate import evaluate
from vsrt_cli.quality.imresize import bicubic_downscale_uint8
from vsrt_cli.training.config import load_config
from vsrt_cli.training.data import decode_video
from vsrt_cli.training.degradation import shrink
from vsrt_cli.training.validation import (
    HELD_OUT,
    HeldOutClip,
    build_validation_set,
    centre_crop,
    score_model,
    validation_set_ready,
)

CLIPS = (
    HeldOutClip("alpha", "a.avi", 2.0, (96, 64), 2),
    HeldOutClip("beta", "b.avi", 1.5, (96, 64), 3),
)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources")
    write_mjpeg_avi(folder / "a.avi", panning_frames(10, 136, 200, seed=1, step=4))
    write_mjpeg_avi(folder / "b.avi", panning_frames(10, 102, 150, seed=2, step=3))
    return folder


def test_validation_set_layout_content_and_determinism(sources, tmp_path):
    manifest = build_validation_set(tmp_path / "one", sources, frames=5, clips=CLIPS)
    build_validation_set(tmp_path / "two", sources, frames=5, clips=CLIPS)
    assert [c["name"] for c in manifest["clips"]] == ["alpha", "beta"]
    assert manifest["clips"][1]["lr_size"] == [24, 16]
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.png"))
    assert len(files) == 2 * 2 * 5
    for rel in files:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()
    assert (tmp_path / "one" / "manifest.json").read_bytes() == (tmp_path / "two" / "manifest.json").read_bytes()

    decoded = [frame for _, frame in decode_video(sources / "b.avi")]
    for i in range(5):
        gt = read_image(tmp_path / "one" / "GT" / "beta" / f"{i:08d}.png")
        lr = read_image(tmp_path / "one" / "BIx4" / "beta" / f"{i:08d}.png")
        assert np.array_equal(gt, centre_crop(shrink(decoded[3 + i], 1.5), 96, 64))
        assert np.array_equal(lr, bicubic_downscale_uint8(gt, 4))

    assert validation_set_ready(tmp_path / "one", 5, CLIPS)
    assert not validation_set_ready(tmp_path / "one", 6, CLIPS)
    (tmp_path / "one" / "GT" / "alpha" / "00000004.png").unlink()
    assert not validation_set_ready(tmp_path / "one", 5, CLIPS)


def test_too_short_a_source_is_an_input_error(sources, tmp_path):
    late = (HeldOutClip("late", "a.avi", 2.0, (96, 64), 8),)
    with pytest.raises(InputError, match="only 2 of 5 frames"):
        build_validation_set(tmp_path / "val", sources, frames=5, clips=late)
    assert not (tmp_path / "val").exists()


def test_scores_match_vsrt_eval_on_the_gt_folder(sources, tmp_path):
    build_validation_set(tmp_path / "val", sources, frames=5, clips=CLIPS)
    model = VSRTransformer(load_config("tiny").model).eval()
    scores = score_model(model, tmp_path / "val")
    # What `vsrt eval VAL/GT` computes, with the LR made from the GT instead of read.
    report = evaluate(tmp_path / "val" / "GT", None, model)
    assert scores["psnr_y"] == report.means["psnr_y"]
    assert scores["bicubic_psnr_y"] == report.means["bicubic_psnr_y"]
    assert scores["ssim_y"] == report.means["ssim_y"]
    assert set(scores["clips"]) == {"alpha", "beta"}
    assert 20 < scores["bicubic_psnr_y"] < 60


def test_the_real_held_out_clips_are_the_ones_training_excludes():
    assert {c.file for c in HELD_OUT} == {"cityCC0.mpg", "cockatoo.mp4"}
    for clip in HELD_OUT:
        width, height = clip.crop
        assert width % 4 == 0 and height % 4 == 0 and height // 4 >= 64
