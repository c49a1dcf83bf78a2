"""The windowed, tiled inference that both `vsrt upscale` and `vsrt eval` use."""

import numpy as np
import pytest
import torch

from vsrt_cli.errors import InputError, UsageError
from vsrt_cli.inference import InferenceOptions, WindowedUpscaler, choose_precision, upscale_clip, upscale_stream
from vsrt_cli.inference.allocator import (
    M_MMAP_THRESHOLD,
    M_TRIM_THRESHOLD,
    keep_freed_memory,
    release_freed_memory,
)
from vsrt_cli.inference.device import cuda_kernel_settings, resolve_device
from vsrt_cli.inference.runner import default_tile_batch
from vsrt_cli.models.vsrt import PRESETS, VSRTConfig
from vsrt_cli.plan import plan_windows, tile_starts
from tiny_models import tiny_model


def smooth_frames(count, height, width, shift=0.0, offset=0):
    """Natural-looking smooth content drifting right by ``shift`` pixels per frame."""
    rows, cols = np.mgrid[0:height, offset : offset + width].astype(np.float32)
    frames = []
    for t in range(count):
        x = cols - shift * t
        red = 0.5 + 0.25 * np.sin(0.31 * x) * np.cos(0.17 * rows) + 0.2 * np.sin(0.05 * (x + rows))
        green = 0.5 + 0.3 * np.cos(0.23 * x - 0.13 * rows)
        blue = 0.5 + 0.2 * np.sin(0.11 * x * np.cos(0.02 * rows))
        frames.append(np.clip(np.stack([red, green, blue], -1), 0, 1).astype(np.float32))
    return frames


# fp32 pinned: "auto" means bf16 on CPUs with native bf16, and these tests compare
# against the network run directly in fp32.
CPU = dict(device="cpu", precision="fp32")


def test_output_is_4x_for_odd_sizes_and_frames_smaller_than_a_tile():
    model = tiny_model()
    for height, width, count in [(21, 37, 4), (7, 5, 2), (16, 16, 1)]:
        outputs = upscale_clip(model, smooth_frames(count, height, width), InferenceOptions(**CPU))
        assert len(outputs) == count
        assert all(o.shape == (4 * height, 4 * width, 3) and o.dtype == np.float32 for o in outputs)
        assert all(np.isfinite(o).all() for o in outputs)


def test_result_does_not_depend_on_the_tile_batch_size():
    model = tiny_model()
    frames = smooth_frames(5, 30, 45, shift=0.7)
    results = [upscale_clip(model, frames, InferenceOptions(tile_batch=b, **CPU)) for b in (1, 3, 16)]
    # Blending is order-independent; only the convolution kernels, which oneDNN may pick
    # per batch size and thread count, can round differently (by an fp32 ulp or so).
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_stride_one_single_tile_equals_the_official_centre_frame_protocol():
    model = tiny_model(frames=3, self_flow="spynet")
    frames = smooth_frames(4, 16, 16, shift=0.5)
    outputs = upscale_clip(model, frames, InferenceOptions(window_stride=1, **CPU))
    stacked = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
    for window in plan_windows(4, 3, 1):
        with torch.no_grad():
            direct = model(stacked[list(window.indices)][None])[0, 1].permute(1, 2, 0).numpy()
        (frame, _), = window.outputs
        assert np.abs(outputs[frame] - direct).max() < 1e-5


def test_every_stride_outputs_every_frame_in_order():
    model = tiny_model(frames=5)
    frames = smooth_frames(7, 16, 20, shift=0.5)
    for stride in (1, 3, 5):
        outputs = upscale_clip(model, frames, InferenceOptions(window_stride=stride, **CPU))
        assert len(outputs) == 7


def test_look_ahead_is_bounded_so_memory_does_not_grow_with_length():
    model = tiny_model(frames=3)
    consumed = []

    def source():
        for index, frame in enumerate(smooth_frames(12, 16, 16)):
            consumed.append(index)
            yield frame

    produced = 0
    for _ in upscale_stream(model, source(), InferenceOptions(window_stride=1, **CPU)):
        produced += 1
        # Never more than stride + T frames ahead of what has been written.
        assert len(consumed) - produced <= 1 + 3
    assert produced == 12


