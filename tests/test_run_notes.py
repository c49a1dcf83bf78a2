"""The notes a finished run gives, from what its parts saw (no video decoded here)."""

from types import SimpleNamespace

from vsrt_cli.inference.runner import InferenceStats
from vsrt_cli.pipeline.notes import journal_notes, memory_note, source_notes
from vsrt_cli.pipeline.resume import Journal, journal_path
from vsrt_cli.video.splice import SplicePlan


def decoded(**seen):
    """What a reader reports after a run: a clean progressive decode unless told otherwise."""
    info = SimpleNamespace(
        splices=SplicePlan(), width=320, height=240, frames_exact=True, n_frames=seen.pop("n_frames", 40)
    )
    clean = dict(
        deinterlace="auto", interlaced_frames=0, frames_read=40, refitted_frames=0, refitted_sizes=[],
        refit_bordered=False, decode_errors=0, corrupt_frames=0,
    )
    return SimpleNamespace(info=info, **{**clean, **seen})


def test_a_clean_decode_has_nothing_to_say():
    assert source_notes(decoded(), frames_written=40, whole=True) == []


def test_fewer_frames_than_the_container_lists_is_said_only_for_a_whole_source():
    (note,) = source_notes(decoded(n_frames=100), frames_written=40, whole=True)
    assert "lists 100 frames but only 40 could be decoded" in note
    # A part (--start/--duration) is meant to be shorter than the container.
    assert source_notes(decoded(n_frames=100), frames_written=40, whole=False) == []


def test_damage_and_interlacing_are_counted():
    notes = source_notes(
        decoded(decode_errors=3, corrupt_frames=2, interlaced_frames=40), frames_written=40, whole=True
    )
    assert any("3 damaged packet(s)" in note for note in notes)
    assert any("2 frame(s) decoded from damaged data" in note for note in notes)
    assert any("every frame is flagged interlaced" in note for note in notes)


def test_journal_notes(tmp_path):
    target = tmp_path / "out.mp4"
    assert journal_notes(None, 0, target) == []
    # A fresh journal: nothing to resume, nothing to say.
    assert journal_notes(Journal(target, {"source": "a"}), 0, target) == []

    journal_path(target).write_bytes(b'{"run": {"source": "b"}}\n')
    (left,) = journal_notes(None, 0, target)
    assert journal_path(target).name in left and "--resumable" in left
    (other,) = journal_notes(Journal(target, {"source": "a"}), 0, target)
    assert "another source or other settings" in other


def test_memory_note_only_after_running_out():
    assert memory_note(InferenceStats(device="cuda")) is None
    note = memory_note(InferenceStats(device="cuda", oom_retries=2, tile_batch=3))
    assert note == "ran out of cuda memory 2 time(s); continued with 3 tile(s) per step"
