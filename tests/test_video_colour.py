"""Colour accuracy through real (lossless) encodes, per matrix and range.

Patches of known colour go in and must come back within a couple of 8-bit codes, both
through our own reader and through FFmpeg's swscale reading the tags we wrote; that
catches a wrong matrix, a wrong range or a wrong tag independently of each other.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
import pytest

from media import make_video, read_frames
from tiny_models import tiny_model
from vsrt_cli.pipeline import upscale_video
from vsrt_cli.video import EncodeOptions, VideoReader, VideoWriter, probe

LOSSLESS = EncodeOptions(preset="ultrafast", crf=0)
PATCH = 16
COLOURS = np.array(
    [
        [0.8, 0.1, 0.1], [0.1, 0.7, 0.2], [0.15, 0.2, 0.85], [0.9, 0.85, 0.2],
        [0.2, 0.8, 0.8], [0.75, 0.2, 0.7], [0.5, 0.5, 0.5], [0.95, 0.95, 0.95],
    ],
    np.float32,
)
# FFmpeg colourspace / range codes expected in the output for each case.
CASES = {
    ("bt601", False): (6, 1),
    ("bt709", False): (1, 1),
    ("bt2020", False): (9, 1),
    ("bt601", True): (6, 2),
    ("bt709", True): (1, 2),
}


def patches(width: int = 4 * PATCH, height: int = 2 * PATCH, index: int = 0) -> np.ndarray:
    """Eight flat colour blocks, 16x16 each, so 4:2:0 chroma is flat inside them."""
    image = np.empty((height, width, 3), np.float32)
    for k, colour in enumerate(COLOURS):
        row, col = divmod(k, 4)
        image[row * PATCH:(row + 1) * PATCH, col * PATCH:(col + 1) * PATCH] = colour
    return image


def patch_centres(rgb: np.ndarray, scale: int = 1) -> np.ndarray:
    """Mean colour of each patch's interior (away from the chroma-blurred borders)."""
    size, margin = PATCH * scale, 4 * scale
    means = []
    for k in range(len(COLOURS)):
        row, col = divmod(k, 4)
        block = rgb[row * size + margin:(row + 1) * size - margin, col * size + margin:(col + 1) * size - margin]
        means.append(block.reshape(-1, 3).mean(axis=0))
    return np.array(means)


@pytest.mark.parametrize("matrix, full_range", list(CASES))
def test_reader_decodes_each_matrix_exactly(tmp_path, matrix, full_range):
    src = make_video(tmp_path / "src.mkv", width=64, height=32, frames=2, colour=matrix, full_range=full_range,
                     content=patches, crf=0, audio_tracks=0)
    with VideoReader(src) as reader:
        assert reader.info.colour.matrix_used == matrix and reader.info.colour.full_range == full_range
        rgb = next(iter(reader)).rgb
    # The source was made by swscale, whose full-range chroma is up to 1.25 codes off;
    # a wrong matrix or range would be off by 10/255 or more.
    assert np.abs(patch_centres(rgb) - COLOURS).max() < 2.5 / 255


@pytest.mark.parametrize("matrix, full_range", list(CASES))
def test_writer_encodes_and_tags_each_matrix(tmp_path, matrix, full_range):
    src = make_video(tmp_path / "src.mkv", width=64, height=32, frames=2, colour=matrix, full_range=full_range,
                     content=patches, crf=0, audio_tracks=0)
    dst = tmp_path / "out.mkv"
    big = np.repeat(np.repeat(patches(), 2, axis=0), 2, axis=1)
    with VideoWriter(dst, source=probe(src), width=128, height=64, options=LOSSLESS) as writer:
        writer.write(big, pts=0, duration=1)
        writer.write(big, pts=1, duration=1)
    info = probe(dst)
    assert (info.colour.matrix_used, info.colour.full_range) == (matrix, full_range)
    with av.open(str(dst)) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.colorspace, ctx.color_range) == CASES[(matrix, full_range)]
    with VideoReader(dst) as reader:
        ours = next(iter(reader)).rgb
    theirs = read_frames(dst).frames[0]
    error = np.abs(patch_centres(ours, 2) - COLOURS)
    # 8-bit YUV has fewer levels than 8-bit RGB: rounding Y and Cr by half a code each
    # moves R by up to 1.65/255 (BT.709, limited), so that is the honest worst case.
    assert error.max() < 1.65 / 255 and error.mean() < 0.6 / 255
    # swscale reading our tags: its own fixed-point YUV->RGB adds about a code.
    assert np.abs(patch_centres(theirs, 2) - COLOURS).max() < 2.5 / 255


def test_ten_bit_output_round_trips_a_flat_patch_tightly(tmp_path):
    src = make_video(tmp_path / "src.mkv", width=64, height=32, frames=1, bit_depth=10, content=patches,
                     crf=0, audio_tracks=0)
    dst = tmp_path / "out.mkv"
    with VideoWriter(dst, source=probe(src), width=64, height=32, options=LOSSLESS) as writer:
        writer.write(patches(), pts=0, duration=1)
    with VideoReader(dst) as reader:
        assert reader.info.pix_fmt == "yuv420p10le"
        rgb = next(iter(reader)).rgb
    assert np.abs(patch_centres(rgb) - COLOURS).max() < 0.3 / 255


