"""Where outputs go, and writing them so that they appear only when complete."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import InputNotFoundError, OutputError, UsageError
from ..video.containers import FALLBACK_EXTENSION, writable_extension
from ..video.encoding import EncodeOptions
from ..video.numbering import (
    FIRST_NUMBER, check_sequence_name, frame_path, is_image_sequence, is_picture_input, no_picture_matches,
    sequence_files, suggest_pattern, writes_any,
)

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


def collect_inputs(inputs: list[Path], recursive: bool, output_dir: Path | None = None) -> list[tuple[Path, Path]]:
    """(file, path relative to its input root) for every video the inputs name.

    Files are taken as given (whatever their extension); folders contribute the video
    files directly inside them, or in the whole tree with ``recursive``, except those
    inside ``output_dir`` when it lies below the folder: a rerun of ``vsrt upscale
    films -o films/4x -r`` must not take the last run's outputs for new inputs.
    """
    outputs = output_dir.resolve() if output_dir is not None else None
    found: list[tuple[Path, Path]] = []
    for root in inputs:
        if root.is_dir():
            pattern = "**/*" if recursive else "*"
            below = outputs is not None and outputs != root.resolve() and outputs.is_relative_to(root.resolve())
            for path in sorted(root.glob(pattern)):
                if below and path.resolve().is_relative_to(outputs):
                    continue
                if path.is_file() and is_video_file(path) and not path.name.startswith("."):
                    found.append((path, path.relative_to(root)))
        elif root.is_file():
            found.append((root, Path(root.name)))
        elif is_picture_input(root):
            if not sequence_files(root):
                raise InputNotFoundError(no_picture_matches(root))
            # In an output folder, `scan/%06d.dpx` becomes scan.mp4.
            found.append((root, Path(f"{root.parent.resolve().name or 'pictures'}.mp4")))
        elif root.exists():  # opening a pipe would wait for a writer forever
            raise UsageError(f"{root}: not a regular file (a pipe or a device); vsrt reads video files")
        else:
            raise InputNotFoundError(f"input not found: {root}")
    return found


def plan_jobs(inputs: list[Path], output: Path, recursive: bool = False) -> list[Job]:
    """Map inputs to output paths.

    One input file and an output that is not an existing folder: the output is that
    file. Otherwise the output is a folder and each input keeps its name (and, for a
    folder input, its path below that folder), except an extension vsrt cannot write
    (.ogv, .y4m, .mxf): that output is an MKV.
    """
    found = collect_inputs(inputs, recursive, output_dir=output)
    if not found:
        pattern = next(filter(None, map(suggest_pattern, inputs)), None)
        hint = f" (for numbered pictures, give a pattern: '{pattern}')" if pattern is not None else ""
        raise UsageError(f"no video files found in the given inputs{hint}")
    single_file = len(inputs) == 1 and not inputs[0].is_dir()
    if is_image_sequence(output) and not (single_file and len(found) == 1):
        raise UsageError(
            f"-o {output}: a numbered picture sequence is the output of one input video;"
            " upscale each video into a folder of its own"
        )
    if single_file and not output.is_dir() and output.suffix:
        return [Job(found[0][0], output)]
    if not output.exists() and writable_extension(output) and output.suffix:
        # `vsrt upscale a.mp4 b.mp4 -o out.mp4` would make a folder called out.mp4.
        raise UsageError(f"-o {output}: several inputs need an output folder, and this names a video file")
    if output.exists() and not output.is_dir():
        if single_file:  # no extension to say which container (e.g. /dev/null)
            raise UsageError(f"-o {output}: not a folder, and a name without an extension such as .mp4")
        raise UsageError(f"-o {output}: several inputs need an output folder, and this is a file")
    jobs = [_folder_job(source, output / relative) for source, relative in found]
    first: dict[Path, Path] = {}
    for job in jobs:
        target = job.target.resolve()
        if target in first:
            raise UsageError(
                f"{first[target]} and {job.source} would both be written to {job.target};"
                " upscale them in separate runs, to different output folders"
            )
        first[target] = job.source
    return jobs


def _folder_job(source: Path, target: Path) -> Job:
    if writable_extension(target):
        return Job(source, target)
    note = f"vsrt cannot write {target.suffix} files; written as {FALLBACK_EXTENSION}"
    return Job(source, target.with_suffix(FALLBACK_EXTENSION), note)


EXISTS_NOTE = "output exists"  # a skipped output's note, for scripts to match


def output_exists(target: Path) -> bool:
    """Whether ``target`` is there: the file, or any picture of a sequence."""
    return bool(sequence_files(target)) if is_image_sequence(target) else target.exists()


def check_target(source: Path, target: Path, overwrite: bool) -> None:
    """Refuse to write over an input, or over an existing file without ``overwrite``."""
    check_sequence_name(target)
    if is_image_sequence(target):
        first = frame_path(target, FIRST_NUMBER).name
        if len(os.fsencode(first)) > _name_max(_nearest_folder(target)):
            # The pattern is a legal name; its pictures' names, with the digits in, may not be.
            raise OutputError(f"{target}: the pictures' names ({first}) would be too long for the file system")
        existing = sequence_files(target)
        _check_no_folder_in_the_way(target, existing)
        if is_picture_input(source) and writes_any(target, sequence_files(source)):
            raise OutputError(f"{target}: refusing to write over the input's pictures")
        if existing and not overwrite:
            raise OutputError(
                f"{target}: {len(existing)} picture(s) of this sequence are there already, from"
                f" {existing[0].name} (use -y/--overwrite to replace them)"
            )
        return
    if target.is_symlink() and not target.exists() and not overwrite:
        raise OutputError(f"{target}: a link (to a missing file) is there already (use -y/--overwrite to replace it)")
    if target.exists():
        if source.exists() and os.path.samefile(source, target):
            raise OutputError(f"{target}: refusing to write over the input")
        if target.is_dir():
            raise OutputError(f"{target}: is a folder")
        if not overwrite:
            raise OutputError(f"{target}: already exists (use -y/--overwrite to replace it)")


def check_writable(target: Path) -> None:
    """Refuse a target whose folder this process may not write in (read-only, not ours).

    A run finds this out when it claims the target; ``--dry-run``, which writes nothing,
    asks the system instead, so that its plan is not "planned" for a run that would fail.
    """
    folder = _nearest_folder(target)
    if not folder.is_dir():
        raise OutputError(f"cannot make the output folder {target.parent}: {folder} is a file")
    if not os.access(folder, os.W_OK | os.X_OK):
        reason = os.strerror(errno.EROFS if _read_only(folder) else errno.EACCES)  # the run's words for it
        raise OutputError(f"cannot write {target}: {reason}")


def _nearest_folder(target: Path) -> Path:
    """The target's folder, or the deepest of its parents that exists (the run makes the rest)."""
    return next((p for p in (target.parent, *target.parent.parents) if os.path.lexists(p)), target.parent)


