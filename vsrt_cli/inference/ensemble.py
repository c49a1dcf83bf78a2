"""Self-ensemble: run a window in several mirrored or transposed versions and average.

The network is not equivariant to flips, transposition or time reversal (its positional
encoding alone tells a tile's top from its bottom), so each symmetry gives a slightly
different estimate of the same frames, and their mean is better than any one of them.
Training augments with exactly these symmetries, so every version is in distribution.

Flows are not recomputed: SPyNet's whole-frame flows are transformed with the window
(a horizontal flip mirrors the field and negates its x component, a transposition swaps
its components, a time reversal swaps the forward and backward flows). SPyNet, about
60% of vsrt-small's compute, therefore runs once whatever the ensemble's size, and only
the transformer runs once per version.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import UsageError

# The size 2 version is the one that helped most on its own on the held-out clips
# (horizontal flip +0.10 dB, transposition +0.08, time reversal +0.05).
ENSEMBLE_SIZES = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class Symmetry:
    hflip: bool = False
    vflip: bool = False
    transpose: bool = False
    reverse: bool = False


def symmetries(size: int) -> list[Symmetry]:
    """The first ``size`` of: identity, horizontal flip, vertical flip, both flips, the
    same four transposed, and all eight reversed in time."""
    if size not in ENSEMBLE_SIZES:
        raise UsageError(f"--ensemble {size}: must be one of {', '.join(map(str, ENSEMBLE_SIZES))}")
    every = [
        Symmetry(hflip, vflip, transpose, reverse)
        for reverse in (False, True)
        for transpose in (False, True)
        for vflip in (False, True)
        for hflip in (False, True)
    ]
    return every[:size]


def _negate_component(flows: torch.Tensor, component: int) -> torch.Tensor:
    sign = torch.ones(2, 1, 1, dtype=flows.dtype, device=flows.device)
    sign[component] = -1
    return flows * sign


def transform_window(
    lrs: torch.Tensor, flows_forward: torch.Tensor, flows_backward: torch.Tensor, symmetry: Symmetry
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Apply ``symmetry`` to tiles [B, T, 3, S, S] and their flows [B, T, 2, S, S]
    (component 0 is x, 1 is y, in pixels)."""
    if symmetry.hflip:
        lrs = lrs.flip(-1)
        flows_forward = _negate_component(flows_forward.flip(-1), 0)
        flows_backward = _negate_component(flows_backward.flip(-1), 0)
    if symmetry.vflip:
        lrs = lrs.flip(-2)
        flows_forward = _negate_component(flows_forward.flip(-2), 1)
        flows_backward = _negate_component(flows_backward.flip(-2), 1)
    if symmetry.transpose:
        lrs = lrs.transpose(-1, -2)
        flows_forward = flows_forward.transpose(-1, -2).flip(-3)
        flows_backward = flows_backward.transpose(-1, -2).flip(-3)
    if symmetry.reverse:
        # Position k's forward flow points to k - 1; reversed, that neighbour is k + 1's.
        lrs, flows_forward, flows_backward = lrs.flip(1), flows_backward.flip(1), flows_forward.flip(1)
    return lrs, flows_forward, flows_backward


def undo_output(out: torch.Tensor, symmetry: Symmetry) -> torch.Tensor:
    """Map outputs [B, T, 3, 4S, 4S] made under ``symmetry`` back to the original frame."""
    if symmetry.reverse:
        out = out.flip(1)
    if symmetry.transpose:
        out = out.transpose(-1, -2)
    if symmetry.vflip:
        out = out.flip(-2)
    if symmetry.hflip:
        out = out.flip(-1)
    return out


def ensemble_forward(
    model, lrs: torch.Tensor, flows_forward: torch.Tensor, flows_backward: torch.Tensor, versions: list[Symmetry]
) -> torch.Tensor:
    """The mean float32 output of ``model`` over ``versions`` of the window (the first
    must be the identity). Runs under the caller's grad and autocast settings."""
    total = None
    for symmetry in versions:
        tiles, forward, backward = (t.contiguous() for t in transform_window(lrs, flows_forward, flows_backward, symmetry))
        out = undo_output(model(tiles, flows=(forward, backward)).float(), symmetry)
        total = out if total is None else total.add_(out)
    return total if len(versions) == 1 else total.div_(len(versions))
