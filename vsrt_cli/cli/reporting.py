"""Progress and summaries on stderr: a live bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ..pipeline import Job, UpscaleResult
from ..pipeline.claim import BUSY_NOTE
from ..pipeline.upscale import Progress as FrameProgress

# Without a terminal, a status line this often keeps logs readable.
PLAIN_INTERVAL_SECONDS = 10.0


def plain_progress(progress: FrameProgress) -> str:
    """``frame 600/172800 (0.3%), 0.93 fps, 51:26:01 left``: what a log shows of a long run."""
    text = f"frame {progress.frames_done}"
    if progress.frames_total:
        text += f"/{progress.frames_total} ({100 * progress.frames_done / progress.frames_total:.1f}%)"
    text += f", {progress.fps:.2f} fps"
    if progress.seconds_left is not None:
        hours, rest = divmod(round(progress.seconds_left), 3600)
        text += f", {hours}:{rest // 60:02d}:{rest % 60:02d} left"
    return text


class ProgressReporter:
    """Per-file and whole-batch progress; errors are always printed, even when quiet."""

    def __init__(self, console: Console, file_count: int, enabled: bool = True) -> None:
        self.console = console
        self.file_count = file_count
        self.enabled = enabled
        self.live = enabled and console.is_terminal
        self._progress: Progress | None = None
        self._file_task = None
        self._batch_task = None
        self._last_plain = 0.0
        self._label = ""

    def __enter__(self) -> "ProgressReporter":
        if self.live:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[fps]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            if self.file_count > 1:
                self._batch_task = self._progress.add_task("files", total=self.file_count, fps="")
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start_file(self, job: Job) -> None:
        self._label = job.source.name
        self._last_plain = time.monotonic()
        if self._progress is not None:
            if self._file_task is not None:
                self._progress.remove_task(self._file_task)
            self._file_task = self._progress.add_task(self._label, total=None, fps="")

    def update(self, progress: FrameProgress) -> None:
        if self._progress is not None and self._file_task is not None:
            self._progress.update(
                self._file_task,
                completed=progress.frames_done,
                total=progress.frames_total,
                fps=f"{progress.fps:.2f} fps",
            )
        elif self.enabled and time.monotonic() - self._last_plain >= PLAIN_INTERVAL_SECONDS:
            self._last_plain = time.monotonic()
            self.console.print(f"{self._label}: {plain_progress(progress)}", markup=False)

    def finish_file(self, result: UpscaleResult) -> None:
        if self._batch_task is not None and self._progress is not None:
            self._progress.advance(self._batch_task)
        if result.status == "failed":
            self.console.print(f"vsrt: error: {result.error}", markup=False, highlight=False)
            return
        if not self.enabled:
            return
        if result.status == "skipped":
            why = f"is {BUSY_NOTE}" if BUSY_NOTE in result.notes else "exists"
            self.console.print(f"skipped {result.source}: {result.output} {why}", markup=False)
            return
        self.console.print(
            f"wrote {result.output}: {result.frames} frames {result.width}x{result.height}"
            f" in {result.seconds:.1f} s ({result.fps:.2f} fps, {result.device} {result.precision})",
            markup=False,
        )
        for note in result.notes:
            self.console.print(f"  note: {note}", markup=False)


def print_summary(console: Console, results: list[UpscaleResult]) -> None:
    if not console.is_terminal:
        # A log gets one whole line per file, which grep finds, instead of a table that
        # wraps a long error over several rows.
        for result in results:
            detail = result.error if result.status == "failed" else result.output
            console.print(f"{result.status}: {result.source} -> {detail}", markup=False, soft_wrap=True)
    else:
        _print_table(console, results)
    counts = {status: sum(r.status == status for r in results) for status in ("ok", "skipped", "failed")}
    console.print(f"{counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed", markup=False)


def _print_table(console: Console, results: list[UpscaleResult]) -> None:
    table = Table(title="vsrt upscale summary")
    for column in ("input", "status", "frames", "fps", "output / error"):
        table.add_column(column)
    for result in results:
        detail = result.error if result.status == "failed" else result.output
        fps = f"{result.fps:.2f}" if result.status == "ok" else ""
        table.add_row(result.source, result.status, str(result.frames or ""), fps, detail or "")
    console.print(table)
