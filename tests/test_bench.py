"""`vsrt bench --json` at a CI-friendly size."""

import json
from dataclasses import replace

import av
import pytest
import torch

from tiny_models import tiny_model
from vsrt_cli.bench import output_stage_rates, parse_size, precision_agreement, synthetic_frames
from vsrt_cli.inference import InferenceOptions
from vsrt_cli.cli import main
from vsrt_cli.video import EncodeOptions
from vsrt_cli.weights.checkpoint import save_checkpoint


@pytest.fixture
def restore_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_bench_json_reports_consistent_figures(tmp_path, capsys, restore_torch_threads):
    weights = save_checkpoint(tiny_model(), tmp_path / "tiny.safetensors")
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "-m", str(weights), "--size", "40x24", "--frames", "4", "--device", "cpu", "--json",
              "--memory-check", "--precision-check", "--threads", "1", "--encoder-preset", "ultrafast", "--crf", "20"])
    assert exit_info.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["size"] == [40, 24] and report["frames"] == 4 and report["threads"] == 1
    assert report["model_fps"] > 0 and report["end_to_end_fps"] > 0
    assert report["end_to_end_ratio"] == pytest.approx(report["end_to_end_fps"] / report["model_fps"], rel=0.01, abs=1e-3)
    e2e_seconds = report["frames"] / report["end_to_end_fps"]
    assert 0 <= report["end_to_end_tail_s"] < e2e_seconds
    assert report["end_to_end_ratio_without_tail"] == pytest.approx(
        report["frames"] / (e2e_seconds - report["end_to_end_tail_s"]) / report["model_fps"], rel=0.02, abs=0.01
    )
    # Both are measured; which is larger is a benchmark's finding, not the test's (with four
    # tiny frames, scheduling noise can put the model run's CPU time above the whole run's).
    assert report["cpu_s_per_frame_model"] > 0 and report["cpu_s_per_frame_end_to_end"] > 0
    assert report["end_to_end_cpu_bound"] == pytest.approx(
        report["cpu_s_per_frame_model"] / report["cpu_s_per_frame_end_to_end"], rel=0.01, abs=2e-3
    )
    # The stages after the model, timed alone, with the encoder the end-to-end run used.
    assert report["encoder"] == "libx264 yuv420p preset=ultrafast crf=20"
    assert report["convert_only_fps"] > 0 and report["encode_only_fps"] > 0
    assert report["end_to_end_stage_bound_fps"] == pytest.approx(min(
        1 / (1 / report["model_fps"] + 1 / report["convert_only_fps"]), report["encode_only_fps"]), rel=0.01)
    assert report["end_to_end_stage_bound_fps"] < report["model_fps"]
    assert 0 < report["efficiency"] == pytest.approx(report["achieved_gmac_per_s"] / report["peak_gmac_per_s"], rel=0.01)
    # 40x24 needs 3x2 tiles of 16 px; T=3 windows side by side (stride 3): each window's
    # 6 * 3 * 256 LR pixels make 3 frames of 960.
    assert report["lr_pixels_per_output_pixel"] == pytest.approx(6 * 3 * 256 / (3 * 960), rel=1e-3)
    assert report["official_to_default_compute"] > 0
    assert report["peak_rss_mb_end_to_end"] > 0
    assert report["memory_growth"]["ratio"] > 0
    assert report["precision_check"]["precision"] == report["precision"]
    assert report["precision_check"]["max_code_diff"] >= 0


