"""The pure parts of vsrt_cli.video: colour maths, codec and stream decisions. No files."""

from __future__ import annotations

import av
import numpy as np
import pytest

from vsrt_cli.errors import CodecError, UsageError
from vsrt_cli.video import (
    ColourTags,
    StreamInfo,
    choose_video_codec,
    container_format,
    encoder_settings,
    guess_matrix,
    plan_stream_copy,
)
from vsrt_cli.video.colour import (
    downsample_chroma,
    quantize,
    resolve_colour,
    rgb_to_yuv,
    upsample_chroma,
    yuv_to_rgb,
)
from vsrt_cli.video.probe import estimate_frames, parse_duration_tag
from vsrt_cli.video.writer import output_colour

MATRICES = ("bt601", "bt709", "bt2020", "smpte240m", "fcc", "gbr")


# -- matrix guessing and tags -------------------------------------------------------

@pytest.mark.parametrize(
    "width, height, tagged, expected",
    [
        (720, 480, None, "bt601"),
        (720, 576, "unknown", "bt601"),
        (1280, 534, None, "bt709"),  # scope HD: wide but short
        (960, 720, None, "bt709"),
        (1919, 1080, None, "bt709"),
        (640, 360, "bt709", "bt709"),  # a tag always beats the size
        (1920, 1080, "smpte170m", "bt601"),
        (1920, 1080, "bt470bg", "bt601"),
        (3840, 2160, "bt2020nc", "bt2020"),
        (640, 480, "ycgco", "bt601"),  # unsupported tag: guess from the size
    ],
)
def test_guess_matrix(width, height, tagged, expected):
    assert guess_matrix(width, height, tagged) == expected


def test_resolve_colour_names_and_range():
    tags = resolve_colour(720, 480, "yuvj420p", 2, 0, 2, 2)
    assert (tags.matrix, tags.range, tags.matrix_used, tags.full_range) == ("unknown", "unknown", "bt601", True)
    tags = resolve_colour(1920, 1080, "yuv420p10le", 9, 1, 9, 16)
    assert (tags.matrix, tags.range, tags.primaries, tags.transfer) == ("bt2020nc", "tv", "bt2020", "smpte2084")
    assert tags.matrix_used == "bt2020" and not tags.full_range and not tags.guessed


def test_output_codes_keep_source_tags_and_fill_untagged():
    hdr = ColourTags("bt2020nc", "tv", "bt2020", "smpte2084", "bt2020", False)
    assert hdr.output_codes() == {"colorspace": 9, "color_range": 1, "color_primaries": 9, "color_trc": 16}
    untagged_sd = ColourTags(matrix_used="bt601")
    assert untagged_sd.output_codes() == {"colorspace": 6, "color_range": 1, "color_primaries": 6, "color_trc": 6}
    pal = ColourTags("bt470bg", "pc", "bt470bg", "unknown", "bt601", True)
    assert pal.output_codes() == {"colorspace": 5, "color_range": 2, "color_primaries": 5, "color_trc": 6}
    # A PAL matrix tag with untagged primaries (diver.mov's MJPEG) means PAL's primaries.
    pal_matrix_only = ColourTags("bt470bg", "pc", "unknown", "unknown", "bt601", True)
    assert pal_matrix_only.output_codes()["color_primaries"] == 5
    constant_luminance = ColourTags("bt2020c", "tv", "bt2020", "arib-std-b67", "bt2020", False)
    assert constant_luminance.output_codes()["colorspace"] == 9  # bt2020nc: the matrix the output is encoded with


def test_output_colour_notes_a_guess_and_tags_it():
    colour, codes, note = output_colour(ColourTags(matrix_used="bt601"), "yuv420p", 384, 256)
    assert colour.matrix_used == "bt601" and codes["colorspace"] == 6
    assert note and "BT.601" in note
    _, codes, note = output_colour(ColourTags("bt709", "tv", "bt709", "bt709", "bt709"), "yuv420p10le", 64, 64)
    assert note is None and codes["colorspace"] == 1
    colour, codes, _ = output_colour(ColourTags("bt709", "tv", "bt709", "bt709", "bt709"), "yuvj420p", 64, 64)
    assert colour.full_range and codes["color_range"] == 2


