"""Upscaling into numbered pictures (`-o frames/%06d.png`)."""

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cli_runner import run_cli
from media import make_video, read_frames
from tiny_models import tiny_model
from vsrt_cli import EncodeOptions, InferenceOptions, upscale_video
from vsrt_cli.errors import InputError, OutputError, UsageError
from vsrt_cli.inference import upscale_clip
from vsrt_cli.video import VideoReader, probe
from vsrt_cli.video.numbering import (
    check_picture_input, check_sequence_name, frame_path, is_image_sequence, parse_frame_rate, sequence_files,
)
from vsrt_cli.weights.checkpoint import save_checkpoint

CPU = InferenceOptions(device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def weights(tmp_path_factory, model):
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_checkpoint(model, path)
    return path


def pictures(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def decode_picture(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb48le" if frame.format.name.startswith("rgb48") else "rgb24")


# -- names -------------------------------------------------------------------------


@pytest.mark.parametrize("name,expected", [
    ("f_%06d.png", True), ("%d.tif", True), ("shot%03d.TIFF", True), ("100%%_%04d.png", True),
    ("f.png", False), ("f_%06d.mp4", False), ("a%d_%d.png", False), ("100%%.png", False),
])
def test_a_sequence_is_a_picture_name_with_one_frame_number(name, expected):
    assert is_image_sequence(Path(name)) is expected


def test_frame_names_follow_ffmpeg():
    assert frame_path(Path("out/f_%04d.png"), 7) == Path("out/f_0007.png")
    assert frame_path(Path("out/f_%04d.png"), 12345) == Path("out/f_12345.png")  # outgrows its digits
    assert frame_path(Path("100%%_%d.tif"), 3) == Path("100%_3.tif")


def test_sequence_files_are_in_frame_order_and_only_the_sequence(tmp_path):
    names = ("f_0010.png", "f_0002.png", "f_10000.png", "f_002.png", "f_010000.png", "g_0001.png", "f_0001.tif",
             "f_0001.png", "f_7.png", "f_12.png")
    for name in names:
        (tmp_path / name).write_bytes(b"")
    # Exactly the names FFmpeg would give: %04d pads to 4 digits and no further.
    found = [path.name for path in sequence_files(tmp_path / "f_%04d.png")]
    assert found == ["f_0001.png", "f_0002.png", "f_0010.png", "f_10000.png"]
    assert [path.name for path in sequence_files(tmp_path / "f_%d.png")] == ["f_7.png", "f_12.png", "f_10000.png"]
    assert sequence_files(tmp_path / "missing" / "f_%04d.png") == []


def test_a_picture_name_without_a_frame_number_is_refused_with_an_example():
    with pytest.raises(UsageError, match=r"frame number pattern, such as out_%06d\.png"):
        check_sequence_name(Path("out.png"))
    check_sequence_name(Path("out.mp4"))  # not pictures: not this check's business


# -- runs --------------------------------------------------------------------------


def test_the_pictures_are_the_upscaled_frames_exactly(tmp_path, model):
    """One lossless picture per frame, numbered from 1, equal to the model's output
    rounded to 8 bits; the audio is not kept and a note says so."""
    source = make_video(tmp_path / "in.mp4", width=24, height=16, frames=7, audio_tracks=1)
    target = tmp_path / "frames" / "f_%03d.png"
    result = upscale_video(source, target, model, inference=CPU)
    assert result.status == "ok" and result.frames == 7
    assert pictures(tmp_path / "frames") == [f"f_{n:03d}.png" for n in range(1, 8)]
    assert any("1 audio stream(s) of the source not kept" in note for note in result.notes)

    with VideoReader(source) as reader:
        expected = upscale_clip(model, [frame.rgb for frame in reader], CPU)
    for number, frame in enumerate(expected, start=1):
        picture = decode_picture(frame_path(target, number))
        assert picture.shape == (64, 96, 3) and picture.dtype == np.uint8
        assert np.array_equal(picture, np.rint(np.clip(frame, 0, 1) * 255).astype(np.uint8))


def test_a_10_bit_source_gives_16_bit_pictures(tmp_path, model):
    source = make_video(tmp_path / "in.mkv", width=16, height=16, frames=3, bit_depth=10, audio_tracks=0)
    target = tmp_path / "f_%d.tif"
    result = upscale_video(source, target, model, inference=CPU)
    assert pictures(tmp_path) == ["f_1.tif", "f_2.tif", "f_3.tif", "in.mkv"]
    picture = decode_picture(tmp_path / "f_2.tif")
    assert picture.dtype == np.uint16 and picture.shape == (64, 64, 3)
    assert np.any(picture % 257 != 0)  # real 16-bit codes, not 8-bit ones scaled
    assert any("10-bit source: written as 16-bit pictures" in note for note in result.notes)


def test_existing_pictures_are_kept_unless_overwrite_and_then_all_replaced(tmp_path, model):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=3, audio_tracks=0)
    folder = tmp_path / "out"
    folder.mkdir()
    for number in range(1, 6):  # an earlier, longer run's pictures
        (folder / f"f_{number:02d}.png").write_bytes(b"old")
    (folder / "notes.txt").write_text("mine")
    target = folder / "f_%02d.png"
    with pytest.raises(OutputError, match="5 picture"):
        upscale_video(source, target, model, inference=CPU)
    assert (folder / "f_01.png").read_bytes() == b"old"

    upscale_video(source, target, model, inference=CPU, overwrite=True)
    # Frames 4 and 5 of the old run would have followed the new ones: gone too.
    assert pictures(folder) == ["f_01.png", "f_02.png", "f_03.png", "notes.txt"]
    assert (folder / "f_01.png").read_bytes() != b"old"


def test_an_interrupted_run_leaves_no_picture_and_no_folder_behind(tmp_path, model):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=6, audio_tracks=0)
    target = tmp_path / "new" / "deeper" / "f_%04d.png"

    def interrupt(progress):
        if progress.frames_done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upscale_video(source, target, model, inference=CPU, progress=interrupt)
    assert not (tmp_path / "new").exists()


# -- the command line ----------------------------------------------------------------


def test_cli_writes_a_sequence_and_skips_it_when_it_exists(tmp_path, weights, capsys):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=4)
    target = tmp_path / "out" / "%06d.png"
    code, out, err = run_cli(["upscale", source, "-o", target, "--weights", weights, "--device", "cpu", "-q"], capsys)
    assert code == 0 and pictures(tmp_path / "out") == [f"{n:06d}.png" for n in range(1, 5)]
    code, out, err = run_cli(
        ["upscale", source, "-o", target, "--weights", weights, "--skip-existing", "--json"], capsys
    )
    assert code == 0 and '"status": "skipped"' in out


