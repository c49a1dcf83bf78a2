"""Files whose timestamps restart (MPEG-TS pieces joined with ``cat``).

The plan is checked on hand-made packet stamps; the pipeline on a real joined file,
checked back with tests/media.py's own readers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np
import pytest

from media import audio_packets, make_video, read_frames, remux_later
from tiny_models import tiny_model
from vsrt_cli.pipeline import upscale_video
from vsrt_cli.video import EncodeOptions, VideoReader, VideoWriter, probe
from vsrt_cli.video.splice import (
    PacketShifter,
    PacketStamp,
    Splice,
    SplicePlan,
    find_splices,
    scan_splices,
)

F = Fraction


def stamp(stream, position, start, duration=F(1, 10)):
    return PacketStamp(stream, position, float(start), float(start + duration))


def two_streams(first_byte, start, seconds, step=F(1, 10)):
    """Interleaved video (0) and audio (1) stamps of one piece, 100 bytes apiece."""
    count = int(F(seconds) / step)
    return [
        stamp(kind, first_byte + 100 * (2 * i + kind), F(start) + i * step, step)
        for i in range(count)
        for kind in (0, 1)
    ]


def test_a_single_timeline_has_no_splices():
    plan = find_splices(two_streams(0, 0, 3))
    assert len(plan) == 0
    assert plan.span == 3
    assert plan.shift_at(10**9) == 0


def test_each_restart_continues_where_the_previous_piece_ended():
    # Three 2 s pieces, each restarting its clock at 1.4 s.
    stamps = two_streams(0, F(14, 10), 2) + two_streams(10_000, F(14, 10), 2) + two_streams(20_000, F(14, 10), 2)
    plan = find_splices(stamps)
    assert plan.splices == (Splice(10_000, F(2)), Splice(20_000, F(4)))
    assert plan.span == 6
    assert [plan.shift_at(b) for b in (0, 9_999, 10_000, 19_999, 20_000, 99_999)] == [0, 0, 2, 2, 4, 4]


def test_pieces_do_not_overlap_whichever_stream_ends_last():
    # The first piece's audio runs 0.5 s past its video: the second piece starts after both.
    first = two_streams(0, 0, 2) + [stamp(1, 5_000, F(2), F(1, 2))]
    plan = find_splices(first + two_streams(10_000, 0, 2))
    assert plan.splices == (Splice(10_000, F(5, 2)),)


def test_a_stream_read_later_but_starting_earlier_in_the_file_moves_the_join():
    # The video packet that reveals the restart starts at byte 10_050; an audio packet of
    # the new piece starting at byte 10_000 is only read after it (it completes later).
    stamps = two_streams(0, 10, 2) + [stamp(0, 10_050, 0), stamp(1, 10_000, 0), stamp(0, 10_150, F(1, 10))]
    plan = find_splices(stamps)
    assert plan.splices == (Splice(10_000, F(12)),)


def test_a_straggler_of_the_old_piece_counts_towards_its_end():
    # An audio packet of the first piece (byte 9_900) is read after the restart was seen.
    stamps = two_streams(0, 0, 2) + [stamp(0, 10_000, 0), stamp(1, 9_900, F(2), F(1)), stamp(1, 10_100, 0)]
    plan = find_splices(stamps)
    assert plan.splices == (Splice(10_000, F(3)),)


def test_small_slips_and_unknown_positions_are_not_joins():
    stamps = two_streams(0, 5, 1) + [stamp(0, 2_000, F(585, 100)), stamp(0, -1, 0), stamp(0, 2_200, F(6))]
    assert len(find_splices(stamps)) == 0


@dataclass
class FakePacket:
    pos: int | None
    pts: int | None
    dts: int | None
    time_base: Fraction = F(1, 90_000)


def test_shifter_moves_pts_and_dts_and_carries_the_shift_over_unknown_positions():
    shifter = PacketShifter(SplicePlan((Splice(1_000, F(2)),), F(4)))
    before, after, unknown, no_dts = FakePacket(10, 5, 4), FakePacket(1_000, 5, 4), FakePacket(-1, 7, 7), FakePacket(2_000, 9, None)
    for packet in (before, after, unknown, no_dts):
        shifter.shift(packet)
    assert (before.pts, before.dts) == (5, 4)
    assert (after.pts, after.dts) == (180_005, 180_004)
    assert (unknown.pts, unknown.dts) == (180_007, 180_007)
    assert (no_dts.pts, no_dts.dts) == (180_009, None)


@pytest.fixture(scope="module")
def joined_ts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("splice")
    piece = make_video(folder / "piece.ts", width=32, height=24, frames=24, audio_tracks=1)
    joined = folder / "joined.ts"
    joined.write_bytes(piece.read_bytes() * 2)
    return piece, joined


def test_joined_pieces_are_probed_at_their_full_length(joined_ts):
    piece, joined = joined_ts
    assert len(scan_splices(piece)) == 0
    plan = scan_splices(joined)
    assert len(plan) == 1
    size = piece.stat().st_size
    assert size <= plan.splices[0].position < size + 2_000
    info = probe(joined)
    assert info.duration_s == pytest.approx(2 * probe(piece).duration_s, abs=0.05)
    assert info.n_frames == pytest.approx(48, abs=1)


def nearest_4x(source, target, info=None):
    """Reader -> nearest-neighbour 4x -> writer; ``info`` overrides the source's probe."""
    with VideoReader(source) as reader:
        info = info or reader.info
        reader.info = info
        width, height = info.width * 4, info.height * 4
        with VideoWriter(target, source=info, width=width, height=height, options=EncodeOptions(preset="ultrafast")) as writer:
            for frame in reader:
                big = np.repeat(np.repeat(frame.rgb, 4, axis=0), 4, axis=1)
                writer.write(big, pts=frame.pts, duration=frame.duration)
    return info, writer


