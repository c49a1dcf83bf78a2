"""Training data: camera paths over photos, the BI degradation, video decoding and sources.

The media are generated here (natural-looking images and small MJPEG videos); nothing is
read from ../shared.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import av
import numpy as np


def natural_image(height: int, width: int, seed: int) -> np.ndarray:
    """An HxWx3 uint8 image with 1/f texture, gradients, gratings and sharp shapes."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    radius = np.sqrt(fx * fx + fy * fy)
    radius[0, 0] = 1.0
    image = np.zeros((height, width, 3))
    for c in range(3):
        spectrum = (rng.normal(size=(height, width)) + 1j * rng.normal(size=(height, width))) / radius**1.1
        spectrum[0, 0] = 0
        texture = np.real(np.fft.ifft2(spectrum))
        image[..., c] = texture / (np.abs(texture).max() + 1e-9)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    image += 0.4 * (cols / width - 0.5)[..., None] * rng.uniform(-1, 1, 3)
    for _ in range(3):
        angle, period = rng.uniform(0, np.pi), rng.uniform(6, 30)
        phase = (np.cos(angle) * cols + np.sin(angle) * rows) * 2 * np.pi / period
        image += 0.15 * np.sin(phase)[..., None] * rng.uniform(0.3, 1.0, 3)
    for _ in range(6):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(5, min(height, width) / 5)
        mask = (rows - cy) ** 2 + (cols - cx) ** 2 < r * r
        image[mask] = rng.uniform(-0.8, 0.8, 3)
    image = 0.5 + 0.35 * image
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)


def write_image(path: Path, rgb: np.ndarray, codec: str = "png", pix_fmt: str = "rgb24") -> None:
    with av.open(str(path), mode="w", format="image2") as container:
        stream = container.add_stream(codec)
        stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], pix_fmt
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_mjpeg_avi(path: Path, frames: list[np.ndarray]) -> None:
    """An MJPEG AVI: every frame is a self-contained JPEG, so damage stays local."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def damage_mjpeg_frames(path: Path, which: tuple[int, ...]) -> None:
    """Zero the JPEG payload of the listed frames (keeping the AVI chunk framing), so the
    container still demuxes but those packets no longer decode."""
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    for k in which:
        begin, end = starts[k], starts[k + 1] - 8  # 8 bytes: the next AVI chunk header
        data[begin:end] = bytes(end - begin)
    path.write_bytes(bytes(data))


def panning_frames(count: int, height: int, width: int, seed: int, step: int = 3) -> list[np.ndarray]:
    """``count`` crops of one natural image, each ``step`` pixels right of the last."""
    big = natural_image(height, width + step * count, seed)
    return [np.ascontiguousarray(big[:, i * step : i * step + width]) for i in range(count)]


# -- the tests ----------------------------------------------------------------------------

import dataclasses  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from vsrt_cli.quality.imresize import bicubic_downscale_uint8, imresize  # noqa: E402
from vsrt_cli.training.camera import render_path, sample_camera_path  # noqa: E402
from vsrt_cli.training.config import DataConfig  # noqa: E402
from vsrt_cli.training.data import TrainingData, augment, decode_video  # noqa: E402
from vsrt_cli.training.degradation import degrade, shrink  # noqa: E402


def _phase_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sub-pixel (dy, dx) such that b(p) ~= a(p - d), by phase correlation."""
    window = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa, fb = np.fft.fft2(a * window), np.fft.fft2(b * window)
    cross = fb * np.conj(fa)
    surface = np.real(np.fft.ifft2(cross / (np.abs(cross) + 1e-12)))
    peak = np.unravel_index(np.argmax(surface), surface.shape)
    shift = []
    for axis, size in enumerate(surface.shape):
        idx = list(peak)
        values = []
        for delta in (-1, 0, 1):
            idx[axis] = (peak[axis] + delta) % size
            values.append(surface[tuple(idx)])
        left, centre, right = values
        offset = 0.5 * (left - right) / (left - 2 * centre + right)
        position = peak[axis] + offset
        shift.append(position - size if position > size / 2 else position)
    return np.array(shift)


