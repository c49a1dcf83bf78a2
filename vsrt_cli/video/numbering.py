"""Numbered pictures' names, as FFmpeg's image2 reads and writes them (``frames/%06d.png``).

Pure functions of names and folder listings: which names are sequences, which files
belong to one, whether it has gaps. Used for picture outputs (image_sequence.py) and
picture inputs (film scans: ``scan/%06d.dpx``).
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path

from ..errors import InputError, InputNotFoundError, OutputError, UsageError

# %d, or %0Nd for N digits with leading zeros; %% is a literal %.
_NUMBER = re.compile(r"%(0[1-9]\d?)?d")
# Where a written sequence starts, as FFmpeg numbers it.
FIRST_NUMBER = 1
# The pictures vsrt writes (see image_sequence.py), and those it reads: FFmpeg decodes
# each of these to RGB (DPX: film scans).
WRITABLE_EXTENSIONS = (".png", ".tif", ".tiff")
READABLE_EXTENSIONS = (*WRITABLE_EXTENSIONS, ".dpx", ".jpg", ".jpeg", ".bmp")
# FFmpeg's image2 demuxer reads pictures at 25 a second unless told otherwise.
DEFAULT_INPUT_RATE = 25




def is_image_sequence(target: Path, extensions=WRITABLE_EXTENSIONS) -> bool:
    """Whether ``target`` names numbered pictures (``frames/%06d.png``) rather than a video:
    one frame number pattern and one of ``extensions`` (by default those vsrt writes)."""
    return target.suffix.lower() in extensions and len(_NUMBER.findall(target.name.replace("%%", ""))) == 1


def is_picture_input(source: Path) -> bool:
    """Whether ``source`` names numbered pictures that vsrt can read (``scan/%06d.dpx``)."""
    return is_image_sequence(Path(source), READABLE_EXTENSIONS)


def ffmpeg_pattern(target: Path) -> str:
    """``target`` as FFmpeg's image2 takes it: it reads % as a pattern anywhere in the
    path, so a % in a folder's name ('100%/', 'my%20dir/') is doubled to stay a %."""
    return os.path.join(str(target.parent).replace("%", "%%"), target.name)


def check_sequence_name(target: Path) -> None:
    """Refuse a picture name that would not number its frames (``out.png``, ``%d_%d.png``)."""
    if target.suffix.lower() in WRITABLE_EXTENSIONS and not is_image_sequence(target):
        example = target.with_name(f"{target.stem.replace('%', '')}_%06d{target.suffix}")
        raise UsageError(
            f"{target}: a video becomes one picture per frame, so the name needs one frame number"
            f" pattern, such as {example} (%06d: 6 digits)"
        )


def frame_path(target: Path, number: int) -> Path:
    """The file of frame ``number`` (from FIRST_NUMBER) of the sequence ``target``."""
    name = _NUMBER.sub(lambda match: f"%{match.group(1) or ''}d" % number, target.name.replace("%%", "\0"))
    return target.with_name(name.replace("\0", "%"))


def sequence_files(target: Path) -> list[Path]:
    """The files in ``target``'s folder that belong to its sequence, in frame order."""
    return [path for _, path in numbered_files(target)]


def numbered_files(target: Path) -> list[tuple[int, Path]]:
    """(frame number, file) of the files of ``target``'s sequence, in frame order."""
    folder = target.parent
    if not folder.is_dir():
        return []
    pattern = _name_pattern(target)
    found = [(int(m.group(1)), folder / name) for name in _names(folder) if (m := pattern.fullmatch(name))]
    return sorted(found)


def writes_any(target: Path, paths: list[Path]) -> bool:
    """Whether writing the sequence ``target`` could write any of ``paths`` (files of one
    folder, such as an input sequence)."""
    if not paths or paths[0].parent.resolve() != target.parent.resolve():
        return False
    pattern = _name_pattern(target)
    return any(pattern.fullmatch(path.name) for path in paths)


def _name_pattern(target: Path) -> re.Pattern:
    """The names ``target`` gives its frames, exactly as FFmpeg formats the numbers: %04d
    makes 0007 and 12345 but never 007 or 00012, %d makes 7 but never 0007. So ``f_%d.png``
    names f_1000.png, which ``f_%04d.png`` names too."""
    name = target.name.replace("%%", "\0")
    before, width, after = _NUMBER.split(name)
    digits = int(width) if width else 1
    number = "(0|[1-9]\\d*)" if digits == 1 else f"(\\d{{{digits}}}|[1-9]\\d{{{digits},}})"
    return re.compile(re.escape(before).replace("\0", "%") + number + re.escape(after).replace("\0", "%"))


_LAST_NUMBER = re.compile(r"(\d+)(\D*)$")


