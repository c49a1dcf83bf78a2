"""Self-ensemble: the symmetries, their action on frames and flows, and the runner's mean."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tiny_models import tiny_model
from vsrt_cli.errors import UsageError
from vsrt_cli.inference import InferenceOptions, WindowedUpscaler, upscale_clip
from vsrt_cli.inference.ensemble import ENSEMBLE_SIZES, Symmetry, symmetries, transform_window, undo_output
from vsrt_cli.models.compute import flow_pair_macs, window_macs
from vsrt_cli.models.spynet import flow_warp
from vsrt_cli.plan.cost import frame_cost

CPU = dict(device="cpu", precision="fp32")
EVERY = symmetries(16)


def window(seed=0, frames=5, size=12):
    generator = torch.Generator().manual_seed(seed)
    lrs = torch.rand(2, frames, 3, size, size, generator=generator)
    # Smooth flows of a few pixels, different in x and y, so that a swapped or unsigned
    # component would warp to somewhere else.
    rows, cols = torch.meshgrid(torch.arange(size.__float__()), torch.arange(size.__float__()), indexing="ij")
    base = torch.stack([1.5 * torch.sin(0.4 * rows) + 0.3, -0.8 * torch.cos(0.3 * cols) + 0.2 * rows / size])
    forward = torch.stack([base * (1 + 0.1 * k) for k in range(frames)])[None].repeat(2, 1, 1, 1, 1)
    backward = -0.7 * forward.flip(-1)
    return lrs, forward, backward


def aligned_neighbours(lrs, forward, backward):
    """Each inner position's previous frame warped by its forward flow and next frame by
    its backward flow: [B, T - 2, 2, 3, S, S]."""
    frames = lrs.shape[1]
    warped = []
    for k in range(1, frames - 1):
        previous = flow_warp(lrs[:, k - 1], forward[:, k].permute(0, 2, 3, 1))
        following = flow_warp(lrs[:, k + 1], backward[:, k].permute(0, 2, 3, 1))
        warped.append(torch.stack([previous, following], 1))
    return torch.stack(warped, 1)


def test_the_symmetries_are_distinct_and_start_with_the_identity():
    assert ENSEMBLE_SIZES == (1, 2, 4, 8, 16)
    assert symmetries(1) == [Symmetry()]
    assert symmetries(2) == [Symmetry(), Symmetry(hflip=True)]
    assert len(set(EVERY)) == 16 and symmetries(8) == [s for s in EVERY if not s.reverse]
    with pytest.raises(ValueError, match="one of 1, 2, 4, 8, 16"):
        symmetries(3)


@pytest.mark.parametrize("symmetry", EVERY, ids=str)
def test_undo_inverts_the_transform(symmetry):
    lrs, forward, backward = window()
    moved, _, _ = transform_window(lrs, forward, backward, symmetry)
    assert not torch.equal(moved, lrs) or symmetry == Symmetry()
    assert torch.equal(undo_output(moved, symmetry), lrs)


@pytest.mark.parametrize("symmetry", EVERY, ids=str)
def test_flows_move_with_the_frames(symmetry):
    # Warping the transformed frames by the transformed flows aligns the same content as
    # warping the originals: a flip must negate the flipped axis' component, a
    # transposition swap the components, and a time reversal swap forward and backward.
    lrs, forward, backward = window()
    original = aligned_neighbours(lrs, forward, backward)
    moved = aligned_neighbours(*transform_window(lrs, forward, backward, symmetry))
    # Back to the original frame: positions (and, reversed, previous/next) map back.
    back = undo_output(moved.flatten(2, 3), Symmetry(symmetry.hflip, symmetry.vflip, symmetry.transpose))
    back = back.unflatten(2, (2, 3))
    if symmetry.reverse:
        back = back.flip(1).flip(2)
    torch.testing.assert_close(back, original, atol=1e-5, rtol=0)


class AlignAndUpsample(nn.Module):
    """A stand-in network that commutes with every symmetry: it averages each frame with
    its flow-aligned neighbours and upsamples by 4 (nearest)."""

    def forward(self, lrs, flows):
        forward, backward = flows
        frames = lrs.shape[1]
        out = []
        for k in range(frames):
            previous = flow_warp(lrs[:, max(k - 1, 0)], forward[:, k].permute(0, 2, 3, 1))
            following = flow_warp(lrs[:, min(k + 1, frames - 1)], backward[:, k].permute(0, 2, 3, 1))
            out.append(F.interpolate((lrs[:, k] + previous + following) / 3, scale_factor=4, mode="nearest"))
        return torch.stack(out, 1)


def test_an_equivariant_network_gives_the_same_output_in_every_ensemble():
    lrs, forward, backward = window(seed=1)
    results = []
    for size in ENSEMBLE_SIZES:
        upscaler = WindowedUpscaler(tiny_model(frames=5), InferenceOptions(ensemble=size, **CPU))
        upscaler.model = AlignAndUpsample()
        results.append(upscaler._run_batch(lrs, forward, backward))
    for result in results[1:]:
        torch.testing.assert_close(result, results[0], atol=1e-5, rtol=0)


def test_the_ensemble_averages_the_versions_of_a_real_network():
    model = tiny_model(frames=5, seed=3)
    lrs, forward, backward = window(seed=2, size=16)
    single = WindowedUpscaler(model, InferenceOptions(**CPU))
    pair = WindowedUpscaler(model, InferenceOptions(ensemble=2, **CPU))
    plain = single._run_batch(lrs, forward, backward)
    flipped = single._run_batch(*transform_window(lrs, forward, backward, Symmetry(hflip=True)))
    expected = (plain + undo_output(flipped, Symmetry(hflip=True))) / 2
    assert not torch.allclose(plain, expected, atol=1e-4)
    torch.testing.assert_close(pair._run_batch(lrs, forward, backward), expected, atol=1e-6, rtol=0)

    frames = [np.random.default_rng(i).random((20, 28, 3), dtype=np.float32) for i in range(6)]
    outputs = upscale_clip(model, frames, InferenceOptions(ensemble=4, **CPU))
    assert len(outputs) == 6 and all(o.shape == (80, 112, 3) and np.isfinite(o).all() for o in outputs)


def test_bad_sizes_are_usage_errors_and_the_cost_counts_the_versions():
    with pytest.raises(UsageError, match="--ensemble 3: must be one of"):
        WindowedUpscaler(tiny_model(), InferenceOptions(ensemble=3, **CPU))
    config = tiny_model(frames=5).config
    costs = [
        frame_cost(
            180, 320, num_frames=5, tile_size=config.tile_size, overlap=2, stride=5,
            window_macs=window_macs(config), flow_pair_macs=flow_pair_macs(180, 320),
            spynet_self_flow=False, ensemble=size,
        )
        for size in (1, 2)
    ]
    assert costs[1].model_macs == 2 * costs[0].model_macs and costs[1].flow_macs == costs[0].flow_macs