def _grey(frame: torch.Tensor) -> np.ndarray:
    return frame.mean(dim=0).double().numpy()


def test_phase_shift_estimator_reads_a_known_shift():
    image = natural_image(128, 128, seed=5).mean(axis=-1)
    moved = np.roll(image, shift=(2, -3), axis=(0, 1))
    assert np.allclose(_phase_shift(image, moved), [2, -3], atol=0.05)


def test_camera_path_frames_move_smoothly_by_the_planned_amount():
    photo = shrink(natural_image(900, 1100, seed=1), 2)
    config = DataConfig(
        min_speed=2.0, max_speed=6.0, max_accel=0.2,
        max_zoom_rate=0.0, max_spin_deg=0.0, max_tilt_deg=0.0, min_zoom=1.0, max_zoom=1.2,
    )
    for seed in range(4):
        rng = np.random.default_rng(seed)
        path = sample_camera_path(rng, 5, photo.shape[0], photo.shape[1], 256, config)
        frames = render_path(photo, path, 256)
        assert frames.shape == (5, 3, 256, 256)
        # Content moves against the camera, by the centre's step in GT pixels.
        planned = -np.diff(path.centres, axis=0)[:, ::-1] / path.scales[0]
        measured = np.array([_phase_shift(_grey(frames[t]), _grey(frames[t + 1])) for t in range(4)])
        assert np.allclose(measured, planned, atol=0.25), (measured, planned)
        speeds = np.linalg.norm(measured, axis=1)
        bound = config.max_speed + 2 * config.max_accel * np.sqrt(2)
        assert np.all(speeds > 1.0) and np.all(speeds < bound + 0.3), speeds
        # Smooth: the step changes by at most the acceleration from frame to frame.
        assert np.all(np.linalg.norm(np.diff(measured, axis=0), axis=1) < config.max_accel * np.sqrt(2) + 0.3)


def test_default_camera_paths_stay_inside_the_photo_and_keep_moving():
    height, width = 400, 520
    config = DataConfig()
    for seed in range(50):
        path = sample_camera_path(np.random.default_rng(seed), 5, height, width, 256, config)
        corners = path.corners(256)
        assert corners[..., 0].min() >= 2 and corners[..., 0].max() <= width - 3
        assert corners[..., 1].min() >= 2 and corners[..., 1].max() <= height - 3
        assert np.all(path.scales >= config.min_zoom - 1e-12)
        # A steady geometric zoom: constant ratio between consecutive frames.
        assert np.allclose(np.diff(np.log(path.scales), 2), 0, atol=1e-12)
        # Corner motion per frame, in GT pixels: some, and never a jump.
        step = np.linalg.norm(np.diff(corners, axis=0), axis=-1) / path.scales[:-1, None]
        assert step.max() > 0.05
        assert step.max() < config.max_speed + 4 * config.max_accel + 6.0


def test_lr_is_exactly_matlab_bicubic_of_the_gt_rounded():
    gt_uint8 = np.stack([natural_image(96, 128, seed=s) for s in range(3)])
    gt = torch.from_numpy(gt_uint8).permute(0, 3, 1, 2).float() / 255.0
    lr = degrade(gt)
    assert lr.shape == (3, 3, 24, 32)
    for t in range(3):
        expected = bicubic_downscale_uint8(gt_uint8[t], 4)
        got = torch.round(lr[t] * 255).to(torch.uint8).permute(1, 2, 0).numpy()
        assert np.array_equal(got, expected)
    # Rounded, not the raw resize: every value is a uint8 level, and some moved.
    assert torch.equal(torch.round(lr * 255), lr * 255)
    raw = imresize(gt.double(), 0.25)
    assert 0 < (raw - lr.double()).abs().max() <= 0.5 / 255 + 1e-9


def test_shrink_in_tiles_equals_one_shot_imresize():
    image = natural_image(301, 555, seed=2)
    chw = torch.from_numpy(image).permute(2, 0, 1).double()
    for factor in (2, 3):
        one_shot = torch.floor(imresize(chw, 1 / factor).clamp(0, 255) + 0.5).to(torch.uint8)
        assert np.array_equal(shrink(image, factor), one_shot.permute(1, 2, 0).numpy())