def test_joined_pieces_keep_every_frame_in_time_and_the_audio_with_them(joined_ts, tmp_path):
    piece, joined = joined_ts
    target = tmp_path / "joined_4x.mkv"
    info, writer = nearest_4x(joined, target)
    shift = info.splices.splices[0].shift
    one, out = read_frames(piece), read_frames(target)
    first = [p * one.time_base for p in one.pts]
    assert len(out.pts) == 48
    # Matroska keeps milliseconds.
    assert [p * out.time_base for p in out.pts] == [round(t, 3) for t in first + [t + shift for t in first]]
    assert not any("nudged" in note for note in writer.notes)
    # The audio is copied whole, in order, and moved by the same shift as the video.
    source_audio, output_audio = audio_packets(piece)[1], audio_packets(target)[1]
    # Matroska stores AAC without the 7-byte ADTS header each TS packet carries.
    assert [data for _, data in output_audio] == [data[7:] for _, data in source_audio] * 2
    half = len(source_audio)
    starts = [pts for pts, _ in output_audio]
    assert starts == sorted(starts)
    assert starts[half] - starts[0] == round(shift / F(1, 1000))  # Matroska's millisecond clock


def test_upscale_video_says_how_many_times_the_clock_restarted(joined_ts, tmp_path):
    _, joined = joined_ts
    result = upscale_video(joined, tmp_path / "out.mp4", tiny_model(), encode=EncodeOptions(preset="ultrafast"))
    assert result.frames == 48
    assert any("timestamps restart once" in note for note in result.notes)
    assert probe(tmp_path / "out.mp4").duration_s == pytest.approx(probe(joined).duration_s, abs=0.05)


@pytest.fixture
def overlapping_ts(joined_ts, tmp_path):
    """Two 1 s pieces, the second's clock restarting 0.3 s before the first's ends."""
    piece, _ = joined_ts
    overlapping = tmp_path / "overlap.ts"
    later = remux_later(piece, tmp_path / "later.ts", Fraction(7, 10))
    overlapping.write_bytes(piece.read_bytes() + later.read_bytes())
    return overlapping


def test_pieces_that_overlap_a_little_are_joined_too(overlapping_ts, tmp_path):
    info, writer = nearest_4x(overlapping_ts, tmp_path / "overlap_4x.mkv")
    assert len(info.splices) == 1
    frames = read_frames(tmp_path / "overlap_4x.mkv")
    assert len(frames.pts) == 48
    assert not any("nudged" in note or "skipped" in note for note in writer.notes)


def test_audio_that_steps_back_without_a_plan_loses_packets_not_the_file(joined_ts, overlapping_ts, tmp_path):
    piece, _ = joined_ts
    unplanned = replace(probe(overlapping_ts), splices=SplicePlan())
    _, writer = nearest_4x(overlapping_ts, tmp_path / "unplanned_4x.mkv", unplanned)
    assert any("timestamps went backwards were skipped" in note for note in writer.notes)
    assert len(audio_packets(tmp_path / "unplanned_4x.mkv")[1]) > len(audio_packets(piece)[1])