# -- YUV <-> RGB arithmetic ---------------------------------------------------------

@pytest.mark.parametrize("matrix", MATRICES)
@pytest.mark.parametrize("full_range", [False, True])
@pytest.mark.parametrize("bits", [8, 10, 12])
def test_rgb_yuv_round_trip_is_within_half_a_code(matrix, full_range, bits):
    rng = np.random.default_rng(bits)
    rgb = rng.uniform(0, 1, (16, 16, 3)).astype(np.float32)
    planes = [quantize(p, bits) for p in rgb_to_yuv(rgb, matrix, full_range, bits)]
    back = yuv_to_rgb(*planes, matrix, full_range, bits)
    # One code of luma plus the chroma terms that feed into each channel.
    step = 1 / ((1 << bits) - 1) if full_range else 1 / (219 * (1 << (bits - 8)))
    assert np.abs(back - rgb).max() < 2.2 * step


def test_bt709_reference_values():
    # Limited range 8-bit BT.709: white, black, and pure red from the spec tables.
    rgb = np.array([[[1, 1, 1], [0, 0, 0], [1, 0, 0]]], np.float32)
    y, cb, cr = (quantize(p, 8) for p in rgb_to_yuv(rgb, "bt709", False, 8))
    assert y.tolist() == [[235, 16, 63]]
    assert cb.tolist() == [[128, 128, 102]]
    assert cr.tolist() == [[128, 128, 240]]


def test_bt601_full_range_jpeg_values():
    rgb = np.array([[[1, 0, 0], [0, 0, 1]]], np.float32)
    y, cb, cr = (quantize(p, 8) for p in rgb_to_yuv(rgb, "bt601", True, 8))
    assert y.tolist() == [[76, 29]]  # 0.299 * 255, 0.114 * 255
    assert cr[0, 0] == 255 and cb[0, 1] == 255


def test_matrices_disagree_so_the_choice_matters():
    red = np.array([[[0.8, 0.1, 0.1]]], np.float32)
    y601 = rgb_to_yuv(red, "bt601", False, 8)[0]
    y709 = rgb_to_yuv(red, "bt709", False, 8)[0]
    assert abs(float(y601[0, 0] - y709[0, 0])) > 10


def test_ten_bit_levels_are_four_times_eight_bit():
    grey = np.full((1, 1, 3), 0.5, np.float32)
    y8 = rgb_to_yuv(grey, "bt709", False, 8)[0][0, 0]
    y10 = rgb_to_yuv(grey, "bt709", False, 10)[0][0, 0]
    assert y10 == pytest.approx(4 * y8)