def test_flows_are_computed_once_per_frame_pair():
    model = tiny_model(frames=5)
    upscaler = WindowedUpscaler(model, InferenceOptions(window_stride=3, **CPU))
    outputs = list(upscaler.upscale(smooth_frames(9, 16, 16, shift=0.5)))
    assert len(outputs) == 9
    # Two directions per neighbouring pair (8 pairs), plus the few reflected pairs at the ends.
    assert upscaler.stats.flow_pairs <= 2 * 8 + 8


def test_out_of_memory_halves_the_batch_and_loses_nothing(monkeypatch):
    model = tiny_model()
    frames = smooth_frames(3, 30, 45)
    reference = upscale_clip(model, frames, InferenceOptions(tile_batch=8, **CPU))
    upscaler = WindowedUpscaler(model, InferenceOptions(tile_batch=8, **CPU))
    real_run = upscaler._run_batch

    def limited(lrs, fw, bw):
        if lrs.shape[0] > 2:
            raise torch.OutOfMemoryError("simulated: CUDA out of memory")
        return real_run(lrs, fw, bw)

    monkeypatch.setattr(upscaler, "_run_batch", limited)
    outputs = list(upscaler.upscale(frames))
    assert upscaler.stats.tile_batch == 2 and upscaler.stats.oom_retries == 2
    # Every tile is still computed once; smaller batches may only round differently.
    for a, b in zip(reference, outputs):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def seam_ratio(overlap):
    """Mean column-to-column jump of (output - output of the shifted input) on blend zones vs elsewhere."""
    model = tiny_model(seed=0)
    height, width, shift = 40, 72, 3
    options = InferenceOptions(tile_overlap=overlap, **CPU)
    plain = upscale_clip(model, smooth_frames(3, height, width), options)[1]
    moved = upscale_clip(model, smooth_frames(3, height, width, offset=shift), options)[1]
    difference = plain[:, 4 * shift :] - moved[:, : -4 * shift]
    jumps = np.abs(np.diff(difference, axis=1)).mean(axis=(0, 2))
    zones = np.zeros(len(jumps), bool)
    for start in tile_starts(width, 16, overlap)[1:]:
        for origin in (4 * start, 4 * (start - shift)):  # both tilings, in plain's coordinates
            zones[max(origin - 1, 0) : max(origin + 4 * overlap + 1, 0)] = True
    return jumps[zones].mean() / jumps[~zones].mean()


def test_no_seams_where_tile_borders_move():
    assert seam_ratio(overlap=4) < 1.0


def test_the_seam_measure_does_detect_hard_tile_borders():
    assert seam_ratio(overlap=0) > 2.0