def test_augment_only_flips_transposes_and_reverses():
    clip = torch.arange(3 * 3 * 4 * 4, dtype=torch.float32).view(3, 3, 4, 4)
    seen = set()
    for seed in range(200):
        out = augment(clip, np.random.default_rng(seed))
        matches = []
        for reverse in (False, True):
            base = clip.flip(0) if reverse else clip
            for k in range(4):
                for mirror in (False, True):
                    candidate = torch.rot90(base.flip(-1) if mirror else base, k, dims=(-2, -1))
                    if torch.equal(out, candidate):
                        matches.append((reverse, k, mirror))
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == 16  # every symmetry of the square, both time directions


def test_decode_video_skips_damaged_frames_and_marks_the_break(tmp_path):
    path = tmp_path / "damaged.avi"
    write_mjpeg_avi(path, panning_frames(12, 48, 64, seed=3))
    damage_mjpeg_frames(path, (4, 5))
    decoded = list(decode_video(path))
    segments = [s for s, _ in decoded]
    assert len(decoded) == 10
    assert segments[:4] == [segments[0]] * 4 and len(set(segments[4:])) == 1
    assert segments[4] > segments[3]


def _photo_dir(tmp_path, count=3, size=(360, 420)):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(count):
        write_image(folder / f"p{i}.png", natural_image(*size, seed=10 + i))
    return folder


def test_training_data_windows_never_cross_a_break_and_held_out_clips_are_skipped(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    frames = panning_frames(12, 84, 92, seed=4)
    write_mjpeg_avi(videos / "pan.avi", frames)
    damage_mjpeg_frames(videos / "pan.avi", (4,))
    # A held-out clip must never be trained on, even when a config forgets to exclude it.
    write_mjpeg_avi(videos / "cockatoo.mp4", frames)
    config = DataConfig(
        videos=str(videos), exclude=(), gt_size=64, video_fraction=1.0,
        video_downscale=1.0, min_video_downscale=1.0, cache_dir=str(tmp_path / "cache"),
    )
    notes = []
    data = TrainingData(config, num_frames=3, log=notes.append)
    assert [v.name for v in data.videos] == ["pan.avi"]
    source = data.videos[0]
    assert len(source.frames) == 11
    # Frames 0-3 and 5-11 of the source survive; a window may not straddle the hole.
    assert list(source.starts) == [0, 1, 4, 5, 6, 7, 8]
    # The cache is used on the second load and gives identical arrays.
    again = TrainingData(config, num_frames=3, log=notes.append)
    assert np.array_equal(np.asarray(again.videos[0].frames), np.asarray(source.frames))
    lr, gt = data.batch(seed=1, step=0, batch_size=2)
    assert gt.shape == (2, 3, 3, 64, 64) and lr.shape == (2, 3, 3, 16, 16)


def test_data_cache_follows_file_contents_not_paths_or_mtimes(tmp_path):
    photos = _photo_dir(tmp_path, count=1)
    cache = tmp_path / "cache"
    config = DataConfig(photos=str(photos), gt_size=64, video_fraction=0.0, cache_dir=str(cache))
    TrainingData(config, num_frames=3, log=lambda _: None)
    first = sorted(p.name for p in cache.iterdir())
    assert len(first) == 1
    # A remounted or copied data folder (new mtimes, new path) reuses the cached array.
    moved = tmp_path / "moved"
    shutil.copytree(photos, moved)
    os.utime(moved / "p0.png", (1, 1))
    TrainingData(dataclasses.replace(config, photos=str(moved)), num_frames=3, log=lambda _: None)
    assert sorted(p.name for p in cache.iterdir()) == first
    # New contents under the same name replace the old entry instead of piling up beside it.
    write_image(moved / "p0.png", natural_image(200, 180, seed=99))
    data = TrainingData(dataclasses.replace(config, photos=str(moved)), num_frames=3, log=lambda _: None)
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) == 1 and entries != first
    assert data.photos[0].image.shape[:2] == (100, 90)
    # A different file that shares the stem keeps its own entry beside it.
    write_image(moved / "p0.bmp", natural_image(200, 180, seed=98), codec="bmp", pix_fmt="bgr24")
    TrainingData(dataclasses.replace(config, photos=str(moved)), num_frames=3, log=lambda _: None)
    assert len(list(cache.iterdir())) == 2


