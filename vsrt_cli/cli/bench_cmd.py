"""``vsrt bench``: how fast vsrt runs on this machine."""

from __future__ import annotations

import json
import sys

import click
import torch

from ..bench import check_encode, memory_growth, parse_size, precision_agreement, run_bench
from ..errors import UsageError, VsrtError
from ..inference import InferenceOptions
from ..models import PRESETS, VSRTransformer
from ..video import EncodeOptions
from ..weights.loading import load_model
from . import cli
from .console import output_console
from .options import ensemble_option


@cli.command("bench", short_help="Measure speed, efficiency and memory on a synthetic clip.")
@click.option("-m", "--model", "model_name", default=None, help="Registered name or .safetensors path (default model if omitted).")
@click.option("--arch", "preset", type=click.Choice(sorted(PRESETS)), default=None,
              help="Time an architecture preset with random weights (speed does not depend on the weights).")
@click.option("--size", default="320x180", show_default=True, help="LR input size WIDTHxHEIGHT.")
@click.option("--frames", type=int, default=12, show_default=True, help="Frames in the synthetic clip.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N, as for upscale.")
@click.option("--precision", default="auto", show_default=True, help="auto, fp32, bf16 or fp16, as for upscale.")
@click.option("--window-stride", type=int, default=None, help="Output frames per window, as for upscale (default T).")
@click.option("--tile-batch", type=int, default=None, help="Tiles per model call, as for upscale (default: by device).")
@ensemble_option
@click.option("--memory-check", is_flag=True, help="Also compare peak RSS for the clip and one twice as long.")
@click.option("--memory-frames", type=int, default=None,
              help="Frames of the shorter clip in --memory-check (default: --frames); make it longer than the encoder's lookahead.")
@click.option("--precision-check", is_flag=True,
              help="Also run the clip in fp32 on the same device and report how many 8-bit codes the precision changes.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch (default: all cores); on a busy machine 1 gives steadier figures.")
@click.option("--codec", default=None, help="Encoder of the end-to-end run, as for upscale (default libx264).")
@click.option("--preset", "--encoder-preset", "encoder_preset", default="medium", show_default=True,
              help="The encoder's speed preset in the end-to-end run, as for upscale.")
@click.option("--crf", type=float, default=18, show_default=True, help="The encoder's rate factor, as for upscale.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def bench_command(
    model_name, preset, size, frames, device, precision, window_stride, tile_batch, ensemble, memory_check, memory_frames,
    precision_check, threads, codec, encoder_preset, crf, as_json,
):
    """Measure model-only and end-to-end throughput, efficiency and memory."""
    try:
        width, height = parse_size(size)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if frames < 1 or (memory_frames is not None and memory_frames < 1):
        raise UsageError("--frames and --memory-frames must be at least 1")
    if encoder_preset in PRESETS:  # what --preset meant here before it meant the encoder's
        raise UsageError(f"--preset {encoder_preset} is an architecture: use --arch {encoder_preset}")
    if model_name and preset:
        raise UsageError("use either -m/--model or --arch, not both")
    encode = EncodeOptions(codec=codec, crf=crf, preset=encoder_preset)
    check_encode(encode, width, height)
    if preset:
        model, label = VSRTransformer(PRESETS[preset]).eval(), f"{preset} (random weights)"
    else:
        model = load_model(model_name)
        label = model.weights_name
    if threads:
        torch.set_num_threads(threads)
    options = InferenceOptions(
        window_stride=window_stride, tile_batch=tile_batch, device=device, precision=precision, ensemble=ensemble
    )
    try:
        report = run_bench(model, label, width, height, frames, options, encode).to_dict()
        if memory_check:
            report["memory_growth"] = memory_growth(model, width, height, memory_frames or frames, options)
        if precision_check:
            report["precision_check"] = precision_agreement(model, width, height, frames, options)
    except (MemoryError, torch.cuda.OutOfMemoryError) as error:
        # Not a bug: the size asked for does not fit this machine. CUDA's text is a
        # paragraph of allocator advice; numpy's names the allocation that failed.
        if isinstance(error, torch.cuda.OutOfMemoryError):
            reason = "the GPU's memory is full"
        else:
            reason = " ".join(str(error).split()) or "the machine's memory is full"
        raise VsrtError(
            f"--size {width}x{height} with --frames {frames}: out of memory ({reason});"
            " try a smaller --size or fewer --frames"
        ) from None
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")  # one line, as every --json
        return
    console = output_console()  # the result, as with --json
    for key, value in report.items():
        console.print(f"{key:>28}: {value}", markup=False, highlight=False)
