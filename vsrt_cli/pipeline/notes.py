"""The notes of a finished run: one line for each thing it did that the user may not expect.

Each function looks at one part of the run (the source as decoded, the journal, the
model's memory) so that the run, the dry run and the tests can ask for just that part.
"""

from __future__ import annotations

from pathlib import Path

from ..inference.runner import InferenceStats
from ..video.deinterlace import deinterlace_notes
from ..video.fit import refit_note
from ..video.reader import VideoReader
from ..video.splice import splice_note
from .resume import Journal, journal_path


def source_notes(reader: VideoReader, frames_written: int, whole: bool) -> list[str]:
    """What decoding found: joins, interlacing, pictures of another size, damage, and a
    container that promised more frames than ``frames_written`` (checked only for a
    ``whole`` source, not a part of it)."""
    info = reader.info
    notes = []
    if splice_note(info.splices):
        notes.append(splice_note(info.splices))
    notes += deinterlace_notes(reader.deinterlace, reader.interlaced_frames, reader.frames_read)
    if reader.refitted_frames:
        notes.append(refit_note(
            reader.refitted_frames, reader.refitted_sizes, (info.width, info.height), reader.refit_bordered
        ))
    if reader.decode_errors:
        notes.append(f"{reader.decode_errors} damaged packet(s) could not be decoded and were skipped")
    if reader.corrupt_frames:
        notes.append(f"{reader.corrupt_frames} frame(s) decoded from damaged data were upscaled as decoded")
    if whole and info.frames_exact and info.n_frames and frames_written < info.n_frames:
        notes.append(
            f"the container lists {info.n_frames} frames but only {frames_written} could be decoded"
            " (is the file truncated or damaged?)"
        )
    return notes


def journal_notes(journal: Journal | None, frames_copied: int, target: Path) -> list[str]:
    """What became of a resume journal: used, passed over (and why), or left alone by a
    run without ``--resumable``."""
    if journal is None:
        try:
            left = journal_path(target).exists()
        except OSError:  # a name 13 bytes too long for one: there is none
            left = False
        if not left:
            return []
        return [
            f"a resume journal of an earlier --resumable run, {journal_path(target).name}, is beside"
            " the output and was left as it is (add --resumable to use it, or delete it)"
        ]
    notes = [journal.note] if journal.note else []
    if journal.resumption is not None:
        notes.insert(0, f"resumed where an earlier run stopped: {frames_copied} frame(s) copied from its journal")
    return notes


def memory_note(stats: InferenceStats) -> str | None:
    if not stats.oom_retries:
        return None
    return (
        f"ran out of {stats.device} memory {stats.oom_retries} time(s); "
        f"continued with {stats.tile_batch} tile(s) per step"
    )
