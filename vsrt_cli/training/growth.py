"""Starting a deeper network from a trained shallower one, without changing what it computes.

A residual block adds ``conv2(relu(conv1(x)))`` to its input, so a block whose ``conv2``
weight and bias are zero passes its input through unchanged. A network with more residual
blocks per stack can therefore start as an exact copy of a trained one: every shared
tensor is copied, and each added block keeps its fresh ``conv1`` and gets a zero ``conv2``.
Training then has the new capacity without first having to relearn what the smaller
network knew. Only block counts may differ, and settings that change no tensor (the
number of SPyNet levels that run); any other change (width, depth, tile size) alters
tensors that already hold trained values, and is refused.
"""

from __future__ import annotations

import dataclasses
import re

import torch

from ..models.vsrt import VSRTConfig

BLOCK_FIELDS = ("extract_blocks", "feedforward_blocks", "reconstruct_blocks")

# Keys of the residual blocks' convolutions; the group is the conv's number (1 or 2).
_BLOCK_KEY = re.compile(
    r"^(?:feature_extraction|reconstruction|transformer\.layers\.\d+\.1\.fn\.fn\.(?:backward|forward)_resblocks\.main\.2)"
    r"\.\d+\.conv([12])\.(?:weight|bias)$"
)


# Fields that change which modules run, not which tensors exist: they may differ freely.
TENSOR_FREE_FIELDS = ("flow_levels",)


def can_deepen(source: VSRTConfig, target: VSRTConfig) -> bool:
    """Whether ``target`` only has as many or more residual blocks per stack than ``source``
    (and perhaps another :data:`TENSOR_FREE_FIELDS` setting)."""
    free = BLOCK_FIELDS + TENSOR_FREE_FIELDS
    same_elsewhere = dataclasses.replace(source, **{f: getattr(target, f) for f in free}) == target
    return same_elsewhere and all(getattr(target, f) >= getattr(source, f) for f in BLOCK_FIELDS)


def deepened_state(
    source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``target`` (a freshly initialised deeper model's state) with ``source``'s values where
    the keys are shared and the added blocks made identities (``conv2`` zero).

    Raises ValueError if a shared tensor changed shape, ``source`` has a key ``target``
    lacks, or ``target`` has new keys other than residual blocks'.
    """
    extra = sorted(set(source) - set(target))
    if extra:
        raise ValueError(f"the source has tensors the deeper network lacks: {', '.join(extra[:3])}")
    state = {}
    for key, value in target.items():
        if key in source:
            if source[key].shape != value.shape:
                raise ValueError(f"{key}: {tuple(source[key].shape)} in the source, {tuple(value.shape)} here")
            state[key] = source[key].to(value.dtype).clone()
            continue
        match = _BLOCK_KEY.match(key)
        if match is None:
            raise ValueError(f"{key} is new but is not part of an added residual block")
        state[key] = torch.zeros_like(value) if match.group(1) == "2" else value.clone()
    return state