def _read_only(folder: Path) -> bool:
    with contextlib.suppress(OSError, AttributeError):
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    return False


def _check_no_folder_in_the_way(target: Path, existing: list[Path]) -> None:
    """A folder named like a frame is never replaced: it may hold anything."""
    folder = next((path for path in existing if path.is_dir() and not path.is_symlink()), None)
    if folder is not None:
        raise OutputError(f"{target}: {folder.name} is a folder, where a picture of this sequence would go")


def check_sequence_options(target: Path, encode: EncodeOptions | None, resumable: bool) -> None:
    """Refuse the video-only options for a picture sequence, rather than ignore them."""
    if not is_image_sequence(target):
        return
    if resumable:
        raise UsageError("--resumable is for video outputs; a picture sequence is written afresh")
    encode, default = encode or EncodeOptions(), EncodeOptions()
    asked = [flag for flag, value in (
        ("--codec", encode.codec), ("--pix-fmt", encode.pix_fmt), ("-e", encode.encoder_options),
        ("--crf", encode.crf != default.crf), ("--preset", encode.preset != default.preset),
    ) if value]
    refuse_video_flags(asked)


def refuse_video_flags(flags: list[str]) -> None:
    """The error for video-only options given for a picture sequence, if any were."""
    if flags:
        raise UsageError(
            f"{', '.join(flags)}: for video outputs; a picture sequence's format is its extension"
            " (.png or .tif, 16-bit for sources of more than 8 bits)"
        )


