"""``vsrt train``: train (or resume training) a VSR-Transformer from a JSON config."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import EXIT_INTERRUPTED, EXIT_TERMINATED, UsageError
from . import cli
from .console import error_console


@cli.command("train", short_help="Train a model from a config; checkpoints and resumes.")
@click.argument("config", required=False)
@click.option("--resume", is_flag=True, help="Continue the run in the output folder from its last.pt.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Run folder (default: runs/<config name>).")
@click.option("--max-steps", type=click.IntRange(min=1),
              help="Stop once the run's step count reaches N (the LR schedule still spans the config's total).")
@click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True),
              help="Stop (and save) after this many minutes of this session.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for torch (default: all cores).")
@click.option("--prepare-val", "prepare_val", type=click.Path(file_okay=False, path_type=Path),
              help="Only (re)build the held-out validation set in this folder, then exit.")
@click.option("--val-source", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="With --prepare-val: folder holding cityCC0.mpg and cockatoo.mp4.")
def train_command(
    config: str | None,
    resume: bool,
    out_dir: Path | None,
    max_steps: int | None,
    max_minutes: float | None,
    threads: int | None,
    prepare_val: Path | None,
    val_source: Path | None,
) -> None:
    """Train a model from CONFIG (a JSON file, or a bundled config name such as vsrt-small).

    Relative paths in the config (data, validation set, SPyNet weights) are taken from the
    current directory: run it from the repository root. Progress lines go to stdout and
    to <run>/log.jsonl; the EMA weights are exported to <run>/ema.safetensors and
    <run>/best.safetensors.
    """
    from ..inference.allocator import large_blocks_on_heap
    from ..training.config import load_config
    from ..training.trainer import Trainer
    from ..training.validation import DEFAULT_SOURCE, FRAMES_PER_CLIP, build_validation_set

    err = error_console()
    if prepare_val is not None:
        source, frames = val_source, FRAMES_PER_CLIP
        if config is not None:
            run_config = load_config(config)
            source = source or (Path(run_config.validation.source) if run_config.validation.source else None)
            frames = run_config.validation.frames
        manifest = build_validation_set(prepare_val, source or DEFAULT_SOURCE, frames)
        for clip in manifest["clips"]:
            err.print(f"{clip['name']}: {clip['frames']} frames, GT {clip['gt_size'][0]}x{clip['gt_size'][1]}")
        err.print(f"validation set written to {prepare_val}")
        return
    if config is None:
        raise UsageError("vsrt train needs a CONFIG (or --prepare-val DIR)")
    run_config = load_config(config)
    trainer = Trainer(run_config, out_dir or Path("runs") / run_config.name, resume=resume, threads=threads)
    with large_blocks_on_heap():
        summary = trainer.run(max_steps=max_steps, max_minutes=max_minutes)
    best = summary["best"]
    best_text = f", best PSNR-Y {best['psnr_y']:.3f} dB at step {best['step']}" if best else ""
    err.print(f"stopped at step {summary['step']} ({summary['stopped']}){best_text}")
    # Saved and resumable, but not finished: `vsrt train ... && vsrt eval ...` must not go on.
    stopped_by = {"SIGTERM": EXIT_TERMINATED, "SIGINT": EXIT_INTERRUPTED}.get(summary["stopped"])
    if stopped_by is not None:
        raise click.exceptions.Exit(stopped_by)
