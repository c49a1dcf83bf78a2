"""Reader -> nearest-neighbour 4x -> writer, checked against the source file.

Sources are written by tests/media.py straight through PyAV and checked back with its
independent helpers, so the reader and writer never vouch for themselves.
"""

from __future__ import annotations

import tracemalloc
from fractions import Fraction

import av
import numpy as np
import pytest

from media import audio_packets, make_video, read_frames, remux_later, stream_kinds
from vsrt_cli.video import EncodeOptions, Frame, VideoReader, VideoWriter, probe
from vsrt_cli.video.containers import _EXTENSIONS, keeps_file_title, keeps_stream_language, keeps_stream_title
from vsrt_cli.video.hdr import frame_side_data

FAST = EncodeOptions(preset="ultrafast")


def upscale(src, dst, options=FAST, scale=4):
    """Run the whole pipeline; returns (reader, writer) for their counters and notes."""
    with VideoReader(src) as reader:
        info = reader.info
        width, height = info.width * scale, info.height * scale
        with VideoWriter(dst, source=info, width=width, height=height, options=options) as writer:
            for frame in reader:
                big = np.repeat(np.repeat(frame.rgb, scale, axis=0), scale, axis=1)
                writer.write(big, pts=frame.pts, duration=frame.duration)
    return reader, writer


def seconds(decoded) -> list[Fraction]:
    return [p * decoded.time_base for p in decoded.pts]


