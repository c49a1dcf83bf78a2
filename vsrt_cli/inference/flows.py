"""Optical flow computed once per frame pair over the whole frame, shared by all tiles
and windows.

Whole-frame flow sees motion larger than a tile and costs two SPyNet passes per frame
instead of 2(T+1) per window and tile; tiles then crop the flow field they need.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..plan.windows import Window

FramePair = tuple[int, int]


class FlowCache:
    """Flow from frame ``ref`` to frame ``supp`` (warping ``supp`` by it aligns it to ``ref``)."""

    def __init__(
        self,
        spynet: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        frame: Callable[[int], torch.Tensor],
        zero_self_flow: bool,
    ) -> None:
        self._spynet = spynet
        self._frame = frame
        self._zero_self_flow = zero_self_flow
        self._flows: dict[FramePair, torch.Tensor] = {}
        self.pairs_computed = 0

    def flow(self, ref: int, supp: int) -> torch.Tensor:
        key = (ref, supp)
        cached = self._flows.get(key)
        if cached is not None:
            return cached
        reference = self._frame(ref)
        if ref == supp and self._zero_self_flow:
            value = reference.new_zeros(2, *reference.shape[-2:])
        else:
            value = self._spynet(reference[None], self._frame(supp)[None])[0].float()
            self.pairs_computed += 1
        self._flows[key] = value
        return value

    def window_flows(self, window: Window) -> tuple[torch.Tensor, torch.Tensor]:
        """(flows_forward, flows_backward) for the window, each [T, 2, H, W].

        Position k's forward flow points to position k-1 and its backward flow to k+1;
        the end positions use the frame's flow to itself, as the official model does.
        """
        indices = window.indices
        last = len(indices) - 1
        forward = [self.flow(indices[k], indices[max(k - 1, 0)]) for k in range(len(indices))]
        backward = [self.flow(indices[k], indices[min(k + 1, last)]) for k in range(len(indices))]
        return torch.stack(forward), torch.stack(backward)

    def forget_before(self, frame: int) -> None:
        """Drop flows that involve frames no later window can use."""
        for key in [key for key in self._flows if min(key) < frame]:
            del self._flows[key]
