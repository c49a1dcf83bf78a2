"""Where outputs go, and writing them so that they appear only when complete."""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import OutputError, UsageError
from ..video.containers import FALLBACK_EXTENSION, writable_extension

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .m2ts .mts .wmv .flv .3gp .ogv .y4m .mxf .vob".split()
)


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path
    note: str | None = None  # why the target's name differs from the source's


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def collect_inputs(inputs: list[Path], recursive: bool) -> list[tuple[Path, Path]]:
    """(file, path relative to its input root) for every video the inputs name.

    Files are taken as given (whatever their extension); folders contribute the video
    files directly inside them, or in the whole tree with ``recursive``.
    """
    found: list[tuple[Path, Path]] = []
    for root in inputs:
        if root.is_dir():
            pattern = "**/*" if recursive else "*"
            for path in sorted(root.glob(pattern)):
                if path.is_file() and is_video_file(path) and not path.name.startswith("."):
                    found.append((path, path.relative_to(root)))
        elif root.exists():
            found.append((root, Path(root.name)))
        else:
            raise UsageError(f"input not found: {root}")
    return found


def plan_jobs(inputs: list[Path], output: Path, recursive: bool = False) -> list[Job]:
    """Map inputs to output paths.

    One input file and an output that is not an existing folder: the output is that
    file. Otherwise the output is a folder and each input keeps its name (and, for a
    folder input, its path below that folder), except an extension vsrt cannot write
    (.ogv, .y4m, .mxf): that output is an MKV.
    """
    found = collect_inputs(inputs, recursive)
    if not found:
        raise UsageError("no video files found in the given inputs")
    single_file = len(inputs) == 1 and not inputs[0].is_dir()
    if single_file and not output.is_dir() and output.suffix:
        return [Job(found[0][0], output)]
    if output.exists() and not output.is_dir():
        raise UsageError(f"-o {output}: several inputs need an output folder, and this is a file")
    jobs = [_folder_job(source, output / relative) for source, relative in found]
    targets = [job.target.resolve() for job in jobs]
    if len(set(targets)) != len(targets):
        raise UsageError("two inputs would be written to the same output file; use --recursive or separate runs")
    return jobs


def _folder_job(source: Path, target: Path) -> Job:
    if writable_extension(target):
        return Job(source, target)
    note = f"vsrt cannot write {target.suffix} files; written as {FALLBACK_EXTENSION}"
    return Job(source, target.with_suffix(FALLBACK_EXTENSION), note)


def check_target(source: Path, target: Path, overwrite: bool) -> None:
    """Refuse to write over an input, or over an existing file without ``overwrite``."""
    if target.exists():
        if source.exists() and os.path.samefile(source, target):
            raise OutputError(f"{target}: refusing to write over the input")
        if target.is_dir():
            raise OutputError(f"{target}: is a folder")
        if not overwrite:
            raise OutputError(f"{target}: already exists (use -y/--overwrite to replace it)")


def temporary_path(target: Path) -> Path:
    """A hidden, unique name beside ``target`` that keeps its extension (the muxer uses it)."""
    return target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}.vsrt-partial{target.suffix}")


@contextlib.contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """Yield a temporary path; rename it onto ``target`` only if the block completes.

    On any exception, Ctrl-C included, the temporary file is removed and nothing is left.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = temporary_path(target)
    try:
        yield partial
        if not partial.exists():
            raise OutputError(f"{target}: nothing was written")
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