def video_stream_facts(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        return {
            "codec": ctx.codec.canonical_name,
            "size": (ctx.width, ctx.height),
            "pix_fmt": ctx.pix_fmt,
            "tags": (ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc),
            "metadata": dict(stream.metadata),
            "container_metadata": dict(container.metadata),
        }


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("video_rt")


@pytest.fixture(scope="module")
def cfr_mp4(media_dir):
    return make_video(
        media_dir / "cfr.mp4", frames=12, title="A title", rotation=90, sample_aspect_ratio=Fraction(8, 9)
    )


@pytest.fixture(scope="module")
def cfr_mp4_out(media_dir, cfr_mp4):
    dst = media_dir / "cfr_out.mp4"
    reader, writer = upscale(cfr_mp4, dst)
    return dst, reader, writer


@pytest.fixture(scope="module")
def mkv_rich(media_dir):
    return make_video(media_dir / "rich.mkv", vfr=True, frames=14, audio_tracks=2, subtitles="srt")


# -- probe and reader ---------------------------------------------------------------

def test_probe_describes_the_file(cfr_mp4):
    info = probe(cfr_mp4)
    assert (info.width, info.height, info.n_frames) == (96, 64, 12)
    assert info.average_rate == 24 and info.duration_s == pytest.approx(0.5, abs=0.01)
    assert (info.bit_depth, info.pix_fmt, info.codec_name) == (8, "yuv420p", "h264")
    assert (info.colour.matrix, info.colour.range, info.colour.matrix_used) == ("bt709", "tv", "bt709")
    assert info.rotation == 90
    assert [s.kind for s in info.streams] == ["video", "audio"]
    assert info.streams[1].codec_name == "aac" and info.streams[1].language == "eng"
    assert info.metadata.get("title") == "A title"


def test_probe_of_mkv_streams_and_vfr(mkv_rich):
    info = probe(mkv_rich)
    assert [s.kind for s in info.streams] == ["video", "audio", "audio", "subtitle"]
    assert [s.language for s in info.streams[1:]] == ["eng", "deu", "eng"]
    assert info.streams[3].codec_name == "subrip" and info.streams[3].title == "Captions"
    assert info.time_base == Fraction(1, 1000)
    assert info.n_frames is not None and abs(info.n_frames - 14) <= 2  # MKV has no frame count


def test_reader_yields_frames_matching_an_independent_decode(cfr_mp4):
    reference = read_frames(cfr_mp4)
    with VideoReader(cfr_mp4) as reader:
        frames = list(reader)
    assert len(frames) == 12 and reader.decode_errors == 0
    assert [f.index for f in frames] == list(range(12))
    assert [f.pts for f in frames] == reference.pts
    for frame, ref in zip(frames, reference.frames):
        assert isinstance(frame, Frame) and frame.rgb.dtype == np.float32 and frame.rgb.shape == (64, 96, 3)
        assert 0.0 <= frame.rgb.min() and frame.rgb.max() <= 1.0
        # Chroma upsampling filters differ slightly at the hard edges of the pattern.
        assert np.abs(frame.rgb - ref).mean() < 1.5 / 255
    assert frames[0].time_base == reference.time_base


def test_reader_memory_does_not_grow_with_length(media_dir):
    src = make_video(media_dir / "long.mkv", width=128, height=96, frames=30, audio_tracks=0)
    frame_bytes = 128 * 96 * 3 * 4
    tracemalloc.start()
    try:
        count = sum(1 for _ in VideoReader(src))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 30
    assert peak < 10 * frame_bytes  # all 30 frames would be 3x this


# -- round trips --------------------------------------------------------------------

def test_cfr_mp4_round_trip_keeps_size_count_and_timestamps(cfr_mp4, cfr_mp4_out):
    dst, reader, writer = cfr_mp4_out
    src_frames, out_frames = read_frames(cfr_mp4), read_frames(dst)
    assert len(out_frames.frames) == len(src_frames.frames) == writer.frames_written == 12
    assert out_frames.frames[0].shape == (256, 384, 3)
    assert seconds(out_frames) == seconds(src_frames)
    assert probe(dst).duration_s == pytest.approx(probe(cfr_mp4).duration_s, abs=1 / 24)


def test_mp4_audio_packets_are_bit_exact(cfr_mp4, cfr_mp4_out):
    dst, _, _ = cfr_mp4_out
    src_audio, out_audio = audio_packets(cfr_mp4), audio_packets(dst)
    assert len(out_audio) == 1
    (src_packets,), (out_packets,) = src_audio.values(), out_audio.values()
    assert len(out_packets) == len(src_packets) > 10
    assert out_packets == src_packets  # same pts, same bytes


def test_mp4_keeps_tags_rotation_metadata_and_faststart(cfr_mp4, cfr_mp4_out):
    dst, _, writer = cfr_mp4_out
    facts = video_stream_facts(dst)
    assert facts["codec"] == "h264" and facts["size"] == (384, 256) and facts["pix_fmt"] == "yuv420p"
    assert facts["tags"] == video_stream_facts(cfr_mp4)["tags"] == (1, 1, 1, 1)
    assert facts["container_metadata"].get("title") == "A title"
    assert probe(dst).rotation == 90
    # Non-square pixels (a DVD's 8:9) stay non-square, or the picture would be stretched.
    assert probe(dst).sample_aspect_ratio == probe(cfr_mp4).sample_aspect_ratio == Fraction(8, 9)
    head = dst.read_bytes()
    assert head.index(b"moov") < head.index(b"mdat")  # index first: streamable
    assert writer.notes == []


def test_content_survives_the_round_trip(cfr_mp4, cfr_mp4_out):
    dst, _, _ = cfr_mp4_out
    src = read_frames(cfr_mp4).frames[5]
    out = read_frames(dst).frames[5]
    expected = np.repeat(np.repeat(src, 4, axis=0), 4, axis=1)
    assert np.abs(out - expected).mean() < 3.5 / 255  # crf 18, ultrafast


def test_vfr_mkv_keeps_every_timestamp_and_all_streams(media_dir, mkv_rich):
    dst = media_dir / "rich_out.mkv"
    _, writer = upscale(mkv_rich, dst)
    src, out = read_frames(mkv_rich), read_frames(dst)
    assert len(out.frames) == len(src.frames) == 14
    steps = {b - a for a, b in zip(src.pts, src.pts[1:])}
    assert len(steps) > 2  # the source really is variable frame rate
    assert out.pts == src.pts and out.time_base == src.time_base
    assert stream_kinds(dst) == ["video", "audio", "audio", "subtitle"]
    assert audio_packets(dst) == audio_packets(mkv_rich)
    out_info, src_info = probe(dst), probe(mkv_rich)
    assert [(s.kind, s.codec_name, s.language, s.title) for s in out_info.streams] == [
        (s.kind, s.codec_name, s.language, s.title) for s in src_info.streams
    ]
    assert out_info.duration_s == pytest.approx(src_info.duration_s, abs=1 / 24)
    assert writer.notes == []


def test_vfr_mp4_round_trip_with_default_settings(media_dir):
    # Default options (x264 medium) use B-frames, so packets leave the encoder
    # reordered: timestamps must still come back exactly.
    src = make_video(media_dir / "vfr.mp4", vfr=True, frames=13)
    dst = media_dir / "vfr_out.mp4"
    upscale(src, dst, options=EncodeOptions())
    with av.open(str(dst)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
        assert any(p.pts != p.dts for p in packets)  # B-frames really were used
    a, b = read_frames(src), read_frames(dst)
    assert len(set(np.diff(a.pts))) > 2
    assert seconds(b) == seconds(a)
    assert audio_packets(dst) == audio_packets(src)


def test_mkv_to_mp4_converts_subtitles_to_mov_text(media_dir, mkv_rich):
    dst = media_dir / "rich_out.mp4"
    _, writer = upscale(mkv_rich, dst)
    info = probe(dst)
    assert [(s.kind, s.codec_name) for s in info.streams] == [
        ("video", "h264"), ("audio", "aac"), ("audio", "aac"), ("subtitle", "mov_text"),
    ]
    assert any("converted to mov_text" in note for note in writer.notes)
    with av.open(str(dst)) as container:
        stream = container.streams.subtitles[0]
        texts = [r.ass for p in container.demux(stream) if p.size for r in stream.codec_context.decode2(p)]
    assert [t.split(b",,")[-1] for t in texts] == [b"First line", b"Second line", b"Third line"]
    # Cross-container copies are still the same audio bytes.
    src_payloads = [[data for _, data in v] for v in audio_packets(mkv_rich).values()]
    out_payloads = [[data for _, data in v] for v in audio_packets(dst).values()]
    assert out_payloads == src_payloads


def test_chapters_and_attachments(media_dir):
    src = make_video(media_dir / "chapters.mkv", frames=8, chapters=3, attachment=True)
    keep = media_dir / "chapters_out.mkv"
    _, writer = upscale(src, keep)
    assert writer.notes == []
    with av.open(str(src)) as a, av.open(str(keep)) as b:
        def marks(container):
            return [(c["start"], c["metadata"]) for c in container.chapters()]

        assert marks(b) == marks(a)
        assert b.streams.attachments[0].data == a.streams.attachments[0].data
    mp4 = media_dir / "chapters_out.mp4"
    _, writer = upscale(src, mp4)
    assert any("cannot hold attachments" in n for n in writer.notes)
    with av.open(str(mp4)) as b:
        assert [c["metadata"]["title"] for c in b.chapters()] == ["Chapter 1", "Chapter 2", "Chapter 3"]


HDR10 = "master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50):max-cll=1000,400"


def _hdr_side_data(path) -> dict[str, bytes]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return {str(side.type): bytes(side) for side in frame_side_data(frame) if "SEI" not in str(side.type)}


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_hdr10_mastering_metadata_survives(tmp_path, ext):
    src = make_video(
        tmp_path / f"hdr.{ext}", frames=4, codec="libx265", bit_depth=10, colour="bt2020", x26x_params=HDR10,
        audio_tracks=0,
    )
    source_side = _hdr_side_data(src)
    assert len(source_side) == 2  # mastering display and content light level
    dst = tmp_path / f"out.{ext}"
    _, writer = upscale(src, dst)
    assert _hdr_side_data(dst) == source_side  # the same values, byte for byte
    assert writer.notes == []


@pytest.mark.parametrize("ext", ["ts", "m2ts"])
def test_transport_stream_audio_stays_readable_audio(tmp_path, ext):
    # A .m2ts name must not switch FFmpeg to Blu-ray packets, where AAC has no stream type.
    src = make_video(tmp_path / "src.mp4", frames=6)
    dst = tmp_path / f"out.{ext}"
    upscale(src, dst)
    assert [(s.kind, s.codec_name) for s in probe(dst).streams] == [("video", "h264"), ("audio", "aac")]


@pytest.mark.parametrize("ext", ["mpg", "vob"])
def test_mpeg_program_stream_gets_ac3_audio_of_the_same_length(tmp_path, ext):
    # MPEG-PS has no stream id for AAC: copied as is, the header could not be written.
    src = make_video(tmp_path / "src.mp4", frames=6)
    dst = tmp_path / f"out.{ext}"
    _, writer = upscale(src, dst)
    assert [(s.kind, s.codec_name) for s in probe(dst).streams] == [("video", "h264"), ("audio", "ac3")]
    assert any("transcoded to AC-3" in note for note in writer.notes)
    assert _audio_seconds(dst) == pytest.approx(_audio_seconds(src), abs=0.04)


def _audio_seconds(path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.rate


def test_surround_that_opus_cannot_take_as_is_is_remapped_not_fatal(tmp_path):
    # AC-3 5.1 with side channels (DVD rips) is not one of libopus's channel orders.
    src = make_video(tmp_path / "dvd.mkv", frames=6, audio_codec="ac3", audio_layout="5.1(side)")
    dst = tmp_path / "out.webm"
    upscale(src, dst, options=EncodeOptions(preset="ultrafast", crf=40))
    with av.open(str(dst)) as container:
        (audio,) = container.streams.audio
        assert audio.codec_context.name == "opus" and audio.codec_context.channels == 6


def test_webm_switches_to_vp9_and_opus_with_notes(media_dir, cfr_mp4):
    dst = media_dir / "out.webm"
    _, writer = upscale(cfr_mp4, dst, options=EncodeOptions(preset="ultrafast", crf=30))
    facts = video_stream_facts(dst)
    assert facts["codec"] == "vp9" and facts["size"] == (384, 256)
    assert [s.codec_name for s in probe(dst).streams] == ["vp9", "opus"]
    assert not any("libx264" in n for n in writer.notes)  # VP9 is WebM's default, not a fallback
    assert any("transcoded to Opus" in n for n in writer.notes)
    # VP9 has no aspect field and PyAV cannot set Matroska's: said, not silently lost.
    assert any("pixel aspect ratio 8:9" in n for n in writer.notes)
    src, out = read_frames(cfr_mp4), read_frames(dst)
    assert len(out.frames) == 12
    # WebM counts in milliseconds, so timestamps agree to the millisecond.
    assert np.allclose([float(s) for s in seconds(out)], [float(s) for s in seconds(src)], atol=1e-3)
    assert probe(dst).rotation == 90  # WebM stores the display matrix as Matroska does


def test_avi_gets_a_real_frame_rate_and_keeps_frame_order(media_dir):
    src = make_video(media_dir / "for_avi.mkv", frames=10, audio_tracks=0)
    dst = media_dir / "out.avi"
    _, writer = upscale(src, dst, EncodeOptions(preset="medium"))  # medium: B-frames, if allowed
    assert probe(dst).average_rate == 24  # not 1000 fps from MKV's millisecond time base
    assert any("AVI stores only a constant frame rate and no decode order" in n for n in writer.notes)
    # AVI has no decode order either: with B-frames the frames came back as 1, 3, 4, 2, ...
    with av.open(str(dst)) as container:
        stamps = [frame.pts for frame in container.decode(video=0)]
    assert stamps == sorted(stamps)
    assert not probe(dst).frames_exact  # an AVI's count is of time-base ticks
    a, b = read_frames(src).frames, read_frames(dst).frames
    assert len(b) == len(a)
    nearest = [int(np.argmin([np.abs(np.repeat(np.repeat(x, 4, 0), 4, 1) - y).mean() for x in a])) for y in b]
    assert nearest == list(range(len(a)))


def _avi_video_slots(path) -> list[int]:
    """AVI's only clock is a video chunk's place: its dts, one slot per frame period."""
    with av.open(str(path)) as container:
        return [packet.dts for packet in container.demux(video=0) if packet.size]


def test_avi_from_an_mp4_with_aac_priming_keeps_every_frame_in_its_slot(media_dir):
    """AAC starts 1024 samples before zero; FFmpeg's shift for it left slot 1 empty."""
    src = make_video(media_dir / "primed.mp4", frames=8)
    with av.open(str(src)) as container:
        assert next(container.demux(audio=0)).pts < 0  # the case this is about
    _, writer = upscale(src, media_dir / "primed.avi")
    assert _avi_video_slots(media_dir / "primed.avi") == list(range(8))
    assert not any("AVI cannot store that audio" in n for n in writer.notes)
    assert len(audio_packets(media_dir / "primed.avi")[1]) == len(audio_packets(src)[1])


@pytest.mark.parametrize(("moved", "words"), [(Fraction(1, 4), "0.25 s after the video: it will play 0.25 s early"),
                                              (Fraction(-1, 4), "0.25 s before the video: it will play 0.25 s late")])
def test_avi_says_when_it_cannot_keep_the_audio_offset(media_dir, moved, words):
    src = make_video(media_dir / "plain.mkv", frames=8, audio_codec="pcm_s16le")
    shifted = remux_later(src, media_dir / "moved.mkv", moved, kind="audio")
    info = probe(shifted)
    assert info.streams[1].start_s - float(info.start_pts * info.time_base) == pytest.approx(float(moved), abs=1e-3)
    _, writer = upscale(shifted, media_dir / "moved.avi")
    assert any(f"audio stream #1 starts {words}" in n for n in writer.notes), writer.notes
    assert _avi_video_slots(media_dir / "moved.avi") == list(range(8))


@pytest.mark.parametrize(("ext", "codec"), [(".avi", "libx264"), (".mkv", "mpeg4")])
def test_a_stream_half_a_frame_off_the_grid_keeps_one_tick_per_frame(media_dir, ext, codec):
    """Both outputs count in frame periods; 90 kHz stamps half a period off the grid
    (an MPEG-PS at 0.54 s) were rounded half to even, two frames onto one tick."""
    ts = make_video(media_dir / "grid.ts", frames=8, fps=25, audio_tracks=0)
    off = remux_later(ts, media_dir / "off-grid.ts", Fraction(1, 50))
    first = probe(off).start_pts
    assert first is not None and (first / 3600) % 1 == 0.5
    _, writer = upscale(off, media_dir / f"off-grid{ext}", EncodeOptions(preset="ultrafast", codec=codec))
    assert not any("nudged" in n for n in writer.notes), writer.notes
    with av.open(str(media_dir / f"off-grid{ext}")) as container:
        stamps = [frame.pts for frame in container.decode(video=0)]
    assert len(stamps) == 8 and len(set(np.diff(stamps))) == 1


@pytest.mark.parametrize("ext", [".avi", ".wmv"])
def test_avi_and_wmv_hold_one_time_per_frame_period(media_dir, ext):
    """Read with a codec FFmpeg times as it is stored: H.264 it reads a period late."""
    src = make_video(media_dir / "periods.mp4", frames=8, fps=25)
    dst = media_dir / f"periods{ext}"
    upscale(src, dst, EncodeOptions(codec="mpeg4"))
    with av.open(str(dst)) as container:
        video = container.streams.video[0]
        seconds = [float(frame.pts * video.time_base) for frame in container.decode(video)]
    assert np.allclose(np.array(seconds) - seconds[0], np.arange(8) / 25, atol=1e-3)


def test_asf_is_written_without_b_frames_so_frames_keep_their_order(media_dir):
    """ASF stores no decode order: B-frames came back as pts 40, 160, 120, 200, 80, ..."""
    src = make_video(media_dir / "for_asf.mp4", frames=12, audio_tracks=0)
    dst = media_dir / "out.wmv"
    _, writer = upscale(src, dst, EncodeOptions(preset="medium"))
    assert any("encoded without B-frames" in n for n in writer.notes)
    with av.open(str(dst)) as container:
        stamps = [frame.pts for frame in container.decode(video=0)]
    assert len(stamps) == 12 and stamps[:-1] == sorted(stamps[:-1])
    a, b = read_frames(src).frames, read_frames(dst).frames
    nearest = [int(np.argmin([np.abs(np.repeat(np.repeat(x, 4, 0), 4, 1) - y).mean() for x in a])) for y in b]
    assert nearest == list(range(len(a)))


def test_an_audio_file_with_cover_art_is_one_picture_not_its_duration_in_frames(media_dir):
    path = media_dir / "song.mp3"
    with av.open(str(path), "w", format="mp3") as container:
        audio = container.add_stream("libmp3lame", rate=48000)
        cover = container.add_stream("png")
        cover.width, cover.height, cover.pix_fmt = 32, 32, "rgb24"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 100, np.uint8), format="rgb24")
        for packet in [*cover.encode(picture), *cover.encode()]:
            container.mux(packet)
        for start in range(0, 48000 * 2, 1152):
            wave = np.sin(np.arange(start, start + 1152) / 48000 * 2 * np.pi * 440).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    info = probe(path)
    # Duration x its 90 kHz "rate" was 180,000 frames: the dry run promised that much work.
    assert (info.n_frames, info.frames_exact, info.cover_art) == (1, True, True)
    _, writer = upscale(path, media_dir / "song.mp4")
    assert any("only picture is its cover art" in n for n in writer.notes)
    assert len(read_frames(media_dir / "song.mp4").frames) == 1
    # Shown while the audio plays, as a video track of the file's length.
    from vsrt_cli.pipeline import upscale_video
    from tiny_models import tiny_model

    upscale_video(path, media_dir / "song_4x.mp4", tiny_model())
    with av.open(str(media_dir / "song_4x.mp4")) as container:
        video = container.streams.video[0]
        assert video.frames == 1 and float(video.duration * video.time_base) == pytest.approx(info.duration_s, abs=0.05)


@pytest.mark.parametrize("ext", sorted(_EXTENSIONS))
def test_stream_languages_titles_and_the_title_are_kept_or_said_lost(media_dir, ext):
    """The container table against what FFmpeg's muxer really keeps, and the note."""
    format_name = _EXTENSIONS[ext]
    src = media_dir / "named.mkv"
    if not src.exists():
        make_video(src, frames=3, audio_tracks=2, title="Film")  # tracks eng "Tone 1", deu "Tone 2"
    dst = media_dir / f"named_out{ext}"
    _, writer = upscale(src, dst)
    with av.open(str(dst)) as container:
        tags = container.streams.audio[0].metadata
        assert (tags.get("language") is not None) == keeps_stream_language(format_name)
        assert ((tags.get("title") or tags.get("name")) == "Tone 1") == keeps_stream_title(format_name)
        assert (container.metadata.get("title") == "Film") == keeps_file_title(format_name)
    noted = [n for n in writer.notes if "cannot store" in n and "use .mkv to keep them" in n]
    kept = keeps_stream_language(format_name) and keeps_stream_title(format_name) and keeps_file_title(format_name)
    assert len(noted) == (0 if kept else 1)
    if not keeps_stream_language(format_name):
        assert "stream languages (eng, deu)" in noted[0]


def test_rotation_that_the_container_cannot_store_is_noted(media_dir, cfr_mp4):
    dst = media_dir / "rotated.ts"
    _, writer = upscale(cfr_mp4, dst)
    assert probe(dst).rotation == 0
    assert any("90-degree rotation" in n for n in writer.notes)


def test_start_offset_survives_ts_to_mp4(media_dir):
    src = make_video(media_dir / "offset.ts", frames=8)
    dst = media_dir / "offset_out.mp4"
    upscale(src, dst)
    a, b = read_frames(src), read_frames(dst)
    assert a.pts[0] > 0  # MPEG-TS starts video after the audio's priming delay
    assert seconds(b) == seconds(a)


def test_ten_bit_stays_ten_bit_with_precision(media_dir):
    def grey_ramp(width, height, index):
        ramp = 0.1 + 0.8 * np.arange(width * height, dtype=np.float64).reshape(height, width) / (width * height)
        return np.repeat(ramp[..., None], 3, axis=2).astype(np.float32)

    src = make_video(media_dir / "deep.mkv", frames=3, bit_depth=10, content=grey_ramp, crf=0, audio_tracks=0)
    assert probe(src).bit_depth == 10
    dst = media_dir / "deep_out.mkv"
    upscale(src, dst, options=EncodeOptions(preset="ultrafast", crf=0))
    assert video_stream_facts(dst)["pix_fmt"] == "yuv420p10le"
    with VideoReader(src) as r:
        source_frames = [f.rgb for f in r]
    with VideoReader(dst) as r:
        output_frames = [f.rgb for f in r]
    expected = np.repeat(np.repeat(source_frames[1], 4, axis=0), 4, axis=1)
    got = output_frames[1]
    # Half a 10-bit limited-range code is 1/1752; 8 bits would be four times coarser.
    assert np.abs(got - expected).max() < 1.0e-3
    assert len(np.unique(np.round(got[..., 1] * 876))) > 400


def test_odd_sized_source(media_dir):
    src = make_video(media_dir / "odd.mp4", width=97, height=61, frames=4, audio_tracks=0)
    dst = media_dir / "odd_out.mp4"
    upscale(src, dst)
    assert video_stream_facts(dst)["size"] == (388, 244)
    same_size = media_dir / "odd_same.mp4"
    _, writer = upscale(src, same_size, scale=1)
    assert video_stream_facts(same_size)["pix_fmt"] == "yuv444p"
    assert any("97x61" in n for n in writer.notes)


def test_untagged_sd_source_is_tagged_bt601_in_the_output(media_dir):
    src = make_video(media_dir / "untagged.mkv", colour=None, frames=3, audio_tracks=0)
    assert probe(src).colour.matrix == "unknown"
    dst = media_dir / "untagged_out.mkv"
    _, writer = upscale(src, dst)
    assert video_stream_facts(dst)["tags"][:2] == (6, 1)  # smpte170m, limited
    assert any("BT.601" in n for n in writer.notes)


def test_full_range_source_stays_full_range(media_dir):
    src = make_video(media_dir / "jpeg.mp4", full_range=True, colour="bt601", frames=3, audio_tracks=0)
    assert probe(src).colour.full_range
    dst = media_dir / "jpeg_out.mp4"
    upscale(src, dst)
    assert video_stream_facts(dst)["tags"][:2] == (6, 2)
    a, b = read_frames(src), read_frames(dst)
    expected = np.repeat(np.repeat(a.frames[1], 4, axis=0), 4, axis=1)
    assert np.abs(b.frames[1] - expected).mean() < 4 / 255


def test_writer_without_source_and_pts(media_dir):
    dst = media_dir / "plain.mkv"
    with VideoWriter(dst, width=64, height=48, options=FAST, frame_rate=Fraction(25)) as writer:
        for i in range(5):
            writer.write(np.full((48, 64, 3), i / 5, np.float32))
    out = read_frames(dst)
    assert len(out.frames) == 5
    assert [float(s) for s in seconds(out)] == pytest.approx([0, 0.04, 0.08, 0.12, 0.16], abs=1e-3)
    assert stream_kinds(dst) == ["video"]


def test_converted_frames_are_the_size_the_writer_reports_and_encode_alike(media_dir):
    """The pipeline converts in one thread and encodes in another: same file as write()."""
    frames = [np.full((48, 64, 3), i / 5, np.float32) for i in range(4)]
    files = []
    for name, split in (("whole.mkv", False), ("split.mkv", True)):
        files.append(media_dir / name)
        with VideoWriter(files[-1], width=64, height=48, options=FAST, frame_rate=Fraction(25)) as writer:
            for rgb in frames:
                if split:
                    frame = writer.convert(rgb)
                    assert sum(p.buffer_size for p in frame.planes) == writer.frame_bytes()
                    writer.write_frame(frame)
                else:
                    writer.write(rgb)
    whole, split = (read_frames(f).frames for f in files)
    assert len(whole) == len(split) == 4
    assert all(np.array_equal(a, b) for a, b in zip(whole, split))


def test_conversion_threads_end_with_the_writer(media_dir, monkeypatch):
    import threading

    from vsrt_cli.video import writer as writer_module

    monkeypatch.setattr(writer_module, "convert_threads", lambda: 3)
    live = lambda: [t for t in threading.enumerate() if t.name.startswith("vsrt-convert")]  # noqa: E731
    frame = np.random.default_rng(0).random((300, 64, 3), dtype=np.float32)  # 3 bands
    with VideoWriter(media_dir / "pooled.mkv", width=64, height=300, options=FAST, frame_rate=Fraction(25)) as writer:
        writer.write(frame)
        assert live()
    assert not live()
    failing = VideoWriter(media_dir / "aborted.mkv", width=64, height=300, options=FAST, frame_rate=Fraction(25))
    failing.write(frame)
    failing.abort()
    assert not live()


def test_non_increasing_timestamps_are_repaired_with_a_note(media_dir):
    dst = media_dir / "nudged.mp4"
    with VideoWriter(dst, width=32, height=32, options=FAST, frame_rate=Fraction(10)) as writer:
        for pts in (0, 1, 1, 3):
            writer.write(np.zeros((32, 32, 3), np.float32), pts=pts, duration=1)
    assert len(read_frames(dst).frames) == 4
    assert any("nudged" in n for n in writer.notes)


def test_copy_streams_off_writes_video_only(media_dir, mkv_rich):
    dst = media_dir / "video_only.mkv"
    info = probe(mkv_rich)
    with VideoWriter(dst, source=info, width=96, height=64, options=FAST, copy_streams=False) as writer:
        with VideoReader(mkv_rich) as reader:
            for frame in reader:
                writer.write(frame.rgb, pts=frame.pts, duration=frame.duration)
    assert stream_kinds(dst) == ["video"]