PARTIAL_MARK = ".vsrt-partial"
SET_ASIDE = "earlier"  # in a sequence's temporary folder: the pictures it replaces, until it has
_RUN_ID = re.compile(r"[0-9a-f]{8}")


def hidden_name(target: Path, tail: str) -> Path:
    """``.NAME{tail}`` beside ``target``: the journal, lock and temporary files of a run.

    Where that is longer than the file system allows a name (255 bytes on most), the name
    is cut and a hash of the whole added, so that every legal target gets a legal name of
    its own, and the same one on every run.
    """
    name = f".{target.name}{tail}"
    limit = _name_max(_nearest_folder(target))
    if len(os.fsencode(name)) <= limit:
        return target.with_name(name)
    whole = os.fsencode(target.name)
    digest = hashlib.sha256(whole).hexdigest()[:16]
    room = limit - len(os.fsencode(f"..{digest}{tail}"))
    cut = whole[: max(room, 1)].decode("utf-8", errors="ignore")  # whole UTF-8 characters only
    return target.with_name(f".{cut}.{digest}{tail}")


def temporary_path(target: Path) -> Path:
    """A hidden name beside ``target``, unique to this run, that keeps the target's extension
    (the muxer goes by it); for a picture sequence, the folder its pictures are written in."""
    return hidden_name(target, _partial_tail(target, uuid.uuid4().hex[:8]))


def _partial_tail(target: Path, run_id: str) -> str:
    return f".{run_id}{PARTIAL_MARK}{'' if is_image_sequence(target) else target.suffix}"


def stale_partials(target: Path) -> list[Path]:
    """The temporary outputs of ``target`` that runs killed outright (SIGKILL, a power cut)
    could not remove. Only safe to delete while holding the target's claim (claim.py)."""
    sample_tail = _partial_tail(target, "0" * 8)
    head = hidden_name(target, sample_tail).name[: -len(sample_tail)] + "."
    tail = sample_tail[len(".") + 8:]
    with contextlib.suppress(OSError):
        return sorted(
            entry for entry in target.parent.iterdir()
            if entry.name.startswith(head) and entry.name.endswith(tail)
            and _RUN_ID.fullmatch(entry.name[len(head): -len(tail)])
        )
    return []


def remove_stale_partials(target: Path) -> str | None:
    """Remove :func:`stale_partials`; a note saying what went, or None.

    A sequence's folder that holds earlier pictures set aside (a run killed in the middle
    of replacing them, see :func:`_swap_in`) is kept: those may be the only copy.
    """
    removed, size, kept = 0, 0, []
    for path in stale_partials(target):
        with contextlib.suppress(OSError):
            if path.is_dir() and any((path / SET_ASIDE).glob("*")):
                kept.append(path)
                continue
            if path.is_dir() and not path.is_symlink():
                size += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                shutil.rmtree(path)
            else:
                size += path.stat().st_size
                path.unlink()
            removed += 1
    amount = f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
    notes = [f"removed {removed} partial output(s) of this output left by a run that was killed ({amount})"
             if removed else "", *(f"{path / SET_ASIDE} holds earlier pictures of this output that a killed run"
                                   " had set aside; left as it is" for path in kept)]
    return "; ".join(note for note in notes if note) or None


def _name_max(folder: Path) -> int:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return os.pathconf(folder, "PC_NAME_MAX")
    return 255


