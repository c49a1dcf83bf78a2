"""Many inputs in one run: one failure does not stop the rest."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from torch import nn

from ..errors import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, OutputError, VsrtError
from ..inference import InferenceOptions
from ..inference.device import choose_precision, resolve_device
from ..inference.runner import plan_settings
from ..video import EncodeOptions
from ..video.deinterlace import check_deinterlace_mode
from ..video.encoding import check_quality, resolve_encoder
from ..video.numbering import is_picture_input
from ..video.segment import Segment
from ..plan.output_size import OutputSize
from .claim import BUSY_NOTE, OutputBusyError
from .outputs import EXISTS_NOTE, Job, output_exists
from .resume import check_resumable
from .upscale import Progress, UpscaleResult, upscale_video


@dataclass(frozen=True)
class BatchOptions:
    inference: InferenceOptions = InferenceOptions()
    encode: EncodeOptions | None = None
    overwrite: bool = False
    skip_existing: bool = False
    deinterlace: str = "auto"
    segment: Segment | None = None  # the same part of every input (--start, --duration)
    size: OutputSize = OutputSize()  # --scale or --height
    resumable: bool = False  # keep a journal; go on from an earlier run's (see resume.py)
    frame_rate: Fraction | None = None  # of numbered-picture inputs (--frame-rate); None: 25


def check_batch_options(model: nn.Module, options: BatchOptions) -> None:
    """Raise UsageError for an option no job could run with, before the first job starts:
    a bad value is one error and exit 2, not the same failure once per input."""
    plan_settings(options.inference, model.config)
    choose_precision(resolve_device(options.inference.device), options.inference.precision)
    check_deinterlace_mode(options.deinterlace)
    check_resumable(options.resumable, options.segment)
    if options.encode is not None:
        codec = options.encode.codec
        check_quality(resolve_encoder(codec) if codec else None, options.encode.crf)


def run_job(
    job: Job,
    model: nn.Module,
    options: BatchOptions,
    model_name: str = "",
    progress: Callable[[Progress], None] | None = None,
) -> UpscaleResult:
    """Upscale one job and report the outcome instead of raising (Ctrl-C still raises)."""
    result = _run(job, model, options, model_name, progress)
    if options.segment is not None:  # skipped and failed results say which part was asked for too
        result.segment = options.segment.to_dict()
    if job.note:
        result.notes.insert(0, job.note)
    return result


def _run(job, model, options, model_name, progress) -> UpscaleResult:
    if options.skip_existing and output_exists(job.target):
        return UpscaleResult(str(job.source), str(job.target), "skipped", model=model_name, notes=[EXISTS_NOTE])
    try:
        return upscale_video(
            job.source,
            job.target,
            model,
            inference=options.inference,
            encode=options.encode,
            overwrite=options.overwrite,
            deinterlace=options.deinterlace,
            segment=options.segment,
            scale=options.size.scale,
            height=options.size.height,
            resumable=options.resumable,
            # A batch may mix videos, which keep their own timing, with numbered pictures.
            frame_rate=options.frame_rate if is_picture_input(job.source) else None,
            model_name=model_name,
            progress=progress,
        )
    except VsrtError as error:
        if options.skip_existing and _taken(error, job.target):
            # Another worker on the same folder has it, or has just finished it.
            note = BUSY_NOTE if isinstance(error, OutputBusyError) else EXISTS_NOTE
            return UpscaleResult(str(job.source), str(job.target), "skipped", model=model_name, notes=[note])
        return UpscaleResult(
            str(job.source), str(job.target), "failed", model=model_name, error=str(error), exit_code=error.exit_code
        )
    except (OSError, RuntimeError, ValueError, MemoryError) as error:
        message = f"{type(error).__name__}: {error}"
        return UpscaleResult(
            str(job.source), str(job.target), "failed", model=model_name, error=message, exit_code=EXIT_FAILURE
        )


def _taken(error: VsrtError, target) -> bool:
    return isinstance(error, OutputBusyError) or (isinstance(error, OutputError) and output_exists(target))


def batch_exit_code(results: list[UpscaleResult]) -> int:
    """0 when nothing failed; one input: its error's code; several: 3 if any failed, 1 if all did."""
    failed = [r for r in results if r.status == "failed"]
    if not failed:
        return EXIT_OK
    if len(results) == 1:
        return failed[0].exit_code or EXIT_FAILURE
    return EXIT_FAILURE if len(failed) == len(results) else EXIT_PARTIAL
