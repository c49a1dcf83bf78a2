"""``--resumable``: a long run that is stopped goes on where it stopped.

At about a frame per second on a CPU a film takes days, and a reboot, a full disk or a
Ctrl-C would otherwise cost all of it. While it runs, every encoded video packet is
appended to a journal beside the target (``.NAME.vsrt-resume``). A later run with the same
source and settings copies the journal's packets up to its last keyframe into the new
output and upscales and encodes only from that frame on; the audio and other streams are
carried over from the source as in any run. The journal goes when the output is complete.

The journal: one JSON line (what the run was: source, settings), then one record per
packet: a fixed header (``_RECORD``), the packet's bytes and a CRC-32 of both. The journal
ends at the first record cut short or damaged (a crash, a power cut's zeros), and what
comes before it is used. Packets are read back one at a time, so memory does not grow
with the film.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from ..errors import OutputError, UsageError
from ..video import EncodeOptions
from ..video.numbering import is_picture_input, sequence_files
from .outputs import hidden_name

# pts, dts, duration (encoder time base), the frame's source pts, flags, payload size;
# then the payload, then the CRC-32 of header and payload
_RECORD = struct.Struct("<qqqqBI")
_CRC = struct.Struct("<I")
_HEADER_LIMIT = 1 << 20  # bytes of the JSON line; a longer one is not a journal
_KEY, _NO_PTS, _NO_DTS, _NO_SOURCE = 1, 2, 4, 8
FORMAT_VERSION = 1


def journal_path(target: Path) -> Path:
    return hidden_name(target, ".vsrt-resume")


def fingerprint(source: Path, settings: dict, frame_rate=None) -> dict:
    """What must match for a journal to be used: the very source file (for numbered
    pictures: all of them, and the rate they are read at), and every setting that changes
    the output's video."""
    if is_picture_input(source):
        # Every picture by name, file and time: two pictures swapped with `mv` keep their
        # sizes and times but change files, and would otherwise resume in the old order.
        digest = hashlib.sha256()
        stats = []
        for path in sequence_files(source):
            stat = path.stat()
            stats.append(stat)
            digest.update(f"{path.name}\0{stat.st_ino}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        size, mtime_ns = sum(s.st_size for s in stats), max(s.st_mtime_ns for s in stats)
        identity = {
            "pictures": len(stats), "pictures_sha256": digest.hexdigest(),
            "frame_rate": None if frame_rate is None else str(Fraction(frame_rate)),
        }
    else:
        stat = source.stat()
        size, mtime_ns, identity = stat.st_size, stat.st_mtime_ns, {}
    return {
        "version": FORMAT_VERSION,
        "source": str(source.resolve()),
        "size": size,
        "mtime_ns": mtime_ns,
        **identity,
        "settings": settings,
    }


@dataclass(frozen=True)
class Record:
    pts: int | None
    dts: int | None
    duration: int
    source_pts: int | None
    keyframe: bool
    offset: int  # of the packet's bytes in the journal


@dataclass(frozen=True)
class Resumption:
    """What an earlier run left: packets to copy, and the source frame to go on from."""

    frames: int  # packets (frames) to copy
    source_pts: int  # the first frame still to upscale, in the source's time base
    end: int  # where the copied packets end in the journal
    shown: tuple[int | None, ...] = ()  # the copied frames' source pts, in the order shown

    def window_start(self, stride: int, window: int) -> tuple[int | None, int]:
        """(source pts to decode from, frames to drop) so that the model's windows, which
        start every ``stride`` frames from the first, fall where an unbroken run's fell, and
        the first new frame has a window's worth of frames before it: overlapping windows
        (stride under ``window``) and bwdif's deinterlacing look back."""
        lead = min(self.frames % stride + stride * math.ceil(window / stride), self.frames)
        if lead == 0 or len(self.shown) != self.frames or self.shown[-lead] is None:
            return self.source_pts, 0
        return self.shown[-lead], lead


def resume_point(records: list[Record]) -> Resumption | None:
    """Everything before the last keyframe that splits the journal cleanly: every packet
    before it is shown before it, and every one after it later (an open group's leading
    pictures come after their keyframe but are shown before it: HEVC's CRA, say), and a
    packet shown after it has been written, so its leading pictures, if any, have too.
    The copied packets then hold whole groups of pictures, and encoding restarts at a
    frame a decoder can start at. None when there is no such keyframe past the first."""
    if any(record.pts is None for record in records):
        return None
    latest_before = []  # the latest pts among records[: i + 1]
    for record in records:
        latest_before.append(record.pts if not latest_before else max(latest_before[-1], record.pts))
    earliest_after = [None] * len(records)  # the earliest pts among records[i + 1:]
    for index in range(len(records) - 2, -1, -1):
        following = records[index + 1].pts
        earliest_after[index] = following if earliest_after[index + 1] is None else min(
            following, earliest_after[index + 1]
        )
    for index in range(len(records) - 2, 0, -1):
        key = records[index]
        if not key.keyframe or key.source_pts is None:
            continue
        if latest_before[index - 1] < key.pts < latest_before[-1] and earliest_after[index] > key.pts:
            shown = tuple(record.source_pts for record in sorted(records[:index], key=lambda r: r.pts))
            return Resumption(index, key.source_pts, key.offset - _RECORD.size, shown)
    return None


class Journal:
    """The journal of one target: what it can resume, and appending to it."""

    def __init__(self, target: Path, run: dict):
        """Reads what an earlier run left (``resumption``, or a ``note`` on why it is not
        used); nothing is written until :meth:`start`."""
        self.path = journal_path(target)
        self._header = json.dumps({"run": run}).encode() + b"\n"
        self.note: str | None = None
        self._start = len(self._header)  # where the records begin
        self._file = None
        records = self._records()
        self.resumption: Resumption | None = resume_point(records) if records else None
        if self.resumption is None and self.note is None and self.path.exists():
            self.note = (
                "the resume journal beside the output holds no keyframe to go on from (its run stopped"
                " within its first groups of pictures, or its encoder made open groups): the run starts over"
            )

    def start(self) -> None:
        """Keep what will be copied and append after it (or begin a new journal)."""
        try:
            if self.resumption is None:
                self._file = open(self.path, "wb")
                self._file.write(self._header)
                self._file.flush()  # a run killed before its first packet leaves a journal that says whose it is
                return
            self._file = open(self.path, "r+b")
            self._file.truncate(self.resumption.end)
            self._file.seek(self.resumption.end)
        except OSError as error:
            raise self._unwritable(error) from None

    def _unwritable(self, error: OSError) -> OutputError:
        return OutputError(f"{self.path}: cannot write the resume journal ({error.strerror or error})")

    def _records(self) -> list[Record]:
        try:
            with open(self.path, "rb") as journal:
                first_line = journal.readline(_HEADER_LIMIT)
                if not first_line:
                    self.note = (
                        "the resume journal beside the output is empty (its run was stopped before its"
                        " first frame was encoded): the run starts over"
                    )
                    return []
                if first_line != self._header:
                    self.note = (
                        "the resume journal beside the output is of another source or other settings:"
                        " the run starts over"
                    )
                    return []
                return list(_scan(journal))
        except FileNotFoundError:
            return []
        except OSError as error:
            reason = error.strerror or error
            self.note = f"the resume journal beside the output cannot be read ({reason}): the run starts over"
            return []

    def copied(self, time_base: Fraction) -> Iterator[tuple[av.Packet, int | None]]:
        """The packets to copy, one at a time, with their frames' source pts."""
        if self.resumption is None:
            return
        with open(self.path, "rb") as journal:
            journal.seek(self._start)
            for record in _scan(journal, with_data=True):
                if record[0].offset >= self.resumption.end:
                    return
                entry, data = record
                packet = av.Packet(data)
                packet.pts, packet.dts, packet.duration = entry.pts, entry.dts, entry.duration
                packet.time_base = time_base
                packet.is_keyframe = entry.keyframe
                yield packet, entry.source_pts

    def record(self, packet: av.Packet, source_pts: int | None) -> None:
        """Append one encoded packet (timestamps in the encoder's time base)."""
        pts, dts = packet.pts, packet.dts
        flags = (
            (_KEY if packet.is_keyframe else 0)
            | (_NO_PTS if pts is None else 0)
            | (_NO_DTS if dts is None else 0)
            | (_NO_SOURCE if source_pts is None else 0)
        )
        data = bytes(packet)
        header = _RECORD.pack(pts or 0, dts or 0, packet.duration or 0, source_pts or 0, flags, len(data))
        try:
            self._file.write(header)
            self._file.write(data)
            self._file.write(_CRC.pack(zlib.crc32(data, zlib.crc32(header))))
            # To the system at once (one call a frame, at a frame a second): a crash of vsrt
            # then loses nothing written, a power cut at most what the system had not stored.
            self._file.flush()
        except OSError as error:
            raise self._unwritable(error) from None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def remove(self) -> None:
        self.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


def check_resumable(resumable: bool, segment) -> None:
    if resumable and segment is not None and not segment.whole:
        raise UsageError("--resumable is for whole videos; a part (--start/--duration) is a short run")


def journal_for(
    target: Path, source: Path, model, inference, encode, size, deinterlace: str, frame_rate=None
) -> Journal:
    """The journal of ``target`` for a run of ``source`` with these settings."""
    return Journal(target, fingerprint(source, run_settings(model, inference, encode, size, deinterlace), frame_rate))


@contextlib.contextmanager
def kept_until_done(journal: Journal | None):
    """Around a run: its journal is removed when the output is complete, and kept (closed)
    when anything stops it, for the next run to go on from."""
    if journal is None:
        yield
        return
    try:
        yield
    except BaseException:
        journal.close()
        raise
    journal.remove()


def _scan(journal, with_data: bool = False):
    """Records from the file's position on, up to the first one cut short or damaged."""
    while True:
        header = journal.read(_RECORD.size)
        if len(header) < _RECORD.size:
            return
        pts, dts, duration, source_pts, flags, size = _RECORD.unpack(header)
        offset = journal.tell()
        if offset + size + _CRC.size > os.fstat(journal.fileno()).st_size:
            return  # cut short (or a damaged size: nothing is read that is not there)
        data = journal.read(size)
        (check,) = _CRC.unpack(journal.read(_CRC.size))
        if check != zlib.crc32(data, zlib.crc32(header)):
            return
        record = Record(
            None if flags & _NO_PTS else pts,
            None if flags & _NO_DTS else dts,
            duration,
            None if flags & _NO_SOURCE else source_pts,
            bool(flags & _KEY),
            offset,
        )
        yield (record, data) if with_data else record


def run_settings(model, inference, encode, size, deinterlace: str) -> dict:
    """The settings a resumed run must share with the one it continues: the weights and
    everything that shapes the video stream. Device, precision, threads and tile batch are
    left out, so a run stopped on one machine can go on on another (a GPU, say)."""
    encode = encode if encode is not None else EncodeOptions()
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return {
        "weights_sha256": digest.hexdigest(),
        "window_stride": inference.window_stride,
        "tile_overlap": inference.tile_overlap,
        "ensemble": inference.ensemble,
        "deinterlace": deinterlace,
        "size": [size.scale, size.height],
        "encode": {
            "codec": encode.codec, "crf": encode.crf, "preset": encode.preset, "pix_fmt": encode.pix_fmt,
            "options": {str(key): str(value) for key, value in sorted(encode.encoder_options.items())},
        },
    }
