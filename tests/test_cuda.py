"""CUDA paths, run where a GPU is present (CI has none, so they skip there).

The CPU-side logic of the same paths (device and precision choice, the cuDNN settings'
save and restore, the out-of-memory fallback) is tested in test_inference.py.
"""

import av
import numpy as np
import pytest
import torch

from media import make_video
from tiny_models import tiny_model
from vsrt_cli.bench import precision_agreement, run_bench
from vsrt_cli.inference import InferenceOptions, upscale_clip
from vsrt_cli.pipeline.upscale import upscale_video
from vsrt_cli.weights.loading import load_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def natural_frames(count=6, height=72, width=100):
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    return [
        np.clip(np.stack([0.5 + 0.3 * np.sin(0.21 * (cols - 0.6 * t)) * np.cos(0.13 * rows),
                          0.5 + 0.25 * np.cos(0.17 * (cols - 0.6 * t) + 0.07 * rows),
                          0.4 + 0.3 * np.sin(0.05 * (cols + rows - 0.6 * t))], -1), 0, 1).astype(np.float32)
        for t in range(count)
    ]


def test_fp32_on_cuda_matches_the_cpu():
    # TF32 is off in fp32 (cuda_kernel_settings), so only summation order differs.
    model = load_model()
    frames = natural_frames()
    cpu = upscale_clip(model, frames, InferenceOptions(device="cpu", precision="fp32"))
    gpu = upscale_clip(model, frames, InferenceOptions(device="cuda", precision="fp32"))
    assert max(float(np.abs(a - b).max()) for a, b in zip(cpu, gpu)) < 1e-4


def test_fp16_on_cuda_stays_within_one_code_of_fp32():
    report = precision_agreement(load_model(), 100, 72, 6, InferenceOptions(device="cuda", precision="auto"))
    assert report["precision"] == "fp16"
    assert report["max_code_diff"] <= 1


def test_upscale_video_on_cuda_writes_every_frame(tmp_path):
    source = make_video(tmp_path / "in.mp4", width=48, height=32, frames=9)
    target = tmp_path / "out.mp4"
    result = upscale_video(source, target, tiny_model(), inference=InferenceOptions(device="cuda"))
    assert result.status == "ok" and result.device.startswith("cuda") and result.precision == "fp16"
    with av.open(str(target)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (192, 128)
        assert sum(1 for _ in container.decode(stream)) == 9


@pytest.mark.parametrize(("scale", "size"), [(2.5, (120, 80)), (1, (48, 32))])
def test_scale_on_cuda_resizes_where_the_frames_are(tmp_path, scale, size):
    source = make_video(tmp_path / "in.mp4", width=48, height=32, frames=6)
    target = tmp_path / "out.mp4"
    result = upscale_video(source, target, tiny_model(), inference=InferenceOptions(device="cuda"), scale=scale)
    assert result.status == "ok" and (result.width, result.height) == size
    with av.open(str(target)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == size
        assert sum(1 for _ in container.decode(stream)) == 6


def test_bench_on_cuda_reports_gpu_memory_and_a_tensor_core_peak():
    report = run_bench(tiny_model(), "tiny", 40, 24, 4, InferenceOptions(device="cuda")).to_dict()
    assert report["device"].startswith("cuda") and report["precision"] == "fp16"
    assert report["cuda_max_allocated_mb"] > 0
    # An 8192^3 fp16 matmul: far above any CPU, so the efficiency is not flattered.
    assert report["peak_gmac_per_s"] > 50_000


def test_the_official_protocol_runs_on_cuda():
    from vsrt_cli.inference.official import upscale_clip_official

    model = tiny_model(frames=3, self_flow="spynet")
    frames = natural_frames(count=3, height=32, width=40)
    cpu = upscale_clip_official(model, frames, "cpu", "fp32")
    gpu = upscale_clip_official(model, frames, "cuda", "fp32")
    assert max(float(np.abs(a - b).max()) for a, b in zip(cpu, gpu)) < 1e-4


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p10le", "yuv444p"])
def test_frames_converted_on_cuda_get_the_cpu_codes(pix_fmt):
    from vsrt_cli.video import convert
    from vsrt_cli.video.colour import resolve_colour

    rgb = np.random.default_rng(6).uniform(-0.02, 1.02, (301, 250, 3)).astype(np.float32)
    colour = resolve_colour(250, 301, pix_fmt, None, None, None, None)
    on_cpu = convert.rgb_to_frame(rgb, pix_fmt, colour, {})
    on_gpu = convert.rgb_to_frame(torch.from_numpy(rgb).permute(2, 0, 1).cuda(), pix_fmt, colour, {})
    dtype = np.uint16 if "10" in pix_fmt else np.uint8
    view = lambda plane: convert._plane_view(plane, dtype, plane.height, plane.width)  # noqa: E731
    for a, b in zip(on_cpu.planes, on_gpu.planes):
        assert np.array_equal(view(a), view(b))
