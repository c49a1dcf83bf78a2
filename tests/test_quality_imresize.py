"""MATLAB imresize compatibility, checked against vectors produced by MATLAB itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vsrt_cli.quality.imresize import (
    bicubic_downscale_uint8,
    imresize,
    imresize_np,
    resize_matrix,
    round_to_uint8,
)

VECTORS = Path(__file__).parent / "fixtures" / "matlab_imresize_vectors.npz"


@pytest.fixture(scope="module")
def vectors():
    with np.load(VECTORS, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def test_numpy_downscale_matches_matlab(vectors):
    out = imresize_np(vectors["input"], 0.25)
    assert out.shape == vectors["down_x0_25"].shape == (10, 14, 3)
    np.testing.assert_allclose(out, vectors["down_x0_25"], rtol=0, atol=1e-6)


def test_uint8_degradation_matches_matlab(vectors):
    out = bicubic_downscale_uint8(vectors["input"])
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, vectors["down_x0_25_uint8"])


def test_numpy_upscale_matches_matlab(vectors):
    out = imresize_np(vectors["down_x0_25_uint8"], 4)
    assert out.shape == (40, 56, 3)
    # x4 bicubic overshoots (values < 0 and > 255 in the vectors); it must not be clamped.
    assert out.min() < 0
    np.testing.assert_allclose(out, vectors["up_x4_of_down_uint8"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("key_in,scale,key_out", [
    ("input", 0.25, "down_x0_25"),
    ("down_x0_25_uint8", 4, "up_x4_of_down_uint8"),
])
def test_torch_float64_matches_matlab(vectors, key_in, scale, key_out):
    chw = torch.from_numpy(vectors[key_in].astype(np.float64)).permute(2, 0, 1)
    out = imresize(chw, scale)
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), vectors[key_out], rtol=0, atol=1e-6)


def test_torch_float32_batched_matches_per_image(vectors):
    base = torch.from_numpy(vectors["input"].astype(np.float64) / 255.0).permute(2, 0, 1)
    gen = torch.Generator().manual_seed(0)
    frames = torch.stack([base, base.flip(-1), torch.rand(base.shape, generator=gen, dtype=torch.float64)])
    batch = frames.view(1, 3, 3, 37, 53).expand(2, 3, 3, 37, 53).float()
    out = imresize(batch, 0.25)
    assert out.shape == (2, 3, 3, 10, 14) and out.dtype == torch.float32
    for b in range(2):
        for t in range(3):
            ref = imresize_np(frames[t].permute(1, 2, 0).numpy(), 0.25)
            np.testing.assert_allclose(out[b, t].permute(1, 2, 0).numpy(), ref, rtol=0, atol=2e-6)
    np.testing.assert_allclose(
        out[0, 0].permute(1, 2, 0).double().numpy() * 255.0, vectors["down_x0_25"], rtol=0, atol=1e-3
    )


def test_training_shape_and_gradient():
    x = torch.rand(1, 2, 3, 256, 256, requires_grad=True)
    y = imresize(x, 0.25)
    assert y.shape == (1, 2, 3, 64, 64)
    y.sum().backward()
    # Each output's weights sum to 1, so d(sum)/dx sums to the output count.
    assert x.grad is not None
    assert x.grad.sum().item() == pytest.approx(2 * 3 * 64 * 64, rel=1e-4)


def test_gradcheck_small():
    x = torch.rand(2, 7, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: imresize(t, 0.5), (x,))


@pytest.mark.parametrize("n,scale", [(1, 0.25), (2, 0.25), (3, 0.25), (5, 4), (37, 0.25), (13, 0.5), (6, 3)])
def test_rows_are_normalised_and_sizes_are_ceil(n, scale):
    m = resize_matrix(n, scale)
    assert m.shape == (int(np.ceil(n * scale)), n)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)


def test_constant_image_stays_constant():
    img = torch.full((3, 5, 1), 0.3, dtype=torch.float64)
    out = imresize(img, 4)
    assert out.shape == (3, 20, 4)
    torch.testing.assert_close(out, torch.full_like(out, 0.3), rtol=0, atol=1e-12)


def test_upscale_by_one_is_identity():
    img = torch.rand(3, 11, 8, dtype=torch.float64)
    torch.testing.assert_close(imresize(img, 1), img, rtol=0, atol=1e-12)


def test_rejects_integer_tensors_and_non_uint8_frames():
    with pytest.raises(TypeError):
        imresize(torch.zeros(3, 8, 8, dtype=torch.uint8), 0.25)
    with pytest.raises(TypeError):
        bicubic_downscale_uint8(np.zeros((8, 8, 3), dtype=np.float32))


def test_matlab_rounding_is_half_away_from_zero():
    np.testing.assert_array_equal(
        round_to_uint8(np.array([0.5, 1.5, 2.5, -3.0, 254.5, 300.0])),
        np.array([1, 2, 3, 0, 255, 255], dtype=np.uint8),
    )
