"""``vsrt eval``: PSNR/SSIM of the model and of bicubic on x4 BI test clips."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import UsageError
from ..inference import InferenceOptions
from ..inference.device import choose_precision, resolve_device
from ..inference.runner import plan_settings
from ..weights.loading import load_model
from . import cli
from .console import error_console, output_console
from .options import ensemble_option, threads_option


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}"


def _table(report: Any, rgb: bool) -> Table:
    has_model = report.model is not None
    title = f"x4 evaluation: {report.model or 'bicubic only'}"
    table = Table(title=title, title_justify="left")
    table.add_column("Clip")
    table.add_column("Frames", justify="right")
    table.add_column("LR", justify="right")
    metrics: list[tuple[str, str, int]] = []
    channels = ["y"] + (["rgb"] if rgb else [])
    for ch in channels:
        tag = ch.upper() if ch == "y" else "RGB"
        if has_model:
            metrics += [(f"psnr_{ch}", f"PSNR-{tag}", 2), (f"ssim_{ch}", f"SSIM-{tag}", 4)]
        metrics += [(f"bicubic_psnr_{ch}", f"Bic PSNR-{tag}", 2), (f"bicubic_ssim_{ch}", f"Bic SSIM-{tag}", 4)]
    for _, header, _ in metrics:
        table.add_column(header, justify="right")
    for clip in report.clips:
        size = f"{clip.lr_size[1]}x{clip.lr_size[0]}"
        table.add_row(clip.name, str(clip.frames), size, *(_fmt(getattr(clip, k), d) for k, _, d in metrics))
    table.add_section()
    table.add_row(
        "Mean", str(report.frames), "", *(_fmt(report.means.get(k), d) for k, _, d in metrics), style="bold"
    )
    return table


@cli.command("eval", short_help="Score a model and bicubic on x4 clips (PSNR/SSIM, BasicSR protocol).")
@click.argument("gt_dir", type=click.Path(exists=True, path_type=Path))
@click.option("--lr", "lr_dir", type=click.Path(exists=True, path_type=Path),
              help="LR clips with the GT's layout; default: MATLAB bicubic x1/4 of the GT.")
@click.option("-m", "--model", "model_name", help="Model name or weights file to evaluate.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Evaluate this weights file.")
@click.option("--crop-border", default=0, show_default=True, type=click.IntRange(min=0),
              help="Pixels ignored at each edge when scoring.")
@click.option("--rgb", is_flag=True, help="Also report RGB PSNR/SSIM (REDS4 protocol).")
@click.option("--max-frames", type=click.IntRange(min=1), help="Score only the first N frames of each clip.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--device", help="Device for the model, e.g. cpu, cuda, cuda:1.")
@click.option("--precision", help="Inference precision (as accepted by `vsrt upscale`).")
@click.option("--window-stride", type=click.IntRange(min=1), help="Output frames per window (as in `vsrt upscale`).")
@click.option("--tile-overlap", type=click.IntRange(min=0), help="Tile overlap in LR pixels (as in `vsrt upscale`).")
@ensemble_option
@threads_option
@click.option("--protocol", type=click.Choice(["vsrt", "official"]), default="vsrt", show_default=True,
              help="vsrt: the windows and tiles `vsrt upscale` uses; official: the paper's crop protocol.")
@click.option("--bicubic-only", is_flag=True, help="Skip the model; report the bicubic baseline only.")
def eval_command(
    gt_dir: Path,
    lr_dir: Path | None,
    model_name: str | None,
    weights: Path | None,
    crop_border: int,
    rgb: bool,
    max_frames: int | None,
    as_json: bool,
    device: str | None,
    precision: str | None,
    window_stride: int | None,
    tile_overlap: int | None,
    ensemble: int,
    protocol: str,
    bicubic_only: bool,
) -> None:
    """Score a model and bicubic on x4 clips in GT_DIR (one frame folder or video per clip).

    PSNR/SSIM follow BasicSR: uint8 outputs, Y channel (BT.601) by default,
    mean over each clip's frames, then mean over clips.
    """
    from ..quality.evaluate import evaluate

    if model_name is not None and weights is not None:
        raise UsageError("give either -m/--model or --weights, not both")
    if bicubic_only and (
        model_name or weights or device or precision or window_stride or tile_overlap is not None or ensemble > 1
    ):
        raise UsageError("--bicubic-only cannot be combined with model or inference options")

    model = None
    options = None
    if not bicubic_only:
        model = load_model(weights if weights is not None else model_name)
        options = InferenceOptions(
            window_stride=window_stride,
            tile_overlap=tile_overlap,
            device=device or "auto",
            precision=precision or "auto",
            ensemble=ensemble,
        )
        # Checked before any clip is read, so that a bad value is a usage error (exit 2).
        plan_settings(options, model.config)
        choose_precision(resolve_device(options.device), options.precision)

    err = error_console()
    # A live bar only makes sense on a terminal; in logs and pipes it would
    # only add stray blank lines around the results and error messages.
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    tasks: dict[str, Any] = {}

    def progress(clip: str, done: int, total: int | None) -> None:
        if clip not in tasks:
            tasks[clip] = bar.add_task(clip, total=total)
        bar.update(tasks[clip], completed=done)

    with bar:
        report = evaluate(
            gt_dir,
            lr_dir,
            model,
            crop_border=crop_border,
            rgb=rgb,
            inference_options=options,
            max_frames=max_frames,
            progress=progress,
            model_name=None if model is None else model.weights_name,
            protocol=protocol,
        )

    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), allow_nan=False) + "\n")
        sys.stdout.flush()
    else:
        output_console().print(_table(report, rgb))  # the result: `vsrt eval ... > scores.txt` works
        for clip in report.clips:
            if clip.gt_cropped:
                error_console().print(
                    f"note: clip {clip.name}: GT trimmed to {clip.gt_size[1]}x{clip.gt_size[0]}, a multiple of 4"
                    " on each side, to make its LR (BasicSR's mod crop), and scored at that size",
                    markup=False, highlight=False,
                )