def test_output_stages_time_the_chosen_encoder(tmp_path):
    clip = synthetic_frames(24, 16, 3)
    rates = output_stage_rates(clip, torch.device("cpu"), EncodeOptions(codec="mpeg4"), tmp_path / "e.mp4")
    assert (rates.codec, rates.pix_fmt, rates.converts_in_own_thread) == ("mpeg4", "yuv420p", False)
    assert rates.bound(10.0) == pytest.approx(min(1 / (0.1 + 1 / rates.convert_fps), rates.encode_fps))
    beside = replace(rates, convert_fps=50.0, encode_fps=30.0, converts_in_own_thread=True)
    assert (beside.bound(10.0), beside.bound(40.0), beside.bound(100.0)) == (10.0, 30.0, 30.0)
    assert rates.convert_fps > 0 and rates.encode_fps > 0
    with av.open(str(tmp_path / "e.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("mpeg4", 96, 64)
        assert sum(1 for _ in container.decode(stream)) == 3


def test_size_parsing():
    assert parse_size("640x360") == (640, 360)
    assert parse_size("4096x16") == (4096, 16)
    for bad in ("640", "x360", "0x10", "axb", "4097x16", "16x4097"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_precision_check_counts_changed_codes():
    model = tiny_model()
    same = precision_agreement(model, 24, 20, 3, InferenceOptions(device="cpu", precision="fp32"))
    assert same == {"precision": "fp32", "frames": 3, "max_abs_diff_in_codes": 0.0, "max_code_diff": 0,
                    "share_of_codes_differing": 0.0}
    # fp16 on a CPU rounds every activation to 11 bits: some codes must move, a few at most.
    reduced = precision_agreement(model, 24, 20, 3, InferenceOptions(device="cpu", precision="fp16"))
    assert reduced["precision"] == "fp16"
    assert 0 < reduced["share_of_codes_differing"] < 0.5
    assert 1 <= reduced["max_code_diff"] <= 8
    assert reduced["max_code_diff"] - 1 < reduced["max_abs_diff_in_codes"] <= reduced["max_code_diff"] + 1


def test_preset_is_the_encoders_as_in_upscale_and_arch_the_architecture(capsys):
    """`--preset official-reds` meant the architecture here once; now it says where that went."""
    for args, message in (
        (["--preset", "official-reds"], "--preset official-reds is an architecture: use --arch official-reds"),
        (["--arch", "official-reds", "-m", "vsrt-small"], "use either -m/--model or --arch, not both"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["bench", "--size", "16x16", "--frames", "1", *args])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["--crf", "99"], 2, "--crf 99: libx264 takes 0 to 51"),
        (["--preset", "bogus"], 2, "unknown preset 'bogus'"),
        (["--codec", "bogus"], 1, "unknown video codec 'bogus'"),
        (["--size", "100000x100000"], 2, "--size 100000x100000: at most 4096 pixels a side"),
    ],
)
def test_bad_encoder_and_size_values_stop_the_bench_before_any_run(tmp_path, capsys, monkeypatch, args, code, message):
    """Not after the model-only run (minutes at real sizes), and not as an internal error."""
    weights = save_checkpoint(tiny_model(), tmp_path / "tiny.safetensors")

    def measured(*args, **kwargs):
        raise AssertionError("the benchmark ran")

    monkeypatch.setattr("vsrt_cli.cli.bench_cmd.run_bench", measured)
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "-m", str(weights), "--size", "32x32", "--frames", "2", "--device", "cpu", *args])
    err = capsys.readouterr().err
    assert exit_info.value.code == code, err
    assert err.startswith("vsrt: error: ") and message in err and len(err.splitlines()) == 1


def test_a_size_that_does_not_fit_in_memory_is_a_plain_error(tmp_path, capsys, monkeypatch):
    weights = save_checkpoint(tiny_model(), tmp_path / "tiny.safetensors")

    def too_big(*args, **kwargs):
        raise MemoryError("Unable to allocate 149. GiB for an array with shape (4000, 4000, 3)")

    monkeypatch.setattr("vsrt_cli.cli.bench_cmd.run_bench", too_big)
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "-m", str(weights), "--size", "4000x4000", "--frames", "2", "--device", "cpu"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert err == (
        "vsrt: error: --size 4000x4000 with --frames 2: out of memory (Unable to allocate 149. GiB for an array"
        " with shape (4000, 4000, 3)); try a smaller --size or fewer --frames\n"
    )
