"""BasicSR-compatible PSNR/SSIM: closed forms and an independent brute-force SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vsrt_cli.quality.metrics import psnr, rgb_to_y, ssim, to_uint8

C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


def _textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise, kept inside [20, 230] so offsets never clip."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([
        120 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0),
        110 + 50 * np.cos((xx + yy) / 9.0),
        100 + 40 * np.sin(yy / 4.0),
    ], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 20, 230).round().astype(np.uint8)


def test_to_uint8_clamps_and_rounds_half_to_even_like_tensor2img():
    # float32(k+0.5)/255 * 255 lands exactly on k+0.5 for these k, so the
    # tie-breaking rule is what decides: BasicSR's np.round goes to even.
    vals = np.array([np.float32(0.5 / 255), np.float32(1.5 / 255), np.float32(2.5 / 255), -0.2, 1.7, 0.5],
                    dtype=np.float32)
    np.testing.assert_array_equal(to_uint8(vals), np.array([0, 2, 2, 0, 255, 128], dtype=np.uint8))
    t = torch.rand(3, 5, 4, generator=torch.Generator().manual_seed(1)) * 1.4 - 0.2
    np.testing.assert_array_equal(to_uint8(t), to_uint8(t.numpy()))
    with pytest.raises(ValueError):
        to_uint8(np.array([np.nan], dtype=np.float32))


def test_rgb_to_y_known_colours_and_precision():
    img = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    y = rgb_to_y(img)
    assert y.dtype == np.float64 and y.shape == (1, 5)
    np.testing.assert_allclose(y[0], [16.0, 235.0, 16 + 65.481, 16 + 128.553, 16 + 24.966], atol=2e-5)
    # BasicSR stores Y as float32 and never rounds it to an integer.
    assert np.array_equal(y, y.astype(np.float32).astype(np.float64))
    assert not np.array_equal(y, np.round(y))


def test_psnr_identical_is_inf_and_ssim_is_one():
    img = _textured(24, 30)
    assert psnr(img, img) == math.inf
    assert psnr(img, img, y_channel=False) == math.inf
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    assert ssim(img, img, y_channel=False) == pytest.approx(1.0, abs=1e-12)


def test_psnr_constant_offset_closed_form():
    a = _textured(20, 26)
    b = a + np.uint8(10)
    # RGB: every sample differs by exactly 10, so MSE = 100.
    assert psnr(a, b, y_channel=False) == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-12)
    # Y: the offset is 10*(65.481+128.553+24.966)/255 = 2190/255 everywhere.
    dy = 2190.0 / 255.0
    assert psnr(a, b) == pytest.approx(20 * math.log10(255 / dy), abs=1e-4)


def test_psnr_crop_border_ignores_the_border():
    a = _textured(20, 20)
    b = a.copy()
    b[:3] = 0
    b[:, -3:] = 255
    assert psnr(a, b, crop_border=3) == math.inf
    assert psnr(a, b, crop_border=2) < 40
    with pytest.raises(ValueError):
        psnr(a, b, crop_border=10)


def test_ssim_of_flat_images_closed_form():
    a = np.empty((16, 16, 3), dtype=np.uint8)
    b = np.empty_like(a)
    a[...] = (100, 50, 200)
    b[...] = (110, 80, 150)
    # No variance anywhere, so SSIM reduces to the luminance term per channel.
    expected = np.mean([(2 * x * y + C1) / (x * x + y * y + C1) for x, y in zip((100, 50, 200), (110, 80, 150))])
    assert ssim(a, b, y_channel=False) == pytest.approx(expected, abs=1e-12)
    ya, yb = rgb_to_y(a)[0, 0], rgb_to_y(b)[0, 0]
    assert ssim(a, b) == pytest.approx((2 * ya * yb + C1) / (ya * ya + yb * yb + C1), abs=1e-12)


def _ssim_brute_force(x: np.ndarray, y: np.ndarray) -> float:
    """Direct definition: a normalised 11x11 Gaussian window at every valid position."""
    r = np.arange(11) - 5.0
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5**2))
    g /= g.sum()
    vals = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            mx, my = (g * px).sum(), (g * py).sum()
            vx = (g * (px - mx) ** 2).sum()
            vy = (g * (py - my) ** 2).sum()
            cxy = (g * (px - mx) * (py - my)).sum()
            vals.append(((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx**2 + my**2 + C1) * (vx + vy + C2)))
    return float(np.mean(vals))


def test_ssim_matches_direct_definition():
    a = _textured(19, 23, seed=3)
    rng = np.random.default_rng(4)
    b = np.clip(a.astype(np.int16) + rng.integers(-25, 26, a.shape), 0, 255).astype(np.uint8)
    got_y = ssim(a, b)
    want_y = _ssim_brute_force(rgb_to_y(a), rgb_to_y(b))
    assert got_y == pytest.approx(want_y, abs=1e-10)
    assert 0.2 < got_y < 0.99
    want_rgb = np.mean([
        _ssim_brute_force(a[..., c].astype(np.float64), b[..., c].astype(np.float64)) for c in range(3)
    ])
    assert ssim(a, b, y_channel=False) == pytest.approx(want_rgb, abs=1e-10)
    assert ssim(a, b, crop_border=2) == pytest.approx(
        _ssim_brute_force(rgb_to_y(a[2:-2, 2:-2]), rgb_to_y(b[2:-2, 2:-2])), abs=1e-10)


def test_metrics_reject_bad_inputs():
    a = _textured(12, 12)
    with pytest.raises(ValueError):
        psnr(a, _textured(12, 13))
    with pytest.raises(TypeError):
        psnr(a.astype(np.float32), a.astype(np.float32))
    with pytest.raises(ValueError):
        ssim(a[:10], a[:10])
