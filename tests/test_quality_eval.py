"""End-to-end ``vsrt eval`` on tiny generated clips (frame folders and a lossless video)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import av
import numpy as np
import pytest

from vsrt_cli.cli import main
from vsrt_cli.errors import InputError, UsageError
from vsrt_cli.quality.clips import discover_clips, read_image, write_png
from vsrt_cli.quality.evaluate import bicubic_baseline_report, evaluate
from vsrt_cli.quality.imresize import bicubic_downscale_uint8, imresize_np, round_to_uint8
from vsrt_cli.quality.metrics import psnr, ssim


def _scene(h: int, w: int, frames: int, seed: int) -> list[np.ndarray]:
    """A panning camera over sky gradient, textured objects and sensor noise."""
    rng = np.random.default_rng(seed)
    big_h, big_w = h + 4 * frames, w + 6 * frames
    yy, xx = np.mgrid[0:big_h, 0:big_w].astype(np.float64)
    img = np.empty((big_h, big_w, 3))
    img[..., 0] = 90 + 80 * yy / big_h
    img[..., 1] = 140 + 40 * yy / big_h
    img[..., 2] = 220 - 60 * yy / big_h
    for _ in range(6):
        cy, cx = rng.uniform(0, big_h), rng.uniform(0, big_w)
        r = rng.uniform(6, 18)
        colour = rng.uniform(30, 230, 3)
        stripes = 1 + 0.25 * np.sin((xx * rng.uniform(0.3, 1.2) + yy * rng.uniform(0.3, 1.2)))
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[inside] = (colour[None, :] * stripes[inside][:, None])
    img += rng.normal(0, 3, img.shape)
    img = np.clip(img, 0, 255).round().astype(np.uint8)
    return [img[4 * t:4 * t + h, 6 * t:6 * t + w].copy() for t in range(frames)]


def _write_clip(folder: Path, frames: list[np.ndarray]) -> None:
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):
        write_png(folder / f"{i:08d}.png", frame)


def _write_ffv1(path: Path, frames: list[np.ndarray]) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "bgr0"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _expected_bicubic(frames: list[np.ndarray], rgb: bool = False) -> dict[str, float]:
    per = {"bicubic_psnr_y": [], "bicubic_ssim_y": [], "bicubic_psnr_rgb": [], "bicubic_ssim_rgb": []}
    for gt in frames:
        gt = gt[: gt.shape[0] // 4 * 4, : gt.shape[1] // 4 * 4]
        up = round_to_uint8(imresize_np(bicubic_downscale_uint8(gt), 4))
        per["bicubic_psnr_y"].append(psnr(gt, up))
        per["bicubic_ssim_y"].append(ssim(gt, up))
        per["bicubic_psnr_rgb"].append(psnr(gt, up, y_channel=False))
        per["bicubic_ssim_rgb"].append(ssim(gt, up, y_channel=False))
    return {k: float(np.mean(v)) for k, v in per.items()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("gt")
    clips = {
        "calendar": _scene(48, 64, 3, seed=1),
        "walk": _scene(48, 64, 4, seed=2),
    }
    _write_clip(root / "calendar", clips["calendar"])
    _write_clip(root / "walk", clips["walk"])
    return root, clips


def _run_cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_eval_json_bicubic_only_is_mean_of_clip_means(dataset, capsys):
    root, clips = dataset
    code, out, err = _run_cli(capsys, "eval", str(root), "--bicubic-only", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["model"] is None
    assert [c["name"] for c in report["clips"]] == ["calendar", "walk"]
    assert [c["frames"] for c in report["clips"]] == [3, 4]
    assert report["frames"] == 7
    assert report["clips"][0]["lr_size"] == [12, 16] and report["clips"][0]["gt_size"] == [48, 64]
    for clip in report["clips"]:
        want = _expected_bicubic(clips[clip["name"]])
        assert clip["psnr_y"] is None
        assert clip["bicubic_psnr_y"] == pytest.approx(want["bicubic_psnr_y"], abs=1e-9)
        assert clip["bicubic_ssim_y"] == pytest.approx(want["bicubic_ssim_y"], abs=1e-9)
        assert len(clip["per_frame"]["bicubic_psnr_y"]) == clip["frames"]
        # Content with edges and noise: bicubic x4 is clearly lossy but not garbage.
        assert 18 < clip["bicubic_psnr_y"] < 40
        assert 0.3 < clip["bicubic_ssim_y"] < 0.98
    per_clip = [c["bicubic_psnr_y"] for c in report["clips"]]
    assert report["means"]["bicubic_psnr_y"] == pytest.approx(np.mean(per_clip), abs=1e-12)
    all_frames = report["clips"][0]["per_frame"]["bicubic_psnr_y"] + report["clips"][1]["per_frame"]["bicubic_psnr_y"]
    # Unequal clip lengths make the two aggregations differ, so this pins the protocol.
    assert abs(np.mean(all_frames) - np.mean(per_clip)) > 1e-6
    assert report["settings"]["crop_border"] == 0 and report["settings"]["rgb"] is False


def test_given_lr_dir_matches_generated_lr_and_rgb_is_reported(dataset, tmp_path):
    root, clips = dataset
    lr_root = tmp_path / "lr"
    for name, frames in clips.items():
        _write_clip(lr_root / name, [bicubic_downscale_uint8(f) for f in frames])
    given = evaluate(root, lr_root, rgb=True)
    generated = bicubic_baseline_report(root, rgb=True)
    for a, b in zip(given.clips, generated.clips):
        assert a.bicubic_psnr_y == b.bicubic_psnr_y
        assert a.bicubic_ssim_rgb == b.bicubic_ssim_rgb
    want = _expected_bicubic(clips["walk"])
    walk = given.clips[1]
    assert walk.bicubic_psnr_rgb == pytest.approx(want["bicubic_psnr_rgb"], abs=1e-9)
    assert walk.bicubic_ssim_rgb == pytest.approx(want["bicubic_ssim_rgb"], abs=1e-9)
    assert set(given.means) == {"bicubic_psnr_y", "bicubic_ssim_y", "bicubic_psnr_rgb", "bicubic_ssim_rgb"}


def test_crop_border_and_max_frames(dataset):
    root, clips = dataset
    report = evaluate(root, crop_border=4, max_frames=2)
    assert [c.frames for c in report.clips] == [2, 2]
    gt = clips["walk"][1]
    up = round_to_uint8(imresize_np(bicubic_downscale_uint8(gt), 4))
    assert report.clips[1].per_frame["bicubic_psnr_y"][1] == pytest.approx(psnr(gt, up, crop_border=4), abs=1e-12)


def test_video_clip_and_mod_crop(tmp_path):
    frames = _scene(50, 66, 3, seed=5)  # not multiples of 4: GT is trimmed to 48x64
    _write_ffv1(tmp_path / "pan.mkv", frames)
    clips = discover_clips(tmp_path)
    assert [c.name for c in clips] == ["pan"] and clips[0].is_video
    assert all(np.array_equal(a, b) for a, b in zip(clips[0].frames(), frames))
    report = evaluate(tmp_path)
    clip = report.clips[0]
    assert clip.frames == 3 and clip.gt_cropped and clip.gt_size == (48, 64)
    assert clip.bicubic_psnr_y == pytest.approx(_expected_bicubic(frames)["bicubic_psnr_y"], abs=1e-9)


def test_a_trimmed_gt_is_said_and_a_gt_that_changes_size_is_named(tmp_path, capsys):
    (tmp_path / "ok").mkdir()
    _write_ffv1(tmp_path / "ok" / "pan.mkv", _scene(50, 66, 3, seed=5))
    code, out, err = _run_cli(capsys, "eval", str(tmp_path / "ok"), "--bicubic-only")
    assert code == 0 and "note: clip pan: GT trimmed to 64x48, a multiple of 4" in err

    clip = tmp_path / "bad" / "walk"
    _write_clip(clip, _scene(32, 32, 2, seed=1) + _scene(48, 32, 1, seed=2))
    code, out, err = _run_cli(capsys, "eval", str(tmp_path / "bad"), "--bicubic-only")
    # The frames the user gave, not the LR frames vsrt made from them.
    assert code == InputError.exit_code and "clip walk: GT frame 2 is 32x48, frame 0 is 32x32" in err


def test_frames_sort_naturally(tmp_path):
    frames = _scene(16, 16, 3, seed=6)
    folder = tmp_path / "clip"
    folder.mkdir()
    for name, frame in zip(["im2.png", "im10.png", "im1.png"], [frames[1], frames[2], frames[0]]):
        write_png(folder / name, frame)
    (clip,) = discover_clips(tmp_path)
    assert [p.name for p in clip.frame_paths] == ["im1.png", "im2.png", "im10.png"]
    assert all(np.array_equal(a, b) for a, b in zip(clip.frames(), frames))


def test_table_output(dataset, capsys, monkeypatch):
    root, _ = dataset
    monkeypatch.setenv("COLUMNS", "200")  # keep headers on one line whatever the terminal
    code, out, err = _run_cli(capsys, "eval", str(root), "--bicubic-only", "--rgb")
    assert code == 0, err
    for needle in ("calendar", "walk", "Mean", "Bic PSNR-Y", "Bic SSIM-RGB"):
        assert needle in out  # the result goes to stdout: `vsrt eval ... > scores.txt`


@pytest.mark.parametrize(
    "option",
    [["--precision", "bogus"], ["--device", "bogus"], ["--window-stride", "9"], ["--tile-overlap", "64"]],
)
def test_a_bad_option_value_is_a_usage_error_before_any_clip_is_read(tmp_path, capsys, option):
    # The GT folder holds no clip at all: the option is what is wrong, and is said first.
    code, out, err = _run_cli(capsys, "eval", str(tmp_path), *option)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsrt: error:") and "no clips" not in lines[0]


def test_errors_are_one_line_with_exit_codes(tmp_path, capsys, dataset):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = _run_cli(capsys, "eval", str(empty), "--bicubic-only")
    assert code == UsageError.exit_code and "no clips found" in err and out == ""
    assert err.lstrip().startswith("vsrt: error: no clips found")

    bad = tmp_path / "bad" / "clip"
    bad.mkdir(parents=True)
    (bad / "0001.png").write_bytes(b"\x89PNG not really")
    code, _, err = _run_cli(capsys, "eval", str(tmp_path / "bad"), "--bicubic-only")
    assert code == InputError.exit_code and "cannot read frame" in err

    root, clips = dataset
    wrong = tmp_path / "wrong_lr"
    for name, frames in clips.items():
        _write_clip(wrong / name, [f[::2, ::2] for f in frames])  # x2, not x4
    code, _, err = _run_cli(capsys, "eval", str(root), "--lr", str(wrong), "--bicubic-only")
    assert code == InputError.exit_code and "LR x4" in err

    other = tmp_path / "other_lr"
    _write_clip(other / "city", [bicubic_downscale_uint8(f) for f in clips["walk"]])
    with pytest.raises(InputError, match="no LR clip .* calendar, walk"):
        evaluate(root, other)


def test_png_roundtrip_is_lossless(tmp_path):
    frame = _scene(20, 24, 1, seed=7)[0]
    write_png(tmp_path / "f.png", frame)
    assert np.array_equal(read_image(tmp_path / "f.png"), frame)
    assert not math.isnan(float(frame.mean()))


def _identity_residual_model():
    """A real (tiny) VSRTransformer whose learned branch outputs zero.

    The network then returns exactly its bilinear x4 skip connection, which
    gives the evaluation an expected result computed without the model.
    """
    torch = pytest.importorskip("torch")
    from vsrt_cli.models import VSRTConfig, VSRTransformer

    config = VSRTConfig(num_frames=3, channels=8, tile_size=16, depth=1, extract_blocks=1,
                        feedforward_blocks=1, reconstruct_blocks=1, self_flow="zero")
    model = VSRTransformer(config)
    with torch.no_grad():
        model.conv_last.weight.zero_()
        model.conv_last.bias.zero_()
    return model


def _expected_bilinear(frames: list[np.ndarray]) -> tuple[list[float], list[float]]:
    """Per-frame Y PSNR/SSIM of bilinear x4 (what the zero-branch model outputs)."""
    import torch
    import torch.nn.functional as F

    from vsrt_cli.quality.metrics import to_uint8

    psnrs, ssims = [], []
    for gt in frames:
        lr = bicubic_downscale_uint8(gt).astype(np.float32) / np.float32(255.0)
        up = F.interpolate(torch.from_numpy(lr).permute(2, 0, 1)[None], scale_factor=4,
                           mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
        sr = to_uint8(up)
        psnrs.append(psnr(gt, sr))
        ssims.append(ssim(gt, sr))
    return psnrs, ssims


def test_model_scores_go_through_inference(tmp_path):
    from vsrt_cli.inference import InferenceOptions

    frames = _scene(64, 64, 4, seed=8)  # LR 16x16 = one tile, so no seams
    _write_clip(tmp_path / "gt" / "pan", frames)
    report = evaluate(tmp_path / "gt", model=_identity_residual_model(),
                      inference_options=InferenceOptions(device="cpu", precision="fp32"))
    clip = report.clips[0]
    assert report.model == "VSRTransformer" and clip.frames == 4 and clip.model_seconds > 0

    want_psnr, want_ssim = _expected_bilinear(frames)
    # Per-frame equality also proves outputs are matched to the right GT frame.
    np.testing.assert_allclose(clip.per_frame["psnr_y"], want_psnr, rtol=0, atol=1e-9)
    np.testing.assert_allclose(clip.per_frame["ssim_y"], want_ssim, rtol=0, atol=1e-9)
    assert clip.psnr_y == pytest.approx(np.mean(want_psnr), abs=1e-9)
    assert report.means["psnr_y"] == clip.psnr_y
    # Bilinear and MATLAB bicubic are different baselines; the report must not mix them up.
    assert abs(clip.psnr_y - clip.bicubic_psnr_y) > 0.05
    assert report.settings["inference_options"]["precision"] == "fp32"
    json.dumps(report.to_dict(), allow_nan=False)


def test_cli_evaluates_a_weights_file(tmp_path, capsys):
    from vsrt_cli.weights.checkpoint import save_checkpoint

    frames = _scene(64, 64, 2, seed=9)
    _write_clip(tmp_path / "gt" / "pan", frames)
    weights = save_checkpoint(_identity_residual_model(), tmp_path / "tiny.safetensors")
    code, out, err = _run_cli(capsys, "eval", str(tmp_path / "gt"), "--weights", str(weights),
                              "--device", "cpu", "--precision", "fp32", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["model"] == str(weights)
    want_psnr, want_ssim = _expected_bilinear(frames)
    assert report["clips"][0]["per_frame"]["psnr_y"] == pytest.approx(want_psnr, abs=1e-9)
    assert report["means"]["ssim_y"] == pytest.approx(np.mean(want_ssim), abs=1e-9)
    assert report["means"]["bicubic_psnr_y"] == pytest.approx(_expected_bicubic(frames)["bicubic_psnr_y"], abs=1e-9)

    code, _, err = _run_cli(capsys, "eval", str(tmp_path / "gt"), "--bicubic-only", "--weights", str(weights))
    assert code == UsageError.exit_code and "--bicubic-only" in err
    code, _, err = _run_cli(capsys, "eval", str(tmp_path / "gt"), "--bicubic-only", "--ensemble", "2")
    assert code == UsageError.exit_code and "--bicubic-only" in err
    code, _, err = _run_cli(capsys, "eval", str(tmp_path / "gt"), "--weights", str(weights),
                            "--protocol", "official", "--ensemble", "2")
    assert code == UsageError.exit_code and "--ensemble applies to the vsrt protocol" in err
    # This network is bilinear upsampling, which every flip commutes with: the ensemble of
    # its versions is the network itself, up to float rounding (a few codes round the other
    # way; a version left flipped would cost decibels).
    code, out, err = _run_cli(capsys, "eval", str(tmp_path / "gt"), "--weights", str(weights),
                              "--device", "cpu", "--precision", "fp32", "--ensemble", "4", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["settings"]["inference_options"]["ensemble"] == 4
    assert (report["settings"]["device"], report["settings"]["precision"]) == ("cpu", "fp32")  # what ran
    assert report["clips"][0]["per_frame"]["psnr_y"] == pytest.approx(want_psnr, abs=2e-3)


def test_the_official_protocol_is_timed_and_follows_the_precision(tmp_path):
    from tiny_models import tiny_model
    from vsrt_cli.inference import InferenceOptions

    _write_clip(tmp_path / "gt" / "pan", _scene(64, 64, 3, seed=10))
    model = tiny_model(frames=3, self_flow="spynet")
    reports = {
        precision: evaluate(tmp_path / "gt", model=model, protocol="official",
                            inference_options=InferenceOptions(device="cpu", precision=precision))
        for precision in ("fp32", "bf16")
    }
    # It computes the clip up front; that time is the model's, not zero.
    assert all(r.clips[0].model_seconds > 0 for r in reports.values())
    assert reports["fp32"].clips[0].per_frame["psnr_y"] != reports["bf16"].clips[0].per_frame["psnr_y"]


@pytest.mark.parametrize("pix_fmt,channels", [("rgb48be", 3), ("gray16be", 1)])
def test_a_16_bit_frame_is_read_as_matlab_im2uint8_reads_it(tmp_path, pix_fmt, channels):
    """round(v / 257); swscale's own step was one code off for about half the pixels."""
    values = np.random.default_rng(0).integers(0, 65536, (16, 20, channels), dtype=np.uint16)
    native = "rgb48le" if channels == 3 else "gray16le"
    with av.open(str(tmp_path / "deep.png"), "w", format="image2") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 20, 16, pix_fmt
        frame = av.VideoFrame.from_ndarray(values if channels == 3 else values[..., 0], format=native)
        for packet in [*stream.encode(frame.reformat(format=pix_fmt)), *stream.encode()]:
            container.mux(packet)
    expected = np.repeat(np.round(values / 257.0).astype(np.uint8), 3 // channels, axis=2)
    assert np.array_equal(read_image(tmp_path / "deep.png"), expected)