@pytest.mark.parametrize("pix_fmt", ["rgb24", "bgr0", "gbrp", "gray"])
def test_eight_bit_rgb_and_grey_frames_convert_exactly(pix_fmt):
    # swscale widens 8-bit samples by shifting (255 -> 65280); every code must survive.
    from vsrt_cli.video.colour import resolve_colour
    from vsrt_cli.video.convert import frame_to_rgb

    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgb = np.stack([levels, levels[::-1], levels.T], axis=-1)
    if pix_fmt == "gray":
        rgb = np.repeat(levels[..., None], 3, axis=-1)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format=pix_fmt)
    colour = resolve_colour(16, 16, pix_fmt, None, None, None, None)
    converted = frame_to_rgb(frame, colour)
    assert np.array_equal(np.round(converted * 255).astype(np.uint8), rgb)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p10le", "yuv444p"])
def test_banded_and_parallel_conversion_equal_the_whole_frame(monkeypatch, pix_fmt):
    # Bands bound the conversion's memory on big frames; they must not change a value.
    from vsrt_cli.video import convert
    from vsrt_cli.video.colour import resolve_colour

    rgb = np.random.default_rng(3).random((301, 250, 3), dtype=np.float32)
    colour = resolve_colour(250, 301, pix_fmt, None, None, None, None)
    banded = convert.rgb_to_frame(rgb, pix_fmt, colour, {})
    with ThreadPoolExecutor(3) as workers:
        parallel = convert.rgb_to_frame(rgb, pix_fmt, colour, {}, workers)
    monkeypatch.setattr(convert, "BAND_ROWS", 10_000)
    whole = convert.rgb_to_frame(rgb, pix_fmt, colour, {})
    dtype = np.uint16 if "10" in pix_fmt else np.uint8
    view = lambda plane: convert._plane_view(plane, dtype, plane.height, plane.width)  # noqa: E731
    for a, b, c in zip(banded.planes, parallel.planes, whole.planes):
        assert np.array_equal(view(a), view(c)) and np.array_equal(view(b), view(c))



@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p10le", "yuv444p", "yuvj420p"])
def test_a_tensor_frame_converts_like_the_array(monkeypatch, pix_fmt):
    # The GPU route (_planar_from_tensor) runs on a CPU tensor here: only the pinned
    # staging differs on a GPU. Small bands check that banding changes no code either.
    import torch

    from vsrt_cli.video import convert
    from vsrt_cli.video.colour import resolve_colour

    rgb = np.random.default_rng(5).uniform(-0.02, 1.02, (37, 26, 3)).astype(np.float32)
    colour = resolve_colour(26, 37, pix_fmt, None, None, None, None)
    chw = torch.from_numpy(rgb).permute(2, 0, 1)
    reference = convert.rgb_to_frame(rgb, pix_fmt, colour, {})
    through_numpy = convert.rgb_to_frame(chw, pix_fmt, colour, {})  # a CPU tensor takes numpy's path
    monkeypatch.setattr(convert, "DEVICE_BAND_PIXELS", 26 * 6)
    layout = convert.LAYOUTS[pix_fmt]
    through_torch = convert._planar_from_tensor(chw, pix_fmt, layout, colour)
    dtype = np.uint16 if "10" in pix_fmt else np.uint8
    view = lambda plane: convert._plane_view(plane, dtype, plane.height, plane.width)  # noqa: E731
    for a, b, c in zip(reference.planes, through_numpy.planes, through_torch.planes):
        assert np.array_equal(view(a), view(b)) and np.array_equal(view(a), view(c))


def test_tensor_frames_are_refused_where_swscale_converts():
    import torch

    from vsrt_cli.video import convert
    from vsrt_cli.video.colour import ColourTags

    assert convert.converts_tensors("yuv420p10le") and not convert.converts_tensors("rgb24")
    assert not convert.converts_tensors("nv12")
    with pytest.raises(TypeError, match="rgb24"):
        convert.rgb_to_frame(torch.zeros(3, 4, 4), "rgb24", ColourTags(), {})


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt", "alpha"),
    [
        ("rgba.mov", "png", "rgba", True),
        # FFmpeg's VP9 decoder drops WebM's alpha layer: only the track header says it is there.
        ("alpha.webm", "libvpx-vp9", "yuva420p", True),
        ("opaque.mp4", "libx264", "yuv420p", False),
    ],
)
def test_transparency_is_found_and_its_loss_reported(tmp_path, name, codec, pix_fmt, alpha):
    source = make_video(tmp_path / name, width=32, height=24, frames=3, codec=codec, pix_fmt=pix_fmt, audio_tracks=0)
    assert probe(source).alpha is alpha
    result = upscale_video(source, tmp_path / "out.mkv", tiny_model(), encode=EncodeOptions(preset="ultrafast"))
    lost = "the source's transparency (alpha channel) is not kept: the output is opaque"
    assert (lost in result.notes) is alpha