def make_folder(folder: Path) -> list[Path]:
    """Make ``folder`` and its missing parents; returns the folders it made, deepest first."""
    made = [p for p in (folder, *folder.parents) if not p.exists() and not p.is_symlink()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return made
    except (FileExistsError, NotADirectoryError):
        blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise OutputError(f"cannot make the output folder {folder}: {blocking} is a file") from None
    except OSError as error:
        raise OutputError(f"cannot make the output folder {folder}: {error.strerror or error}") from None


@contextlib.contextmanager
def atomic_output(target: Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path; rename it onto ``target`` only if the block completes.

    On any exception, Ctrl-C included, the temporary file is removed, and so are the
    folders made for it, and nothing is left. Without ``overwrite``, a file that
    appeared at ``target`` while the block ran (another run, another program) is kept,
    and the finished output goes beside it under a name the error gives.
    """
    made = make_folder(target.parent)
    partial = temporary_path(target)
    finished = False
    try:
        yield partial
        if not partial.exists():
            raise OutputError(f"{target}: nothing was written, or the file being written was removed")
        if overwrite:
            os.replace(partial, target)
        else:
            _rename_without_replacing(partial, target)
        finished = True
    finally:
        # Only cleaning up: an error here (a read-only or vanished folder) must not hide
        # the one that brought us here.
        with contextlib.suppress(OSError):
            partial.unlink()
        if not finished:
            for folder in made:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if still empty


@contextlib.contextmanager
def atomic_sequence(target: Path, overwrite: bool = True) -> Iterator[Path]:
    """:func:`atomic_output` for a numbered picture sequence (``frames/%06d.png``).

    Yields the pattern inside a hidden folder beside the pictures; when the block
    completes, the pictures are moved next to it, and any earlier pictures of the same
    sequence go (with ``overwrite``: a longer earlier run would otherwise leave its last
    frames after the new ones). On any exception, during the move too, the folder is as it
    was before: the hidden folder, and the folders made for it, are removed.
    """
    made = make_folder(target.parent)
    staging = temporary_path(target)
    finished = False
    try:
        try:
            staging.mkdir()
        except OSError as error:
            raise OutputError(f"cannot write {target}: {error.strerror or error}") from None
        yield staging / target.name
        written = sequence_files(staging / target.name)
        if not written:
            raise OutputError(f"{target}: nothing was written, or the pictures being written were removed")
        earlier = sequence_files(target)
        _check_no_folder_in_the_way(target, earlier)
        if earlier and not overwrite:
            raise OutputError(
                f"pictures of {target} appeared while vsrt was writing it (another run?);"
                " they were left as they are: rerun with -y to replace them"
            )
        _swap_in(written, earlier, target, staging)
        finished = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not finished:
            for folder in made:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if still empty


def _swap_in(written: list[Path], earlier: list[Path], target: Path, staging: Path) -> None:
    """Move ``written`` beside ``target`` in place of the ``earlier`` pictures, all or none.

    A film is some 170,000 pictures, whose moves take seconds (minutes on a network share),
    long enough for a Ctrl-C or a full disk to land among them: the earlier pictures are
    set aside in the staging folder rather than deleted, so that a move that fails is
    undone and the earlier sequence is whole again.
    """
    set_aside = staging / SET_ASIDE
    try:
        set_aside.mkdir()
        for picture in earlier:
            os.replace(picture, set_aside / picture.name)
        for picture in written:
            os.replace(picture, target.parent / picture.name)
    except BaseException as error:
        # Undone from where the files are, not from a record of the moves: a Ctrl-C lands
        # between a rename and the next line, and a move made but not recorded would stay.
        earlier_names = {picture.name for picture in earlier}
        for picture in written:
            if picture.name not in earlier_names and not picture.exists():  # moved in
                with contextlib.suppress(OSError):
                    (target.parent / picture.name).unlink()
        for picture in earlier:
            if (set_aside / picture.name).exists():
                with contextlib.suppress(OSError):
                    os.replace(set_aside / picture.name, picture)
        if isinstance(error, OSError):
            raise OutputError(f"cannot write {target}: {error.strerror or error}") from None
        raise


def _rename_without_replacing(partial: Path, target: Path) -> None:
    """os.replace, except that an existing ``target`` stays: a hard link fails if the name
    is taken, atomically; where links are not supported (FAT, some network shares) the
    check and the rename are two steps."""
    try:
        os.link(partial, target)
    except FileExistsError:
        kept = target.with_name(f"{target.stem}.vsrt-{uuid.uuid4().hex[:8]}{target.suffix}")
        os.replace(partial, kept)
        raise OutputError(
            f"{target} appeared while vsrt was writing it (another run?); it was left as it is,"
            f" and this run's output is {kept.name}"
        ) from None
    except OSError:
        if os.path.lexists(target):
            raise OutputError(f"{target} appeared while vsrt was writing it; rerun with -y to replace it") from None
        os.replace(partial, target)
        return
    partial.unlink()
