"""Options that several commands share, defined once so that they read alike."""

from __future__ import annotations

import click
import torch

from ..inference.ensemble import ENSEMBLE_SIZES

ensemble_option = click.option(
    "--ensemble",
    type=click.Choice([str(size) for size in ENSEMBLE_SIZES]),
    default="1",
    show_default=True,
    callback=lambda _ctx, _param, value: int(value),
    help="Average the model over N flipped/transposed/time-reversed versions of each window: "
    "better quality, slower (2: +0.07 dB on the held-out clips, 1.8x the time on a CPU).",
)


def _set_threads(_ctx, _param, value: int | None) -> None:
    if value:
        torch.set_num_threads(value)


threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    expose_value=False,
    callback=_set_threads,
    help="CPU threads for torch (default: all cores); on a machine other work keeps busy, 1 is steadier.",
)