def suggest_pattern(folder: Path) -> Path | None:
    """A pattern for the numbered pictures in ``folder``, from the first one's name (its
    last run of digits as %0Nd, or %d where the numbers are not padded); None if it has
    none. For errors that can say what to type instead."""
    if not folder.is_dir():
        return None
    numbered = []
    for name in sorted(_names(folder)):
        stem, extension = os.path.splitext(name)
        match = _LAST_NUMBER.search(stem)
        if extension.lower() in READABLE_EXTENSIONS and match:
            numbered.append((stem[: match.start()], match.group(1), match.group(2) + extension))
    if not numbered:
        return None
    before, digits, after = numbered[0]
    lengths = {len(number) for b, number, a in numbered if (b, a) == (before, after)}
    padded = digits.startswith("0") or len(lengths) == 1
    number = f"%0{len(digits)}d" if padded and len(digits) > 1 else "%d"
    return folder / f"{before.replace('%', '%%')}{number}{after.replace('%', '%%')}"


def no_picture_matches(source: Path) -> str:
    """The message for a pattern that names no file, with the one that would."""
    suggestion = suggest_pattern(source.parent)
    hint = f"; the pictures there would be {suggestion}" if suggestion is not None else ""
    return f"input not found: no picture matches {source}{hint}"


def first_picture_number(source: Path) -> int:
    """The lowest frame number of an input sequence, from the folder's listing alone
    (for every open of it); InputError when it has none."""
    found = numbered_files(source)
    if not found:
        raise InputNotFoundError(no_picture_matches(source))
    return found[0][0]


def check_picture_input(source: Path) -> tuple[int, int]:
    """(first frame number, frames) of an input sequence, every picture looked at (once a
    run: a film is some 170,000 of them); InputError when it has no picture, an empty one,
    or a gap: FFmpeg would stop reading at either, silently."""
    found = numbered_files(source)
    if not found:
        raise InputNotFoundError(no_picture_matches(source))
    for _, path in found:
        # FFmpeg ends the sequence at an empty file, as at a gap, without a word.
        if not path.is_file() or path.stat().st_size == 0:
            raise InputError(f"{path}: {'empty' if path.is_file() else 'not a file'}; vsrt reads a sequence whole")
    first, last = found[0][0], found[-1][0]
    if last - first + 1 != len(found):
        numbers = {number for number, _ in found}
        missing = next(n for n in range(first, last + 1) if n not in numbers)
        raise InputError(
            f"{source}: picture {frame_path(source, missing).name} is missing ({len(found)} pictures"
            f" numbered {first} to {last}); vsrt reads a sequence without gaps"
        )
    return first, len(found)


DEFAULT_RATE_NOTE = (
    f"numbered pictures read at {DEFAULT_INPUT_RATE} a second, FFmpeg's default (--frame-rate sets another)"
)


_RATE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:\s*/\s*(\d+))?\s*$")


def parse_frame_rate(text: str) -> Fraction:
    """``24``, ``23.976`` or ``24000/1001`` -> frames a second, exactly. The decimal
    forms of the NTSC rates (23.976, 29.97, 59.94) mean n x 1000/1001, as they do in
    every editor, not the decimal itself."""
    match = _RATE.match(str(text))
    if not match or (match.group(2) is not None and int(match.group(2)) == 0):
        raise UsageError(f"--frame-rate {text}: not a rate; give frames a second: 24, 23.976 or 24000/1001")
    rate = Fraction(match.group(1)) / Fraction(match.group(2) or 1)
    ntsc = Fraction(round(rate * Fraction(1001, 1000)) * 1000, 1001)
    if rate.denominator != 1 and match.group(2) is None and abs(ntsc - rate) < Fraction(15, 10000):
        rate = ntsc
    check_frame_rate(rate, pictures=True)
    return rate


def check_frame_rate(frame_rate, pictures: bool) -> None:
    """A frame rate is for numbered pictures only, and must be a positive number."""
    if frame_rate is None:
        return
    if not pictures:
        raise UsageError("--frame-rate is for numbered-picture inputs (scan/%06d.dpx); a video keeps its own timing")
    if not 0 < Fraction(frame_rate) <= 1000:
        raise UsageError(f"--frame-rate must be above 0 and at most 1000 (got {frame_rate})")


def input_options(source: Path, frame_rate) -> dict[str, str]:
    """FFmpeg's image2 demuxer options for reading ``source`` at ``frame_rate``."""
    first = first_picture_number(source)
    rate = Fraction(frame_rate if frame_rate is not None else DEFAULT_INPUT_RATE)
    return {"framerate": f"{rate.numerator}/{rate.denominator}", "start_number": str(first)}


def _names(folder: Path) -> list[str]:
    try:
        return [entry.name for entry in folder.iterdir()]
    except OSError as error:
        raise OutputError(f"cannot list the folder {folder}: {error.strerror or error}") from None