@pytest.mark.parametrize("sub_x, sub_y", [(1, 1), (1, 0), (0, 0)])
@pytest.mark.parametrize("width, height", [(16, 12), (15, 11)])
def test_chroma_resampling_keeps_flat_and_linear_planes(sub_x, sub_y, width, height):
    flat = np.full((height, width), 77.0, np.float32)
    small = downsample_chroma(flat, sub_x, sub_y)
    assert small.shape == (-(-height // (1 << sub_y)), -(-width // (1 << sub_x)))
    assert np.allclose(upsample_chroma(small, sub_x, sub_y, width, height), 77.0)
    # Linear ramps survive down/up sampling away from the borders only if both
    # directions agree on the siting (co-sited columns, rows half-way between).
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for ramp in (xx * 3, yy * 5, xx * 2 + yy * 7):
        back = upsample_chroma(downsample_chroma(ramp, sub_x, sub_y), sub_x, sub_y, width, height)
        assert np.allclose(back[2:-2, 2:-2], ramp[2:-2, 2:-2], atol=1e-3)


@pytest.mark.parametrize("matrix", MATRICES)
@pytest.mark.parametrize("full_range", [False, True])
@pytest.mark.parametrize("bits", [8, 10])
def test_tensors_convert_to_the_same_codes_as_arrays(matrix, full_range, bits):
    # A GPU converts with torch what a CPU converts with numpy: same operations, same codes.
    import torch

    rng = np.random.default_rng(bits + full_range)
    rgb = rng.uniform(-0.05, 1.05, (13, 17, 3)).astype(np.float32)  # odd sizes, out of range
    # Exact .5 code values, where rounding half to even must agree.
    rgb[0, :4] = np.array([128.5, 16.5, 100.5, 3.5])[:, None] / 255
    for sub_x, sub_y in ((1, 1), (1, 0), (0, 0)):
        arrays = rgb_to_yuv(rgb, matrix, full_range, bits)
        tensors = rgb_to_yuv(torch.from_numpy(rgb), matrix, full_range, bits)
        for index, (a, t) in enumerate(zip(arrays, tensors)):
            if index:
                a, t = downsample_chroma(a, sub_x, sub_y), downsample_chroma(t, sub_x, sub_y)
            assert isinstance(t, torch.Tensor)
            assert np.array_equal(t.numpy(), a)
            codes = quantize(t, bits)
            assert codes.dtype == (torch.uint8 if bits == 8 else torch.int16)
            assert np.array_equal(codes.numpy().astype(np.int64), quantize(a, bits).astype(np.int64))


# -- codec and container choices ----------------------------------------------------

def test_container_format_from_extension():
    assert container_format("out/clip.MKV") == "matroska"
    assert container_format(".mp4") == "mp4"
    assert container_format("webm") == "webm"
    assert container_format("dvd/VTS_01_1.VOB") == "vob"
    assert container_format(".mpg") == "mpeg" and container_format(".qt") == "mov"
    # FFmpeg knows these, but they hold none of vsrt's video codecs: refused up front
    # instead of failing when the header is written.
    for ext in ("clip.xyz", "clip.ogv", "clip.y4m", "clip.mxf", "clip.gif", "clip.png"):
        with pytest.raises(CodecError, match=r"vsrt cannot write \.\w+ files; use one of \.mp4"):
            container_format(ext)


def test_default_codec_is_x264_with_matching_depth():
    assert choose_video_codec(".mp4", None, 8) == ("libx264", "yuv420p", None)
    codec, pix_fmt, note = choose_video_codec(".mkv", None, 10)
    assert pix_fmt == "yuv420p10le" and codec in ("libx264", "libx265")
    assert (note is None) == (codec == "libx264")


def test_webm_switches_codec_with_a_note_when_the_user_chose_it():
    codec, pix_fmt, note = choose_video_codec(".webm", None, 8)
    assert codec == "libvpx-vp9" and pix_fmt == "yuv420p"
    assert note is None  # VP9 is simply WebM's default
    codec, _, note = choose_video_codec("x.webm", "hevc", 8)
    assert codec in ("libvpx-vp9", "libsvtav1") and "libx265" in note
    codec, pix_fmt, note = choose_video_codec(".webm", None, 10)
    assert codec in ("libvpx-vp9", "libsvtav1") and pix_fmt.startswith("yuv420p")
    # Another codec than WebM's usual VP9, to keep the depth, is news.
    assert (note is None) == (codec == "libvpx-vp9")
    if codec == "libsvtav1":
        assert note == "libvpx-vp9 in this FFmpeg cannot encode 10-bit; using libsvtav1 to keep 10-bit precision"


def test_aliases_and_explicit_pix_fmt():
    assert choose_video_codec(".mkv", "hevc", 8)[0] == "libx265"
    assert choose_video_codec(".mkv", "vp9", 8)[0] == "libvpx-vp9"
    assert choose_video_codec(".mp4", "libx264", 8, pix_fmt="yuv444p")[:2] == ("libx264", "yuv444p")
    with pytest.raises(CodecError, match="cannot encode pixel format 'rgb24'"):
        choose_video_codec(".mp4", "libx264", 8, pix_fmt="rgb24")
    with pytest.raises(UsageError, match="--pix-fmt foo: not a pixel format FFmpeg knows"):
        choose_video_codec(".mp4", "libx264", 8, pix_fmt="foo")


def test_unknown_codec_lists_valid_choices():
    with pytest.raises(CodecError) as err:
        choose_video_codec(".mp4", "h267", 8)
    message = str(err.value)
    assert "unknown video codec 'h267'" in message and "libx264" in message and "\n" not in message


def test_odd_sizes_get_444_unless_a_subsampled_format_was_demanded():
    codec, pix_fmt, note = choose_video_codec(".mp4", None, 8, width=97, height=61)
    assert pix_fmt == "yuv444p" and "97x61" in note
    assert choose_video_codec(".mp4", None, 8, width=388, height=244)[1] == "yuv420p"
    with pytest.raises(CodecError, match="even width and height"):
        choose_video_codec(".mp4", None, 8, pix_fmt="yuv420p", width=97, height=61)


def test_encoder_settings_per_codec():
    assert encoder_settings("libx264", 18, "medium") == {"crf": "18", "preset": "medium"}
    vp9 = encoder_settings("libvpx-vp9", 30, "fast")
    assert vp9["crf"] == "30" and vp9["b"] == "0"
    assert encoder_settings("libsvtav1", 25, "medium")["preset"].isdigit()
    assert encoder_settings("libx264", 18, "slow", {"tune": "film", "crf": 20})["crf"] == "20"
    with pytest.raises(UsageError, match="unknown preset 'turbo'"):
        encoder_settings("libx264", 18, "turbo")


def test_a_rate_factor_out_of_the_encoders_range_is_a_usage_error():
    with pytest.raises(UsageError, match="--crf -5: must be 0 or more"):
        encoder_settings("libx264", -5, "medium")
    with pytest.raises(UsageError, match="--crf nan: must be a number"):
        encoder_settings("libx264", float("nan"), "medium")
    with pytest.raises(UsageError, match="libvpx-vp9 takes 0 to 63"):
        encoder_settings("libvpx-vp9", 70, "medium")
    # x264 would take any rate factor and clamp it to 51 without a word.
    with pytest.raises(UsageError, match="libx264 takes 0 to 51"):
        encoder_settings("libx264", 60, "medium")
    assert encoder_settings("libx264", 51, "medium")["crf"] == "51"
    assert encoder_settings("libvpx-vp9", 63, "medium")["crf"] == "63"


@pytest.mark.parametrize("codec", ["h264_nvenc", "hevc_nvenc", "av1_nvenc"])
def test_nvenc_gets_constant_quality_not_a_bitrate(codec):
    if codec not in av.codecs_available:
        pytest.skip(f"this FFmpeg has no {codec}")
    settings = encoder_settings(codec, 19, "medium")
    assert settings == {"rc": "vbr", "cq": "19", "b": "0", "preset": "p4"}
    assert encoder_settings(codec, 19, "ultrafast")["preset"] == "p1"
    assert encoder_settings(codec, 19, "veryslow")["preset"] == "p7"
    # Every name and value is one this encoder's option table has (opening it needs an
    # NVIDIA GPU, so the table is what can be checked without one).
    options = {o.name: o for o in av.Codec(codec, "w").create().supported_options.private}
    for key in ("rc", "cq", "preset"):
        assert key in options
    for key in ("rc", "preset"):
        assert settings[key] in {choice.name for choice in options[key].choices}
    assert encoder_settings(codec, 19, "p6")["preset"] == "p6"  # NVENC's own names pass through
    with pytest.raises(UsageError, match="unknown preset"):
        encoder_settings(codec, 19, "p9")


def test_big_frames_get_a_shorter_lookahead():
    from vsrt_cli.video.encoding import LOOKAHEAD_PIXEL_BUDGET, MIN_LOOKAHEAD, lookahead_limit

    # 4x of 720p: a budget's worth of frames instead of medium's 40.
    assert lookahead_limit("libx264", "medium", 5120, 2880) == LOOKAHEAD_PIXEL_BUDGET // (5120 * 2880)
    assert lookahead_limit("libx264", "medium", 1280, 720) is None  # the preset's 40 fit
    assert lookahead_limit("libx264", "ultrafast", 5120, 2880) is None  # never lengthened
    assert lookahead_limit("libx264", "medium", 20000, 20000) == MIN_LOOKAHEAD
    assert lookahead_limit("libvpx-vp9", "medium", 5120, 2880) is None
    x264 = encoder_settings("libx264", 18, "medium", frame_size=(5120, 2880))
    assert x264["rc-lookahead"] == str(LOOKAHEAD_PIXEL_BUDGET // (5120 * 2880))
    x265 = encoder_settings("libx265", 18, "medium", frame_size=(5120, 2880))
    assert x265["x265-params"] == f"log-level=error:rc-lookahead={LOOKAHEAD_PIXEL_BUDGET // (5120 * 2880)}"
    # The user's own choice wins.
    assert encoder_settings("libx264", 18, "medium", {"rc-lookahead": 40}, (5120, 2880))["rc-lookahead"] == "40"


def test_hdr10_metadata_becomes_x264_and_x265_params():
    from fractions import Fraction as F

    from vsrt_cli.video.hdr import HDR10Metadata

    # BT.2020 primaries, D65, a 1000-nit display down to 0.005 nit: the HDR10 example of
    # x265's documentation, in its units (0.00002 chromaticity, 0.0001 cd/m2).
    hdr = HDR10Metadata(
        primaries=((F(708, 1000), F(292, 1000)), (F(170, 1000), F(797, 1000)), (F(131, 1000), F(46, 1000))),
        white_point=(F(3127, 10000), F(3290, 10000)),
        luminance=(F(5, 1000), F(1000)),
        light_level=(1000, 400),
    )
    display = "G(8500,39850)B(6550,2300)R(35400,14600)WP(15635,16450)L(10000000,50)"
    assert hdr.x26x_params("libx265") == [f"master-display={display}", "max-cll=1000,400"]
    assert hdr.x26x_params("libx264") == [f"mastering-display={display}", "cll=1000,400"]
    x265 = encoder_settings("libx265", 18, "medium", {"x265-params": "aq-mode=3"}, hdr10=hdr)
    # The user's params are appended, so they win where they overlap and keep the rest.
    assert x265["x265-params"] == f"log-level=error:master-display={display}:max-cll=1000,400:aq-mode=3"


def test_mpegts_holds_only_what_it_has_a_stream_type_for():
    from vsrt_cli.video import muxer_accepts

    assert muxer_accepts("mpegts", "libx264") and muxer_accepts("mpegts", "ac3") and muxer_accepts("mpegts", "aac")
    # FFmpeg would write these as private data that players cannot decode.
    assert not muxer_accepts("mpegts", "subrip") and not muxer_accepts("mpegts", "flac")
    assert not muxer_accepts("mpegts", "libvpx-vp9")
    assert muxer_accepts("matroska", "flac") and not muxer_accepts("mp4", "subrip")


def test_mpeg_program_streams_hold_dvd_audio_but_not_aac():
    from vsrt_cli.video import muxer_accepts

    for muxer in ("mpeg", "vob"):
        assert muxer_accepts(muxer, "libx264") and muxer_accepts(muxer, "mpeg2video")
        assert muxer_accepts(muxer, "ac3") and muxer_accepts(muxer, "mp2")
        # Players would take these for MPEG video, or the muxer refuses them.
        assert not muxer_accepts(muxer, "libx265") and not muxer_accepts(muxer, "libvpx-vp9")
        assert not muxer_accepts(muxer, "aac") and not muxer_accepts(muxer, "subrip")


def test_plan_for_mpeg_ps_transcodes_aac_to_ac3_and_drops_text_subtitles():
    streams = _streams(("video", "h264"), ("audio", "aac"), ("audio", "mp2"), ("subtitle", "subrip"))
    plan = {d.index: d for d in plan_stream_copy(".mpg", streams)}
    assert (plan[1].action, plan[1].target) == ("transcode", "ac3") and "AC-3" in plan[1].note
    assert plan[2].action == "copy"
    assert plan[3].action == "drop"


# -- stream plan --------------------------------------------------------------------

def _streams(*specs):
    return [StreamInfo(i, kind, codec) for i, (kind, codec) in enumerate(specs)]


def test_plan_copies_what_the_container_holds():
    streams = _streams(("video", "h264"), ("audio", "aac"), ("audio", "ac3"), ("subtitle", "subrip"))
    plan = plan_stream_copy(".mkv", streams)
    assert [(d.index, d.action) for d in plan] == [(1, "copy"), (2, "copy"), (3, "copy")]
    assert all(d.note is None for d in plan)


def test_plan_for_mp4_converts_text_subtitles_and_drops_bitmap_ones():
    streams = _streams(
        ("video", "h264"), ("audio", "aac"), ("subtitle", "ass"),
        ("subtitle", "hdmv_pgs_subtitle"), ("attachment", "ttf"),
    )
    plan = {d.index: d for d in plan_stream_copy(".mp4", streams)}
    assert plan[1].action == "copy"
    assert (plan[2].action, plan[2].target) == ("transcode", "mov_text") and "styling" in plan[2].note
    assert plan[3].action == "drop" and "bitmap" in plan[3].note
    assert plan[4].action == "drop" and "attachments" in plan[4].note


def test_plan_for_webm_transcodes_audio_to_opus():
    streams = _streams(("video", "h264"), ("audio", "aac"), ("audio", "opus"), ("subtitle", "subrip"))
    plan = {d.index: d for d in plan_stream_copy(".webm", streams)}
    assert (plan[1].action, plan[1].target) == ("transcode", "libopus") and "Opus" in plan[1].note
    assert plan[2].action == "copy"
    assert (plan[3].action, plan[3].target) == ("transcode", "webvtt")


def test_plan_for_mp4_transcodes_audio_it_cannot_hold():
    plan = plan_stream_copy(".mp4", _streams(("video", "h264"), ("audio", "wmav2")))
    assert (plan[0].action, plan[0].target) == ("transcode", "aac") and "AAC" in plan[0].note


def test_plan_drops_extra_video_and_unknown_data():
    streams = _streams(("video", "h264"), ("video", "mjpeg"), ("data", "unknown"))
    plan = plan_stream_copy(".mkv", streams)
    assert [d.action for d in plan] == ["drop", "drop"]
    assert "only the first video stream" in plan[0].note


def test_plan_respects_the_chosen_video_index():
    streams = _streams(("audio", "aac"), ("video", "h264"))
    assert [d.index for d in plan_stream_copy(".mp4", streams, video_index=1)] == [0]


# -- small probe helpers ------------------------------------------------------------

def test_duration_tag_and_frame_estimate():
    assert parse_duration_tag("00:01:02.500000000") == pytest.approx(62.5)
    assert parse_duration_tag("garbage") is None and parse_duration_tag(None) is None
    assert estimate_frames(120, 9.0, 24) == 120
    assert estimate_frames(0, 2.0, 24) == 48
    assert estimate_frames(None, None, 24) is None