def test_cli_dry_run_names_the_picture_encoder(tmp_path, weights, capsys):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=4, audio_tracks=1)
    code, out, err = run_cli(
        ["upscale", source, "-o", tmp_path / "f_%04d.tif", "--weights", weights, "--dry-run"], capsys
    )
    assert code == 0, err
    assert "output: tiff rgb24 (compression_algo=deflate)" in out and "not kept" in out
    assert pictures(tmp_path) == ["in.mp4"]


@pytest.mark.parametrize("args,message", [
    (["-o", "{tmp}/out.png"], "needs one frame number pattern"),
    (["-o", "{tmp}/f_%04d.png", "--codec", "libx264"], "--codec: for video outputs"),
    (["-o", "{tmp}/f_%04d.png", "-e", "tune=film"], "-e: for video outputs"),
    (["-o", "{tmp}/f_%04d.png", "--resumable"], "--resumable is for video outputs"),
    (["-o", "{tmp}/f_%04d.png", "--crf", "18"], "--crf: for video outputs"),  # typed, though the default
    (["-o", "{tmp}/f_%04d.png", "--preset", "medium"], "--preset: for video outputs"),
    (["{src}", "-o", "{tmp}/f_%04d.png"], "the output of one input video"),
])
def test_cli_refuses_what_a_sequence_cannot_do(tmp_path, weights, capsys, args, message):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2)
    filled = [arg.format(tmp=tmp_path, src=source) for arg in args]
    code, out, err = run_cli(["upscale", source, *filled, "--weights", weights], capsys)
    assert code == 2, err
    (line,) = err.splitlines()
    assert line.startswith("vsrt: error: ") and message in line
    assert pictures(tmp_path) == ["in.mp4"]


