"""One increasing timeline for files whose timestamps restart part-way through.

MPEG transport and program streams are often joined with ``cat`` (camcorder segments,
a recording split by the tuner) or switch clocks mid-broadcast, and every piece then
restarts its clock. Muxers refuse timestamps that go back, and squeezing the later
piece in behind the earlier one would shorten the video. As FFmpeg's own command line
does for these formats, each piece is shifted to start where the previous one ended,
the same shift for every stream so that sound and picture stay in sync.

The plan is a pure function of the packets' timestamps (:func:`find_splices`); it is
made once per file by :func:`scan_splices` before anything is decoded, because the
video and the other streams are read by two demuxers, each ahead of the other at
times, and both must place a join at the same byte and shift it alike.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import av

from ._open import open_input

# A packet whose decode time is this much earlier (seconds) than its stream's previous
# one starts a new piece: within one stream decode times only go forward. FFmpeg's
# command line takes the same 0.1 s for these formats; slips smaller than that are
# left to the writer's own repair.
SPLICE_THRESHOLD = 0.1

_TS_DISCONTINUOUS = av.format.Flags.ts_discont.value


@dataclass(frozen=True)
class PacketStamp:
    """What the plan needs of one packet, times in seconds.

    Floats: exact to well under a microsecond over days, and a film has a million
    packets, which exact fractions would take seconds longer to scan.
    """

    stream: int
    position: int  # byte offset in the file; -1 when the demuxer does not know
    start: float  # decode time (presentation time for packets without one)
    end: float  # presentation time plus duration


@dataclass(frozen=True)
class Splice:
    position: int  # the first byte of the later piece
    shift: Fraction  # seconds added to every timestamp from that byte on


@dataclass(frozen=True)
class SplicePlan:
    splices: tuple[Splice, ...] = ()
    # Seconds from the first packet's start to the last one's end, once shifted.
    span: Fraction | None = None

    def __len__(self) -> int:
        return len(self.splices)

    @functools.cached_property
    def _positions(self) -> list[int]:
        return [s.position for s in self.splices]

    def shift_at(self, position: int) -> Fraction:
        """The shift of a packet that starts at byte ``position``."""
        index = bisect.bisect_right(self._positions, position)
        return self.splices[index - 1].shift if index else Fraction(0)


class _Piece:
    def __init__(self, stamp: PacketStamp):
        self.position = max(stamp.position, 0)
        self.start = stamp.start
        self.end = stamp.end

    def include(self, stamp: PacketStamp) -> None:
        self.start = min(self.start, stamp.start)
        self.end = max(self.end, stamp.end)


def find_splices(stamps: Iterable[PacketStamp]) -> SplicePlan:
    """Where the timeline restarts, and by how much each later piece must move.

    ``stamps`` come in file order. The stream that jumps back first opens a join at its
    packet's byte; each other stream that then jumps back moves the join to its own
    packet if that lies earlier (packets are read when complete, so a later-read one
    may start earlier in the file). Which piece a packet belongs to is decided by its
    byte, exactly as :meth:`SplicePlan.shift_at` will shift it.
    """
    pieces: list[_Piece] = []
    last_start: dict[int, float] = {}
    joined: set[int] = set()  # streams that have jumped back into the newest piece
    for stamp in stamps:
        previous = last_start.get(stamp.stream)
        last_start[stamp.stream] = stamp.start
        if not pieces:
            pieces.append(_Piece(stamp))
            continue
        newest = pieces[-1]
        jumped = previous is not None and stamp.start < previous - SPLICE_THRESHOLD and stamp.position >= 0
        if jumped and (len(pieces) == 1 or stamp.stream in joined):
            pieces.append(_Piece(stamp))
            joined = {stamp.stream}
        elif jumped:
            newest.position = min(newest.position, stamp.position)
            newest.include(stamp)
            joined.add(stamp.stream)
        elif len(pieces) > 1 and 0 <= stamp.position < newest.position:
            pieces[-2].include(stamp)
        else:
            newest.include(stamp)
    if not pieces:
        return SplicePlan()
    return _lay_end_to_end(pieces)


def _lay_end_to_end(pieces: list[_Piece]) -> SplicePlan:
    splices = []
    shift = 0.0
    end = pieces[0].end
    for piece in pieces[1:]:
        shift = max(shift, end - piece.start)
        splices.append(Splice(piece.position, _microseconds(shift)))
        end = max(end, piece.end + shift)
    return SplicePlan(tuple(splices), _microseconds(end - pieces[0].start))


def _microseconds(seconds: float) -> Fraction:
    # Exact enough for any stream's clock, and rid of the float noise of the scan, so
    # that a shift of whole seconds comes out as whole seconds.
    return Fraction(round(seconds * 1_000_000), 1_000_000)


def scan_splices(path) -> SplicePlan:
    """The plan for ``path``: empty unless its format lets timestamps restart (MPEG-TS/PS).

    Reads every packet once without decoding: for a broadcast recording that is a read
    of the file at disk speed, small beside upscaling it.
    """
    container = open_input(path)
    try:
        if not container.format.flags & _TS_DISCONTINUOUS:
            return SplicePlan()
        return find_splices(_stamps(container))
    finally:
        container.close()


def _stamps(container):
    # Seconds per tick, once per stream: a packet's time_base is a new Fraction per read.
    ticks = {s.index: float(s.time_base) for s in container.streams if s.time_base}
    try:
        for packet in container.demux():
            tick = ticks.get(packet.stream_index)
            stamp = packet_stamp(packet, tick) if tick else None
            if stamp is not None:
                yield stamp
    except (av.FFmpegError, OSError):
        # Damage at the end: the readers will stop there too.
        return


def packet_stamp(packet, tick: float) -> PacketStamp | None:
    """``packet`` seen by the plan; ``tick`` is its stream's time base as a float."""
    pts, dts = packet.pts, packet.dts
    first = dts if dts is not None else pts
    if first is None or not packet.size:
        return None
    shown = pts if pts is not None else first
    position = packet.pos
    return PacketStamp(
        stream=packet.stream_index,
        position=position if position is not None else -1,
        start=first * tick,
        end=(shown + max(packet.duration or 0, 0)) * tick,
    )


def splice_note(plan: SplicePlan) -> str | None:
    if not plan:
        return None
    times = "once" if len(plan) == 1 else f"{len(plan)} times"
    return f"the source's timestamps restart {times} (joined recordings); each piece was placed after the one before"


class PacketShifter:
    """Applies a plan to the packets one demuxer reads, in place, before they are used."""

    def __init__(self, plan: SplicePlan):
        self._plan = plan
        self._shift = Fraction(0)

    def shift(self, packet) -> None:
        if not self._plan:
            return
        if packet.pos is not None and packet.pos >= 0:
            self._shift = self._plan.shift_at(packet.pos)
        if not self._shift or not packet.time_base:
            return
        ticks = round(self._shift / packet.time_base)
        if packet.pts is not None:
            packet.pts += ticks
        if packet.dts is not None:
            packet.dts += ticks
