"""The official crop protocol (spec 4.2), used by `vsrt eval --protocol official`."""

import numpy as np
import pytest
import torch

from tiny_models import tiny_model
from vsrt_cli.errors import InputError
from vsrt_cli.inference.official import official_crops, upscale_clip_official
from vsrt_cli.plan import reflection_circle


def test_crop_table_matches_the_spec():
    crops = official_crops(320)
    assert len(crops) == 10
    assert [c.start for c in crops[:3]] == [0, 32, 64]
    # The last two crops are the same LR region [256, 320).
    assert crops[-1].start == crops[-2].start == 256
    assert crops[0].source == (0, 192) and crops[0].target == (0, 192)
    assert crops[1].source == (64, 192) and crops[1].target == (192, 320)
    assert crops[-1].source == (64, 256) and crops[-1].target == (4 * 320 - 192, 4 * 320)
    assert len(official_crops(180)) == 5 and len(official_crops(64)) == 2


@pytest.mark.parametrize("length", [64, 67, 95, 120, 144, 180, 320])
def test_crops_cover_the_whole_canvas(length):
    covered = np.zeros(4 * length, bool)
    for crop in official_crops(length):
        assert 0 <= crop.start <= length - 64
        assert crop.source[1] - crop.source[0] == crop.target[1] - crop.target[0]
        covered[crop.target[0] : crop.target[1]] = True
    assert covered.all()


def test_too_small_frames_are_refused():
    with pytest.raises(InputError):
        official_crops(40)


def test_one_crop_frame_is_the_centre_output_of_its_window():
    model = tiny_model(frames=3, self_flow="spynet")
    rng = np.random.default_rng(0)
    frames = [rng.random((16, 16, 3), dtype=np.float32) for _ in range(4)]
    outputs = upscale_clip_official(model, frames)
    clip = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
    for centre, output in enumerate(outputs):
        with torch.no_grad():
            direct = model(clip[list(reflection_circle(centre, 3, 3))][None])[0, 1]
        assert np.allclose(output, direct.permute(1, 2, 0).numpy(), atol=1e-6)


def test_reduced_precision_and_the_callers_model_are_respected():
    model = tiny_model(frames=3, self_flow="spynet")
    frames = [np.random.default_rng(1).random((16, 16, 3), dtype=np.float32) for _ in range(3)]
    exact = upscale_clip_official(model, frames, "cpu", "fp32")
    reduced = upscale_clip_official(model, frames, "cpu", "bf16")
    difference = max(float(np.abs(a - b).max()) for a, b in zip(exact, reduced))
    assert 0 < difference < 0.05
    # The protocol runs on its own copy: the caller's module keeps its layout and mode.
    assert not model.training and next(model.parameters()).is_contiguous()
