"""Failures reach the user as one-line vsrt errors, never as raw FFmpeg exceptions."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
import torch
import pytest

from media import make_video
from vsrt_cli.errors import CodecError, InputError, OutputError, UsageError
from vsrt_cli.video import EncodeOptions, VideoReader, VideoWriter, probe

FAST = EncodeOptions(preset="ultrafast")


def one_line(err) -> str:
    text = str(err.value)
    assert text and "\n" not in text
    return text


def truncate(src, dst, fraction: float):
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("video_err")


@pytest.fixture(scope="module")
def streamable_mp4(media_dir):
    return make_video(media_dir / "fs.mp4", frames=30, faststart=True, audio_tracks=1)


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as err:
        probe(tmp_path / "nope.mp4")
    assert "not found" in one_line(err)
    with pytest.raises(InputError):
        VideoReader(tmp_path / "nope.mp4")


def test_directory_as_input(tmp_path):
    with pytest.raises(InputError) as err:
        probe(tmp_path)
    assert "directory" in one_line(err)


def test_text_file_renamed_mp4(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError) as err:
        probe(fake)
    assert "not a readable video file" in one_line(err)


def test_audio_only_file(tmp_path):
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(InputError) as err:
        probe(path)
    assert "no video stream" in one_line(err)


def test_truncated_mp4_yields_frames_before_the_cut(media_dir, streamable_mp4):
    cut = truncate(streamable_mp4, media_dir / "half.mp4", 0.5)
    with VideoReader(cut) as reader:
        frames = list(reader)
    assert 3 <= len(frames) < 30
    assert [f.index for f in frames] == list(range(len(frames)))
    assert all(np.isfinite(f.rgb).all() for f in frames)


def test_truncated_mkv_yields_frames_before_the_cut(media_dir):
    src = make_video(media_dir / "cut.mkv", frames=30)
    cut = truncate(src, media_dir / "half.mkv", 0.5)
    with VideoReader(cut) as reader:
        count = sum(1 for _ in reader)
    assert 3 <= count < 30


def test_truncated_before_any_frame_raises(media_dir, streamable_mp4):
    cut = truncate(streamable_mp4, media_dir / "stub.mp4", 0.03)
    with pytest.raises(InputError) as err:
        with VideoReader(cut) as reader:
            list(reader)
    assert "no frame could be decoded" in one_line(err)


def test_mp4_cut_before_its_index_is_unreadable(media_dir):
    src = make_video(media_dir / "tail_index.mp4", frames=30)  # index written at the end
    cut = truncate(src, media_dir / "no_index.mp4", 0.5)
    with pytest.raises(InputError) as err:
        probe(cut)
    assert str(cut) in one_line(err)


def test_corrupted_middle_is_counted_not_raised(media_dir):
    # MP4 locates every packet from its index, so damage stays local to a few frames.
    src = make_video(media_dir / "clean.mp4", frames=30, audio_tracks=0, faststart=True)
    data = bytearray(src.read_bytes())
    start = len(data) // 2
    data[start:start + 2000] = np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    damaged = media_dir / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    with VideoReader(damaged) as reader:
        count = sum(1 for _ in reader)
    assert count >= 25
    assert reader.decode_errors + reader.corrupt_frames >= 1


def test_output_folder_missing(tmp_path, streamable_mp4):
    with pytest.raises(OutputError) as err:
        VideoWriter(tmp_path / "no" / "such" / "out.mp4", source=probe(streamable_mp4), width=64, height=64)
    assert "does not exist" in one_line(err)


def test_output_under_a_regular_file(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        VideoWriter(blocker / "out.mp4", width=64, height=64)


def test_an_output_folder_under_a_file_is_one_clear_error(tmp_path):
    from vsrt_cli.pipeline import atomic_output

    (tmp_path / "text.mp4").write_text("x")
    with pytest.raises(OutputError, match="cannot make the output folder .*sub: .*text.mp4 is a file"):
        with atomic_output(tmp_path / "text.mp4" / "sub" / "out.mp4"):
            pass


@pytest.mark.parametrize("stem", ["a" * 251, "\u00e9" * 125, "\u96fb\u5f71" * 41])
def test_a_target_name_at_the_limit_gets_a_temporary_name_within_it(tmp_path, stem):
    """Long titles (from downloaders, in any script) are legal names; their temporary must be too."""
    from vsrt_cli.pipeline import atomic_output

    target = tmp_path / f"{stem}.mp4"
    assert len(target.name.encode()) <= 255
    with atomic_output(target) as partial:
        assert len(partial.name.encode()) <= 255 and partial.suffix == ".mp4" and partial.name.startswith(".")
        partial.write_bytes(b"done")
    assert target.read_bytes() == b"done" and sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_a_file_that_appears_at_the_target_meanwhile_is_not_replaced_without_overwrite(tmp_path):
    from vsrt_cli.pipeline import atomic_output

    target = tmp_path / "out.mp4"
    with pytest.raises(OutputError, match="appeared while vsrt was writing it") as err:
        with atomic_output(target, overwrite=False) as partial:
            partial.write_bytes(b"vsrt's output")
            target.write_bytes(b"precious")  # another run, another program
    assert target.read_bytes() == b"precious"
    kept = [p for p in tmp_path.iterdir() if p != target]
    assert len(kept) == 1 and kept[0].read_bytes() == b"vsrt's output" and kept[0].name in one_line(err)
    with atomic_output(target, overwrite=True) as partial:  # -y: replaced, as asked
        partial.write_bytes(b"new")
    assert target.read_bytes() == b"new"


def test_a_failed_output_takes_its_new_folders_with_it_and_cleanup_never_hides_the_error(tmp_path, monkeypatch):
    from pathlib import Path

    from vsrt_cli.pipeline import atomic_output

    with pytest.raises(ValueError, match="the real error"):
        with atomic_output(tmp_path / "new" / "deeper" / "out.mp4") as partial:
            partial.write_bytes(b"half")
            raise ValueError("the real error")
    assert list(tmp_path.iterdir()) == []
    # On a read-only file system the partial file cannot be removed either; that must not
    # replace the error that stopped the run.
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: (_ for _ in ()).throw(OSError(30, "Read-only")))
    with pytest.raises(ValueError, match="the real error"):
        with atomic_output(tmp_path / "out.mp4"):
            raise ValueError("the real error")


def test_a_pipe_or_device_is_refused_before_anything_opens_it(tmp_path):
    from vsrt_cli.errors import UsageError
    from vsrt_cli.pipeline import plan_jobs

    fifo = tmp_path / "fifo.mp4"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file"):
        plan_jobs([fifo], tmp_path / "out.mp4")


def test_output_path_is_a_directory(tmp_path):
    target = tmp_path / "clip.mp4"
    target.mkdir()
    with pytest.raises(OutputError) as err:
        VideoWriter(target, width=64, height=64)
    assert "directory" in one_line(err)


def test_unknown_codec(tmp_path):
    with pytest.raises(CodecError) as err:
        VideoWriter(tmp_path / "out.mp4", width=64, height=64, options=EncodeOptions(codec="h267"))
    message = one_line(err)
    assert "h267" in message and "libx264" in message and "libx265" in message
    assert not (tmp_path / "out.mp4").exists()


def test_nvenc_without_its_gpu_says_what_it_needs(tmp_path):
    if "h264_nvenc" not in av.codecs_available:
        pytest.skip("this FFmpeg has no NVENC")
    target = tmp_path / "out.mp4"
    try:
        writer = VideoWriter(target, width=64, height=64, options=EncodeOptions(codec="h264_nvenc"))
    except CodecError as err:
        # Where there is no NVENC (CI, a CPU, an H200): one line that says why.
        message = str(err)
        assert "\n" not in message and message.startswith("cannot start the h264_nvenc encoder")
        assert "NVIDIA GPU" in message
        assert not target.exists()
        return
    writer.write(np.full((64, 64, 3), 0.5, np.float32))  # a machine with NVENC: it must work
    writer.close()
    with av.open(str(target)) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def test_unknown_extension(tmp_path):
    with pytest.raises(CodecError) as err:
        VideoWriter(tmp_path / "out.abc", width=64, height=64)
    assert ".mp4" in one_line(err)


def test_unknown_encoder_option(tmp_path):
    opts = EncodeOptions(preset="ultrafast", encoder_options={"no-such-option": "1"})
    with pytest.raises(UsageError) as err:  # a bad -e value: exit 2, as any bad option
        VideoWriter(tmp_path / "out.mkv", width=64, height=64, options=opts)
    assert "-e no-such-option: libx264 has no such option" in one_line(err)
    assert list(tmp_path.iterdir()) == []


def test_bad_encoder_option_value(tmp_path):
    opts = EncodeOptions(preset="ultrafast", encoder_options={"crf": "banana"})
    with pytest.raises(CodecError) as err:
        VideoWriter(tmp_path / "out.mkv", width=64, height=64, options=opts)
    assert "libx264" in one_line(err)


def test_exception_inside_writer_block_propagates_unchanged(tmp_path):
    dst = tmp_path / "partial.mkv"
    with pytest.raises(KeyError, match="boom"):
        with VideoWriter(dst, width=64, height=48, options=FAST, frame_rate=Fraction(24)) as writer:
            writer.write(np.zeros((48, 64, 3), np.float32))
            raise KeyError("boom")
    assert dst.exists()  # the writer never deletes or renames; that is the caller's job


def test_wrong_frame_shape_is_rejected(tmp_path):
    with VideoWriter(tmp_path / "x.mkv", width=64, height=48, options=FAST) as writer:
        with pytest.raises(ValueError, match="48x64x3"):
            writer.write(np.zeros((48, 32, 3), np.float32))
        writer.write(np.zeros((48, 64, 3), np.float32))
        # The pipeline hands over the model's [3, H, W] tensors as they are.
        assert writer.converts_tensors
        with pytest.raises(ValueError, match="3x48x64"):
            writer.write(torch.zeros(3, 48, 32))
        writer.write(torch.zeros(3, 48, 64))
