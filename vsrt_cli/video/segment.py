"""A part of a video: ``--start`` and ``--duration``, to try settings on a sample.

At about a frame per second on a CPU a film takes days, so the first run of a new
source is usually half a minute of it. Times count from the video's first frame, as a
player's position does. The part is cut by presentation time: a frame belongs to it
when its time is at or after the start and before the end; audio and subtitle packets
likewise, by the time they start. Everything kept is moved by the same amount, so that
the output starts at zero and stays in sync.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from ..errors import InputError, UsageError

_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")
_SECONDS = re.compile(r"^\d+(?:\.\d*)?$|^\.\d+$")


def parse_time(text: str, option: str = "--start") -> Fraction:
    """``90``, ``90.5``, ``1:30`` or ``1:02:03.25`` -> seconds, exactly."""
    value = str(text).strip()
    if _SECONDS.match(value):
        return Fraction(value)
    match = _CLOCK.match(value)
    if match:
        hours, minutes, seconds = match.groups()
        if Fraction(seconds) < 60 and (hours is None or int(minutes) < 60):
            return int(hours or 0) * 3600 + int(minutes) * 60 + Fraction(seconds)
    raise UsageError(f"{option} {text!r}: expected seconds (90.5) or [HH:]MM:SS[.fff] (1:30, 1:02:03.25)")


def format_time(seconds) -> str:
    """Seconds -> ``H:MM:SS.mmm``."""
    millis = round(Fraction(seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _seconds(value, option: str) -> Fraction:
    """A number of seconds, or a text as the command line takes it (``90.5``, ``1:30``)."""
    if isinstance(value, str):
        return parse_time(value, option)
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, Decimal)):
        raise UsageError(f"{option} {value!r}: expected a number of seconds")
    try:
        return Fraction(value) if isinstance(value, (numbers.Rational, Decimal)) else Fraction(float(value))
    except (ValueError, OverflowError):  # nan, inf
        raise UsageError(f"{option} {value}: expected a finite number of seconds") from None


@dataclass(frozen=True)
class Segment:
    """Seconds from the first video frame; ``duration`` None: to the end."""

    start: Fraction = Fraction(0)
    duration: Fraction | None = None

    def __post_init__(self):
        object.__setattr__(self, "start", _seconds(self.start, "--start"))
        if self.start < 0:
            raise UsageError(f"--start {float(self.start)}: must not be negative")
        if self.duration is not None:
            object.__setattr__(self, "duration", _seconds(self.duration, "--duration"))
            if self.duration <= 0:
                raise UsageError(f"--duration {float(self.duration)}: must be more than zero")

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.duration is None

    def describe(self) -> str:
        end = "the end" if self.duration is None else format_time(self.start + self.duration)
        return f"{format_time(self.start)} to {end}"

    def to_dict(self) -> dict:
        return {"start_s": float(self.start), "duration_s": None if self.duration is None else float(self.duration)}

    def clock(self, origin) -> "SegmentClock":
        """This part on a file's own clock, whose first video frame is at ``origin`` seconds."""
        begin = Fraction(origin) + self.start
        end = None if self.duration is None else begin + self.duration
        return SegmentClock(begin, end)


@dataclass(frozen=True)
class SegmentClock:
    """Where a part begins and ends on a file's clock (seconds), and the move to zero."""

    begin: Fraction
    end: Fraction | None

    def before(self, seconds) -> bool:
        return seconds < self.begin

    def after(self, seconds) -> bool:
        return self.end is not None and seconds >= self.end

    def ticks(self, time_base) -> int:
        """The move, in ``time_base`` ticks, that takes ``begin`` to zero (to subtract)."""
        return math.floor(self.begin / Fraction(time_base) + Fraction(1, 2))


def check_segment(source, duration_s: float | None, segment: Segment | None) -> None:
    """A part that starts past the end is the user's mistake, said before any decoding."""
    if segment is not None and duration_s is not None and segment.start >= duration_s:
        raise InputError(
            f"{source}: --start {format_time(segment.start)} is past the end of the video ({format_time(duration_s)})"
        )


def segment_frames(frames: int | None, duration_s: float | None, rate, segment: Segment) -> int | None:
    """How many frames a part holds, counted as for a constant rate from the first frame
    (exact for such video, an estimate otherwise): those at or after its start and before
    its end, of the ``frames`` (or ``duration_s`` x ``rate``) there are."""
    if segment.whole:
        return frames
    if not rate:
        return None
    rate = Fraction(rate)
    total = frames or (round(duration_s * rate) if duration_s else None)
    first = math.ceil(segment.start * rate)
    if segment.duration is None:
        return None if total is None else max(0, total - first)
    end = math.ceil((segment.start + segment.duration) * rate)
    return max(0, (end if total is None else min(end, total)) - first)


def chapters_within(chapters: list[dict], clock: SegmentClock) -> list[dict]:
    """The chapters that overlap a part, cut to it and moved as its streams are."""
    kept = []
    for chapter in chapters:
        time_base = Fraction(chapter["time_base"])
        start, end = chapter["start"] * time_base, chapter["end"] * time_base
        if end <= clock.begin or (clock.end is not None and start >= clock.end):
            continue
        start = max(start, clock.begin) - clock.begin
        end = (end if clock.end is None else min(end, clock.end)) - clock.begin
        kept.append({**chapter, "start": round(start / time_base), "end": round(end / time_base)})
    return kept
