"""``vsrt upscale``: files and folders in, 4x videos out."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from click.core import ParameterSource

from ..errors import Terminated, UsageError, VsrtError, interrupt_exit_code
from ..inference import InferenceOptions
from ..pipeline import BatchOptions, Job, UpscaleResult, batch_exit_code, plan_jobs, run_job
from ..pipeline.batch import check_batch_options
from ..pipeline.claim import BUSY_NOTE, OutputBusyError, check_unclaimed
from ..pipeline.outputs import (
    EXISTS_NOTE, check_sequence_options, check_target, check_writable, output_exists, refuse_video_flags,
)
from ..pipeline.dry_run import describe_plan, plan_job
from ..video import EncodeOptions
from ..video.deinterlace import DEINTERLACE_MODES
from ..plan.output_size import MODEL_SCALE, OutputSize
from ..video.numbering import check_frame_rate, is_image_sequence, is_picture_input, parse_frame_rate
from ..video.segment import Segment, parse_time
from ..weights.loading import load_model
from . import cli
from .console import error_console, output_console
from .options import ensemble_option, threads_option
from .reporting import ProgressReporter, print_summary


def parse_encoder_options(values: tuple[str, ...]) -> dict[str, str]:
    options: dict[str, str] = {}
    for value in values:
        key, sep, setting = value.partition("=")
        if not sep or not key:
            raise UsageError(f"-e {value!r}: expected KEY=VALUE")
        options[key.strip()] = setting.strip()
    return options


@cli.command("upscale")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output file (one input) or folder; or numbered pictures ('frames/%06d.png').")
@click.option("-y", "--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--skip-existing", is_flag=True, help="Leave inputs whose output already exists (resumable batches).")
@click.option("-r", "--recursive", is_flag=True, help="Search input folders recursively; the tree is kept under -o.")
@click.option("-m", "--model", "model_name", default=None, help="Registered model name (see `vsrt models`).")
@click.option("--weights", type=click.Path(path_type=Path), default=None, help="A vsrt .safetensors file.")
@click.option("--window-stride", type=int, default=None,
              help="Output frames per window, 1 (official protocol, slowest) to T; default T (5).")
@click.option("--tile-overlap", type=int, default=None,
              help="Overlap of spatial tiles in LR pixels, 0 to 31; default 6.")
@click.option("--tile-batch", type=int, default=None, help="Tiles per model call (default: by device).")
@ensemble_option
@threads_option
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--precision", default="auto", show_default=True, help="auto, fp32, bf16 or fp16.")
@click.option(
    "--deinterlace",
    type=click.Choice(DEINTERLACE_MODES),
    default="auto",
    show_default=True,
    help="Deinterlace with bwdif: auto = the frames the decoder flags as interlaced.",
)
@click.option("--start", "start", default=None, metavar="TIME",
              help="Upscale from this time on (seconds or [HH:]MM:SS[.fff], from the first frame).")
@click.option("--duration", "duration", default=None, metavar="TIME",
              help="Upscale only this long a part (with --start: a sample to try settings on).")
@click.option("--scale", "scale", default=None, metavar="FACTOR",
              help="Output size over input size, 1 to 4 (default 4): below 4 the model's 4x frames are shrunk.")
@click.option("--height", "out_height", default=None, metavar="LINES",
              help="Output height as shown (e.g. 1080), width by the shape; instead of --scale.")
@click.option("--frame-rate", "frame_rate", default=None, metavar="FPS",
              help="Rate of numbered-picture inputs (scan/%06d.dpx): 24, 23.976 or 24000/1001; default 25.")
@click.option("--resumable", is_flag=True,
              help="Keep a journal beside the output; a run that was stopped goes on where it stopped.")
@click.option("--codec", default=None, help="Video encoder (default libx264; VP9 for WebM).")
@click.option("--crf", type=float, default=18, show_default=True, help="Constant rate factor (quality).")
@click.option("--preset", default="medium", show_default=True, help="Encoder speed preset.")
@click.option("--pix-fmt", default=None, help="Output pixel format (default yuv420p, 10-bit for 10-bit sources).")
@click.option("-e", "--encoder-option", "encoder_options", multiple=True, metavar="KEY=VALUE", help="Extra encoder option; repeatable.")
@click.option("--dry-run", is_flag=True, help="Print the plan (streams, frames, windows, tiles, work) and exit.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary on stderr; errors only.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary per input to stdout.")
def upscale_command(
    inputs: tuple[Path, ...],
    output: Path,
    overwrite: bool,
    skip_existing: bool,
    recursive: bool,
    model_name: str | None,
    weights: Path | None,
    window_stride: int | None,
    tile_overlap: int | None,
    tile_batch: int | None,
    ensemble: int,
    device: str,
    precision: str,
    deinterlace: str,
    start: str | None,
    duration: str | None,
    scale: str | None,
    out_height: str | None,
    frame_rate: str | None,
    resumable: bool,
    codec: str | None,
    crf: float,
    preset: str,
    pix_fmt: str | None,
    encoder_options: tuple[str, ...],
    dry_run: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Upscale videos 4x. INPUT is any mix of video files, folders and numbered pictures ('scan/%06d.dpx')."""
    if model_name and weights:
        raise UsageError("use either -m/--model or --weights, not both")
    if overwrite and skip_existing:
        raise UsageError("use either -y/--overwrite or --skip-existing, not both")
    jobs = plan_jobs(list(inputs), output, recursive)
    check_picture_output_flags(jobs)
    rate = parse_frame_rate(frame_rate) if frame_rate is not None else None
    if rate is not None and not any(is_picture_input(job.source) for job in jobs):
        check_frame_rate(rate, pictures=False)  # the error: there is nothing it applies to
    inference = InferenceOptions(
        window_stride=window_stride,
        tile_overlap=tile_overlap,
        tile_batch=tile_batch,
        device=device,
        precision=precision,
        ensemble=ensemble,
    )
    encode = EncodeOptions(
        codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt, encoder_options=parse_encoder_options(encoder_options)
    )
    model = load_model(weights if weights is not None else model_name)
    label = model.weights_name
    segment = Segment(
        parse_time(start, "--start") if start is not None else 0,
        parse_time(duration, "--duration") if duration is not None else None,
    )
    options = BatchOptions(
        inference=inference, encode=encode, overwrite=overwrite, skip_existing=skip_existing, deinterlace=deinterlace,
        segment=None if segment.whole else segment,
        size=output_size_option(scale, out_height), resumable=resumable, frame_rate=rate,
    )
    check_batch_options(model, options)
    if dry_run:
        code = print_plans(jobs, model, options, as_json)
        if code:
            raise click.exceptions.Exit(code)
        return
    results = run_batch(jobs, model, options, label, quiet, as_json)
    code = batch_exit_code(results)
    if code:
        raise click.exceptions.Exit(code)


