"""The upscaling pipeline: decode, model, encode, and batches of files."""

from .batch import BatchOptions, batch_exit_code, run_job
from .outputs import Job, atomic_output, plan_jobs
from .upscale import Progress, UpscaleResult, upscale_video

__all__ = [
    "BatchOptions",
    "Job",
    "Progress",
    "UpscaleResult",
    "atomic_output",
    "batch_exit_code",
    "plan_jobs",
    "run_job",
    "upscale_video",
]