def test_batches_are_a_function_of_seed_and_step_and_lr_matches_gt(tmp_path):
    config = DataConfig(photos=str(_photo_dir(tmp_path)), gt_size=64, video_fraction=0.0)
    data = TrainingData(config, num_frames=3, log=lambda _: None)
    lr, gt = data.batch(seed=7, step=3, batch_size=2)
    lr2, gt2 = data.batch(seed=7, step=3, batch_size=2)
    lr3, _ = data.batch(seed=7, step=4, batch_size=2)
    assert torch.equal(lr, lr2) and torch.equal(gt, gt2)
    assert not torch.equal(lr, lr3)
    assert torch.equal(torch.round(gt * 255), gt * 255)
    # The LR is the interior of a degraded larger crop: inside, it is the resize of this
    # GT; on its 2 outer pixels the resize saw real context, not this GT's mirrored edge.
    inner = (..., slice(2, -2), slice(2, -2))
    assert torch.equal(lr[inner], degrade(gt)[inner])
    assert not torch.equal(lr, degrade(gt))
    # Consecutive GT frames differ (the camera moves) but stay alike (it moves a little).
    step_diff = (gt[:, 1:] - gt[:, :-1]).abs().mean()
    other_diff = (gt[0] - gt[1].flip(-1)).abs().mean()
    assert 0 < step_diff < other_diff


def test_data_config_rejects_unknown_fields():
    with pytest.raises(Exception, match="unknown data config fields: colour"):
        DataConfig.from_dict({"colour": 1})
    assert dataclasses.replace(DataConfig(), gt_size=128).gt_size == 128


def test_photo_clips_draw_from_every_listed_shrink(tmp_path, monkeypatch):
    folder = _photo_dir(tmp_path, count=2)
    write_image(folder / "small.png", natural_image(240, 264, seed=30))
    notes = []
    config = DataConfig(photos=str(folder), gt_size=64, video_fraction=0.0, photo_downscale=(2, 3))
    data = TrainingData(config, num_frames=3, log=notes.append)
    shapes = sorted((p.name, p.factor, p.image.shape[:2]) for p in data.photos)
    assert shapes == [
        ("p0.png", 2, (180, 210)), ("p0.png", 3, (120, 140)),
        ("p1.png", 2, (180, 210)), ("p1.png", 3, (120, 140)),
        ("small.png", 2, (120, 132)),
    ]
    # 80x88 at /3 is smaller than a crop plus its margin: skipped there, kept at /2.
    assert any("small.png at /3" in note for note in notes)
    assert [len(group) for group, _ in data.photo_groups] == [3, 2]
    assert "3 at /2" in data.describe() and "2 at /3" in data.describe()

    drawn = []
    import vsrt_cli.training.data as data_module

    def recording_render(image, path, size):
        drawn.append(image.shape[0])
        return render_path(image, path, size)

    monkeypatch.setattr(data_module, "render_path", recording_render)
    data.batch(seed=0, step=0, batch_size=24)
    assert set(drawn) == {120, 180}


def test_a_single_shrink_as_a_list_draws_the_same_batches_as_the_number(tmp_path):
    folder = _photo_dir(tmp_path, count=2)
    number = TrainingData(DataConfig(photos=str(folder), gt_size=64, video_fraction=0.0), 3, log=lambda _: None)
    listed = TrainingData(
        DataConfig.from_dict({"photos": str(folder), "gt_size": 64, "video_fraction": 0.0, "photo_downscale": [2]}),
        3, log=lambda _: None,
    )
    for a, b in zip(number.batch(seed=5, step=2, batch_size=2), listed.batch(seed=5, step=2, batch_size=2)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("value", [[], [2, 2], [2, 2.5], 0, True, "2"])
def test_data_config_rejects_bad_photo_shrinks(value):
    with pytest.raises(Exception, match="data.photo_downscale"):
        DataConfig.from_dict({"photo_downscale": value})