# -- numbered pictures as input ------------------------------------------------------


def write_pictures(folder: Path, count: int, first: int = 1, size=(20, 12), extension=".png", seed=0) -> Path:
    """Numbered noise pictures, as a scanner or another tool writes them; returns the pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    pattern = folder / f"scan_%04d{extension}"
    rng = np.random.default_rng(seed)
    with av.open(str(pattern), "w", format="image2", options={"start_number": str(first)}) as container:
        stream = container.add_stream("png" if extension == ".png" else "tiff", rate=25)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "rgb24"
        for _ in range(count):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))
    return pattern


@pytest.mark.parametrize("text,rate", [
    ("24", Fraction(24)), ("25", Fraction(25)), ("12.5", Fraction(25, 2)), ("24000/1001", Fraction(24000, 1001)),
    ("23.976", Fraction(24000, 1001)), ("29.97", Fraction(30000, 1001)), ("59.94", Fraction(60000, 1001)),
])
def test_frame_rates_are_exact_and_ntsc_decimals_mean_1000_over_1001(text, rate):
    assert parse_frame_rate(text) == rate


@pytest.mark.parametrize("text", ["0", "-24", "abc", "24/0", "1001"])
def test_a_bad_frame_rate_is_a_usage_error(text):
    with pytest.raises(UsageError, match="--frame-rate"):
        parse_frame_rate(text)


def test_a_sequence_is_read_from_its_first_number_and_a_gap_is_an_error(tmp_path):
    pattern = write_pictures(tmp_path, 4, first=86400)  # film scans often start at a timecode's frame
    assert check_picture_input(pattern) == (86400, 4)
    info = probe(pattern, Fraction(24))
    assert (info.n_frames, info.frames_exact, info.average_rate, info.width, info.height) == (4, True, 24, 20, 12)
    frame_path(pattern, 86402).unlink()
    with pytest.raises(InputError, match="scan_86402.png is missing"):
        check_picture_input(pattern)


def test_pictures_become_a_video_at_the_rate_given(tmp_path, model):
    pattern = write_pictures(tmp_path / "reel", 6, first=1001)
    target = tmp_path / "reel.mp4"
    result = upscale_video(pattern, target, model, inference=CPU, frame_rate=Fraction(24000, 1001))
    assert result.frames == 6 and (result.width, result.height) == (80, 48)
    assert not any("25 a second" in note for note in result.notes)
    decoded = read_frames(target)
    assert [p * decoded.time_base for p in decoded.pts] == [Fraction(1001 * n, 24000) for n in range(6)]
    with av.open(str(target)) as container:
        stream = container.streams.video[0]
        # RGB has no YUV range to keep: limited range, as players expect.
        assert stream.codec_context.color_range == 1 and stream.codec_context.colorspace == 1  # tv, BT.709
        assert [s.type for s in container.streams] == ["video"]


def test_pictures_upscale_to_pictures_exactly(tmp_path, model):
    pattern = write_pictures(tmp_path / "in", 5)
    target = tmp_path / "out" / "up_%04d.png"
    result = upscale_video(pattern, target, model, inference=CPU)
    assert any("read at 25 a second" in note for note in result.notes)
    originals = [decode_picture(path).astype(np.float32) / 255 for path in sequence_files(pattern)]
    expected = upscale_clip(model, originals, CPU)
    for number, frame in enumerate(expected, start=1):
        assert np.array_equal(decode_picture(frame_path(target, number)), np.rint(np.clip(frame, 0, 1) * 255))


def test_an_output_sequence_never_replaces_the_input_pictures(tmp_path, model):
    pattern = write_pictures(tmp_path, 3, first=999)  # scan_0999.png to scan_1001.png
    before = [path.read_bytes() for path in sequence_files(pattern)]
    # scan_%d.png names scan_1000.png too (frame 1000 of a longer run): refused, -y or not.
    for target in (pattern, tmp_path / "scan_%d.png"):
        with pytest.raises(OutputError, match="refusing to write over the input"):
            upscale_video(pattern, target, model, inference=CPU, overwrite=True)
    assert [path.read_bytes() for path in sequence_files(pattern)] == before
    # Names the input cannot have are fine, in the same folder.
    upscale_video(pattern, tmp_path / "up_%d.png", model, inference=CPU)
    assert [path.read_bytes() for path in sequence_files(pattern)] == before
    assert [path.name for path in sequence_files(tmp_path / "up_%d.png")] == ["up_1.png", "up_2.png", "up_3.png"]


def test_a_resume_journal_is_of_these_pictures_at_this_rate(tmp_path):
    from vsrt_cli.pipeline.resume import fingerprint

    pattern = write_pictures(tmp_path, 3)
    first = fingerprint(pattern, {}, Fraction(24))
    assert fingerprint(pattern, {}, Fraction(24)) == first
    assert fingerprint(pattern, {}, Fraction(25)) != first
    write_pictures(tmp_path, 4)  # one more picture, the others rewritten
    assert fingerprint(pattern, {}, Fraction(24)) != first
    # Two pictures swapped: the same names, sizes and times, in another order.
    before = fingerprint(pattern, {}, Fraction(24))
    second, third = frame_path(pattern, 2), frame_path(pattern, 3)
    second.rename(tmp_path / "swap")
    third.rename(second)
    (tmp_path / "swap").rename(third)
    assert fingerprint(pattern, {}, Fraction(24)) != before


def test_cli_reads_pictures_into_a_folder_and_explains_a_folder_of_pictures(tmp_path, weights, capsys):
    pattern = write_pictures(tmp_path / "reel1", 3)
    code, out, err = run_cli(
        ["upscale", pattern, "-o", tmp_path / "out", "--frame-rate", "24", "--weights", weights, "--json"], capsys
    )
    assert code == 0, err
    assert json.loads(out)["output"] == str(tmp_path / "out" / "reel1.mp4") and (tmp_path / "out" / "reel1.mp4").is_file()

    code, out, err = run_cli(["upscale", tmp_path / "reel1", "-o", tmp_path / "o", "--weights", weights], capsys)
    assert code == 2 and "give a pattern" in err

    code, out, err = run_cli(["upscale", tmp_path / "reel1" / "x_%04d.png", "-o", tmp_path / "o.mp4"], capsys)
    assert code == 2 and "no picture matches" in err


def test_cli_frame_rate_is_refused_for_videos(tmp_path, weights, capsys):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2)
    code, out, err = run_cli(
        ["upscale", source, "-o", tmp_path / "o.mp4", "--frame-rate", "24", "--weights", weights], capsys
    )
    assert code == 2 and "--frame-rate is for numbered-picture inputs" in err


def test_cli_dry_run_of_pictures(tmp_path, weights, capsys):
    pattern = write_pictures(tmp_path / "reel", 7)
    code, out, err = run_cli(
        ["upscale", pattern, "-o", tmp_path / "o.mkv", "--weights", weights, "--dry-run", "--json"], capsys
    )
    plan = json.loads(out)
    assert code == 0 and plan["frames"] == 7 and plan["frames_exact"] is True
    assert plan["notes"][0].startswith("numbered pictures read at 25 a second")


# -- what QA found ---------------------------------------------------------------------


def test_tiff_and_bmp_pictures_are_read_as_rgb(tmp_path, model):
    """FFmpeg 8 gives TIFF pictures EXIF side data, a type PyAV 18 cannot name; BMP's
    decoder does not tag its pictures RGB. Both become limited-range BT.709 video."""
    for extension in (".tif", ".bmp"):
        pattern = tmp_path / f"in{extension[1:]}" / f"scan_%04d{extension}"
        pattern.parent.mkdir()
        with av.open(str(pattern), "w", format="image2", options={"start_number": "1"}) as container:
            stream = container.add_stream(extension[1:].replace("tif", "tiff"), rate=25)
            stream.width, stream.height, stream.pix_fmt = 20, 12, "rgb24" if extension == ".tif" else "bgr24"
            for seed in range(3):
                pixels = np.random.default_rng(seed).integers(0, 256, (12, 20, 3), dtype=np.uint8)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
            container.mux(stream.encode(None))
        target = tmp_path / f"{extension[1:]}.mkv"
        assert upscale_video(pattern, target, model, inference=CPU).frames == 3
        with av.open(str(target)) as container:
            context = container.streams.video[0].codec_context
            assert (context.colorspace, context.color_range) == (1, 1), extension  # BT.709, limited


def test_an_empty_or_damaged_picture_stops_the_run_naming_it(tmp_path, model):
    pattern = write_pictures(tmp_path / "in", 6)
    target = tmp_path / "out.mkv"
    frame_path(pattern, 4).write_bytes(b"")
    with pytest.raises(InputError, match="scan_0004.png: empty"):
        upscale_video(pattern, target, model, inference=CPU)
    damaged = frame_path(pattern, 5).read_bytes()
    write_pictures(tmp_path / "in", 6)
    frame_path(pattern, 5).write_bytes(damaged[: len(damaged) // 2])
    with pytest.raises(InputError, match="scan_0005.png does not decode"):
        upscale_video(pattern, target, model, inference=CPU)
    assert not target.exists()


def test_overwriting_one_sequence_leaves_another_alone(tmp_path, model):
    """shot_%04d.png does not name shot_000001.png: -y replaces only its own pictures."""
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2, audio_tracks=0)
    upscale_video(source, tmp_path / "p" / "shot_%06d.png", model, inference=CPU)
    upscale_video(source, tmp_path / "p" / "shot_%04d.png", model, inference=CPU, overwrite=True)
    assert pictures(tmp_path / "p") == ["shot_000001.png", "shot_000002.png", "shot_0001.png", "shot_0002.png"]


def test_a_move_that_fails_puts_the_earlier_sequence_back(tmp_path, model, monkeypatch):
    import os

    from vsrt_cli.pipeline import outputs

    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=3, audio_tracks=0)
    target = tmp_path / "out" / "f_%02d.png"
    (tmp_path / "out").mkdir()
    for number in range(1, 9):
        (tmp_path / "out" / f"f_{number:02d}.png").write_bytes(b"old %d" % number)
    real_replace = os.replace

    def interrupted_after(count):
        moves = []

        def replace(src, dst):
            # The Ctrl-C lands as a rename returns, before vsrt's next line: the move is made.
            real_replace(src, dst)
            moves.append(dst)
            if len(moves) == count:
                raise KeyboardInterrupt
        return replace

    for count in (3, 9, 10, 11):  # setting the old ones aside; the first new one in; later
        monkeypatch.setattr(outputs.os, "replace", interrupted_after(count))
        with pytest.raises(KeyboardInterrupt):
            upscale_video(source, target, model, inference=CPU, overwrite=True)
        assert pictures(tmp_path / "out") == [f"f_{n:02d}.png" for n in range(1, 9)], count
        assert [frame_path(target, n).read_bytes() for n in range(1, 9)] == [b"old %d" % n for n in range(1, 9)]
    # With no earlier sequence, nothing is left: no picture, no folder made for them.
    monkeypatch.setattr(outputs.os, "replace", interrupted_after(2))
    with pytest.raises(KeyboardInterrupt):
        upscale_video(source, tmp_path / "new" / "f_%02d.png", model, inference=CPU)
    assert not (tmp_path / "new").exists()


def test_a_folder_named_like_a_picture_is_never_replaced(tmp_path, model):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=3, audio_tracks=0)
    (tmp_path / "out" / "0002.png").mkdir(parents=True)
    (tmp_path / "out" / "0002.png" / "keep.txt").write_text("precious")
    with pytest.raises(OutputError, match="0002.png is a folder"):
        upscale_video(source, tmp_path / "out" / "%04d.png", model, inference=CPU, overwrite=True)
    assert (tmp_path / "out" / "0002.png" / "keep.txt").read_text() == "precious"


def test_a_name_too_long_for_a_journal_still_finishes(tmp_path, model):
    """The journal's name is 13 bytes longer than the output's: looking for one must not fail."""
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2, audio_tracks=0)
    target = tmp_path / ("v" * 250 + ".mp4")
    assert upscale_video(source, target, model, inference=CPU).status == "ok" and target.is_file()


def test_a_truncated_jpeg_is_refused_and_alpha_dropped_is_said(tmp_path, model):
    pattern = tmp_path / "j" / "f_%02d.jpg"
    pattern.parent.mkdir()
    with av.open(str(pattern), "w", format="image2", options={"start_number": "1"}) as container:
        stream = container.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        for seed in range(3):
            pixels = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))
    whole = frame_path(pattern, 2).read_bytes()
    frame_path(pattern, 2).write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match="f_02.jpg does not decode"):
        upscale_video(pattern, tmp_path / "j.mkv", model, inference=CPU)

    rgba = tmp_path / "a" / "f_%02d.png"
    rgba.parent.mkdir()
    with av.open(str(rgba), "w", format="image2", options={"start_number": "1"}) as container:
        stream = container.add_stream("png", rate=25)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "rgba"
        container.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((16, 16, 4), 200, np.uint8), format="rgba")))
        container.mux(stream.encode(None))
    result = upscale_video(rgba, tmp_path / "out" / "f_%02d.png", model, inference=CPU)
    assert any("alpha channel) is not kept" in note for note in result.notes)


def test_a_percent_sign_in_a_folder_name_is_a_character(tmp_path, model):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2, audio_tracks=0)
    target = tmp_path / "100% done" / "x_%03d.png"
    upscale_video(source, target, model, inference=CPU)
    assert pictures(tmp_path / "100% done") == ["x_001.png", "x_002.png"]
    assert upscale_video(target, tmp_path / "again.mp4", model, inference=CPU).frames == 2


def test_a_pattern_that_names_nothing_suggests_the_one_that_would(tmp_path, weights, capsys):
    pattern = write_pictures(tmp_path / "reel", 2)  # scan_0001.png, scan_0002.png
    code, out, err = run_cli(["upscale", tmp_path / "reel" / "scan_%d.png", "-o", tmp_path / "o.mp4"], capsys)
    assert code == 2 and f"the pictures there would be {pattern}" in err
    code, out, err = run_cli(["upscale", tmp_path / "reel", "-o", tmp_path / "o"], capsys)
    assert code == 2 and f"give a pattern: '{pattern}'" in err


def test_crf_and_preset_are_refused_for_pictures_and_rates_read_as_on_the_command_line(tmp_path, model):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2, audio_tracks=0)
    for encode in (EncodeOptions(crf=20), EncodeOptions(preset="slow")):
        with pytest.raises(UsageError, match="for video outputs"):
            upscale_video(source, tmp_path / "f_%d.png", model, inference=CPU, encode=encode)
    pattern = write_pictures(tmp_path / "reel", 2)
    upscale_video(pattern, tmp_path / "ntsc.mp4", model, inference=CPU, frame_rate=23.976)
    with av.open(str(tmp_path / "ntsc.mp4")) as container:
        assert container.streams.video[0].average_rate == Fraction(24000, 1001)
    with pytest.raises(UsageError, match="--frame-rate abc"):
        upscale_video(pattern, tmp_path / "bad.mp4", model, inference=CPU, frame_rate="abc")