def check_picture_output_flags(jobs: list[Job]) -> None:
    """--crf and --preset typed for a picture sequence are refused even at their default
    values, which the library cannot tell from values not given."""
    context = click.get_current_context()
    typed = [f"--{name}" for name in ("crf", "preset") if context.get_parameter_source(name) is ParameterSource.COMMANDLINE]
    if any(is_image_sequence(job.target) for job in jobs):
        refuse_video_flags(typed)


def output_size_option(scale: str | None, height: str | None) -> OutputSize:
    if scale is not None and height is not None:
        raise UsageError("use either --scale or --height, not both")
    return OutputSize(MODEL_SCALE if scale is None else scale, height)


def print_plans(jobs: list[Job], model, options: BatchOptions, as_json: bool) -> int:
    """The --dry-run: each job's plan on stdout (one JSON object per line with --json), and
    for an input that cannot be planned its error, as the run would give, on stderr."""
    label = getattr(model, "weights_name", "")
    results = []
    for job in jobs:
        try:
            plan = plan_one(job, model, label, options)
        except VsrtError as error:
            failed = UpscaleResult(str(job.source), str(job.target), "failed", model=label,
                                   error=str(error), exit_code=error.exit_code)
            if as_json:  # for scripts, as a run's failure is
                sys.stdout.write(json.dumps(failed.to_dict()) + "\n")
                sys.stdout.flush()
            if len(jobs) == 1:  # its error is the command's: one line, its exit code
                raise
            message = str(error) if str(job.source) in str(error) else f"{job.source}: {error}"
            error_console().print(f"vsrt: error: {message}", markup=False, highlight=False)
            results.append(failed)
            continue
        results.append(UpscaleResult(plan["source"], plan["output"], plan["status"]))
        if as_json:
            sys.stdout.write(json.dumps(plan) + "\n")
        else:
            output_console().print(describe_plan(plan), markup=False, highlight=False)
    sys.stdout.flush()
    return batch_exit_code(results)


def plan_one(job: Job, model, label: str, options: BatchOptions) -> dict:
    """One job's plan, with what the run would do about an existing output."""
    if options.skip_existing and output_exists(job.target):
        return _skipped(job, label, EXISTS_NOTE)
    try:
        check_unclaimed(job.target)
    except OutputBusyError:
        if not options.skip_existing:
            raise
        return _skipped(job, label, BUSY_NOTE)
    check_target(job.source, job.target, options.overwrite)  # refuses as the run would
    check_writable(job.target)
    check_sequence_options(job.target, options.encode, options.resumable)
    plan = plan_job(
        job, model, options.inference, options.deinterlace, options.encode, options.segment, options.size,
        options.resumable, options.frame_rate if is_picture_input(job.source) else None,
    )
    return {**plan, "status": "planned"}


def _skipped(job: Job, label: str, why: str) -> dict:
    """A skipped plan: the record a run that skips it gives, and whether the output exists."""
    result = UpscaleResult(str(job.source), str(job.target), "skipped", model=label, notes=[why])
    return {**result.to_dict(), "exists": why != BUSY_NOTE}


def run_batch(
    jobs: list[Job], model, options: BatchOptions, label: str, quiet: bool, as_json: bool
) -> list[UpscaleResult]:
    results: list[UpscaleResult] = []
    console = error_console()
    reporter = ProgressReporter(console, len(jobs), enabled=not quiet)
    job = None
    frames_done = 0  # of the file in hand: an interrupted record says how far it got

    def progress(update) -> None:
        nonlocal frames_done
        frames_done = update.frames_done
        reporter.update(update)

    try:
        with reporter:
            for job in jobs:
                frames_done = 0
                reporter.start_file(job)
                result = run_job(job, model, options, label, progress=progress)
                reporter.finish_file(result)
                results.append(result)
                if as_json:
                    sys.stdout.write(json.dumps(result.to_dict()) + "\n")
                    sys.stdout.flush()
    except KeyboardInterrupt as stop:
        if as_json and job is not None:  # a script's log says which file was stopped
            stopped = UpscaleResult(str(job.source), str(job.target), "interrupted", model=label,
                                    frames=frames_done, exit_code=interrupt_exit_code(stop))
            sys.stdout.write(json.dumps(stopped.to_dict()) + "\n")
            sys.stdout.flush()
        what = "terminated" if isinstance(stop, Terminated) else "interrupted"
        kept = "; its journal is kept: the same command goes on from where it stopped" if options.resumable else ""
        console.print(f"vsrt: {what}; partial output removed{kept}", markup=False)
        raise click.exceptions.Exit(interrupt_exit_code(stop)) from None
    if not quiet and len(jobs) > 1:
        print_summary(console, results)
    return results