def test_device_and_precision_choices():
    cpu = torch.device("cpu")
    assert choose_precision(cpu, "auto", native_bf16=False) == "fp32"
    assert choose_precision(cpu, "auto", native_bf16=True) == "bf16"
    assert choose_precision(torch.device("cuda"), "auto") == "fp16"
    assert choose_precision(cpu, "bf16") == "bf16"
    with pytest.raises(UsageError):
        choose_precision(cpu, "fp8")
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(UsageError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA is not available"):
            resolve_device("cuda:0")
        assert resolve_device("auto").type == "cpu"


def test_cuda_kernel_settings_autotune_keep_fp32_exact_and_restore():
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32
    try:
        cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32 = False, True, True
        # The flags are plain settings, so the CUDA branch runs here without a GPU.
        with cuda_kernel_settings(torch.device("cuda"), "fp32"):
            assert (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32) == (True, False, False)
        assert (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32) == (False, True, True)
        with cuda_kernel_settings(torch.device("cuda"), "fp16"):
            assert (cudnn.benchmark, cudnn.allow_tf32) == (True, True)
        with cuda_kernel_settings(torch.device("cpu"), "fp32"):
            assert (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32) == (False, True, True)
        with pytest.raises(RuntimeError), cuda_kernel_settings(torch.device("cuda"), "fp32"):
            raise RuntimeError("a failed model call")
        assert (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32) == (False, True, True)
    finally:
        cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32 = saved


def test_cpu_tile_batch_follows_the_bytes_of_a_tiles_features():
    cpu = torch.device("cpu")
    small = VSRTConfig(channels=24, depth=2, extract_blocks=2, feedforward_blocks=2, reconstruct_blocks=2)
    # vsrt-small: one tile at a time in fp32, two in bf16 (the measured optimum of each).
    assert default_tile_batch(cpu, small, "fp32") == 1
    assert default_tile_batch(cpu, small, "bf16") == 2
    # The official width never batches on a CPU; a narrow model batches more.
    assert default_tile_batch(cpu, PRESETS["official-reds"], "bf16") == 1
    assert default_tile_batch(cpu, VSRTConfig(channels=8, num_frames=3), "fp32") == 5
    assert WindowedUpscaler(tiny_model(), InferenceOptions(**CPU)).tile_batch >= 1


class FakeLibc:
    def __init__(self, accepts=True):
        self.calls, self.accepts = [], accepts

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return 1 if self.accepts else 0


def test_keep_freed_memory_raises_both_glibc_thresholds():
    libc = FakeLibc()
    assert keep_freed_memory(libc) is True
    assert {param for param, _ in libc.calls} == {M_MMAP_THRESHOLD, M_TRIM_THRESHOLD}
    assert all(value >= 32 * 2**20 for _, value in libc.calls)
    assert keep_freed_memory(FakeLibc(accepts=False)) is False
    # A C library without mallopt (macOS, Windows) is left alone.
    assert keep_freed_memory(object()) is False


def test_large_blocks_stay_on_the_heap_only_inside_the_block():
    from vsrt_cli.inference.allocator import GLIBC_MMAP_MAX, M_MMAP_MAX, large_blocks_on_heap

    libc = FakeLibc()
    with large_blocks_on_heap(libc) as applied:
        assert applied is True
        assert libc.calls == [(M_MMAP_MAX, 0)]
    assert libc.calls == [(M_MMAP_MAX, 0), (M_MMAP_MAX, GLIBC_MMAP_MAX)]
    refused = FakeLibc(accepts=False)
    with large_blocks_on_heap(refused) as applied:
        assert applied is False
    assert refused.calls == [(M_MMAP_MAX, 0)]  # nothing to restore
    with large_blocks_on_heap(object()) as applied:
        assert applied is False


def test_free_memory_is_released_once_per_window_only_for_big_canvases(monkeypatch):
    import vsrt_cli.inference.runner as runner

    calls = []
    monkeypatch.setattr(runner, "release_freed_memory", lambda: calls.append(1))
    frames = smooth_frames(6, 20, 24)
    upscaler = WindowedUpscaler(tiny_model(), InferenceOptions(**CPU))
    list(upscaler.upscale(frames))
    assert calls == []  # small frames: the refaults would cost more than they save
    monkeypatch.setattr(runner, "TRIM_THRESHOLD", 1)
    upscaler = WindowedUpscaler(tiny_model(), InferenceOptions(**CPU))
    list(upscaler.upscale(frames))
    assert len(calls) == upscaler.stats.windows >= 2


def test_release_freed_memory_calls_malloc_trim():
    class Libc:
        trimmed = []

        def malloc_trim(self, pad):
            self.trimmed.append(pad)
            return 1

    libc = Libc()
    assert release_freed_memory(libc) is True and libc.trimmed == [0]
    assert release_freed_memory(object()) is False


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_runs_through_the_pipeline(precision):
    model = tiny_model()
    frames = smooth_frames(3, 20, 24)
    reference = upscale_clip(model, frames, InferenceOptions(**CPU))
    reduced = upscale_clip(model, frames, InferenceOptions(**{**CPU, "precision": precision}))
    assert max(np.abs(a - b).max() for a, b in zip(reference, reduced)) < 0.1


@pytest.mark.parametrize(
    "options",
    [dict(tile_overlap=8), dict(window_stride=0), dict(window_stride=4), dict(tile_batch=0), dict(ensemble=3)],
)
def test_bad_options_are_usage_errors(options):
    # Also ValueErrors, for callers that catch bad values the usual way.
    with pytest.raises(UsageError):
        WindowedUpscaler(tiny_model(), InferenceOptions(**options, **CPU))
    with pytest.raises(ValueError):
        WindowedUpscaler(tiny_model(), InferenceOptions(**options, **CPU))


def test_in_memory_frames_must_be_float_and_of_one_size():
    model = tiny_model()
    with pytest.raises(InputError, match="got uint8 \\(divide 8-bit frames by 255\\)"):
        upscale_clip(model, [np.zeros((20, 24, 3), np.uint8)], InferenceOptions(**CPU))
    frames = [np.zeros((20, 24, 3), np.float32), np.zeros((20, 28, 3), np.float32)]
    with pytest.raises(InputError, match="frame 1 is 28x20, but the video started at 24x20"):
        upscale_clip(model, frames, InferenceOptions(**CPU))


def test_in_memory_frames_must_be_arrays_on_the_0_1_scale():
    model = tiny_model()
    noise = np.random.default_rng(0).random((20, 24, 3), dtype=np.float32)
    with pytest.raises(InputError, match=r"got values from \S+ to 25\S* \(divide 8-bit values by 255\)"):
        upscale_clip(model, [noise * 255], InferenceOptions(**CPU))  # cast to float, not scaled
    with pytest.raises(InputError, match="got NoneType"):
        upscale_clip(model, [noise, None], InferenceOptions(**CPU))
    with pytest.raises(InputError, match="got Tensor"):
        upscale_clip(model, [torch.from_numpy(noise)], InferenceOptions(**CPU))
    # Resampling overshoots a little: that is still a frame.
    assert len(upscale_clip(model, [noise * 1.04 - 0.02], InferenceOptions(**CPU))) == 1


def test_tile_blend_is_made_once_per_video_and_matches_the_plan(monkeypatch):
    from vsrt_cli.inference import runner
    from vsrt_cli.plan import plan_tiles, tile_weights

    blend = runner.TileBlend.build(90, 130, 16, 4, torch.device("cpu"))
    tiles = plan_tiles(90, 130, 16, 4)
    assert blend.tiles == tiles and len(tiles) > 16
    expected_sum = np.zeros((360, 520), np.float32)
    for tile in tiles:
        weights = tile_weights(tile, 90, 130, 16, 4)
        assert np.array_equal(blend.weights[tile].numpy(), weights)
        expected_sum[4 * tile.top : 4 * tile.top + 64, 4 * tile.left : 4 * tile.left + 64] += weights
    assert np.array_equal(blend.weight_sum.numpy(), expected_sum)
    # Tiles with the same edges share one map: corners, sides and the interior.
    assert len({id(w) for w in blend.weights.values()}) == 9

    built = []
    original = runner.TileBlend.build
    monkeypatch.setattr(runner.TileBlend, "build", lambda *a: built.append(a) or original(*a))
    upscaler = WindowedUpscaler(tiny_model(frames=3), InferenceOptions(**CPU))
    outputs = list(upscaler.upscale(smooth_frames(7, 30, 45)))
    assert len(outputs) == 7 and upscaler.stats.windows > 1 and len(built) == 1


def test_frames_are_copied_on_intake_so_a_producer_may_reuse_its_buffer():
    model = tiny_model()
    frames = smooth_frames(6, 20, 24)
    reference = upscale_clip(model, [f.copy() for f in frames], InferenceOptions(**CPU))
    buffer = np.empty_like(frames[0], dtype=np.float32)

    def reused():
        for frame in frames:
            buffer[...] = frame
            yield buffer

    out = upscale_clip(model, reused(), InferenceOptions(**CPU))
    assert max(np.abs(a - b).max() for a, b in zip(out, reference)) == 0


def test_a_half_or_double_model_runs_and_bad_frames_or_options_are_clear_errors():
    frames = smooth_frames(2, 20, 24)
    reference = upscale_clip(tiny_model(), frames, InferenceOptions(**CPU))
    for cast in (torch.nn.Module.half, torch.nn.Module.double):
        model = cast(tiny_model())
        out = upscale_clip(model, frames, InferenceOptions(**CPU))
        assert max(np.abs(a - b).max() for a, b in zip(out, reference)) < 0.05
        assert next(model.parameters()).dtype != torch.float32  # the caller's copy is left as it was
    assert upscale_clip(tiny_model(), frames, InferenceOptions(device=torch.device("cpu"), precision="fp32"))
    poisoned = frames[0].copy()
    poisoned[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        upscale_clip(tiny_model(), [poisoned], InferenceOptions(**CPU))
    with pytest.raises(InputError, match="empty frame"):
        upscale_clip(tiny_model(), [np.zeros((0, 5, 3), np.float32)], InferenceOptions(**CPU))
    with pytest.raises(UsageError, match="--tile-batch 2.5: must be a whole number"):
        upscale_clip(tiny_model(), frames, InferenceOptions(tile_batch=2.5, **CPU))
    with pytest.raises(UsageError, match="expected auto, cpu, cuda or cuda:N"):
        resolve_device(0)
