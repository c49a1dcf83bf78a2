"""``vsrt bench``: throughput, efficiency and memory, all measured in one run.

Every figure is a measurement on this machine in this process, so ratios between them
(end-to-end vs model-only, achieved vs peak MAC/s) compare like with like.
"""

from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .inference import InferenceOptions, WindowedUpscaler, upscale_clip
from .inference.device import DTYPES, choose_precision, cuda_kernel_settings, resolve_device, to_host_hwc
from .models.compute import flow_pair_macs, forward_macs_with_flow, window_macs
from .models.vsrt import SCALE
from .plan.cost import frame_cost, official_protocol_macs
from .pipeline.upscale import converts_beside_model, upscale_video
from .plan.output_size import MAX_HEIGHT
from .video import EncodeOptions, VideoWriter, choose_video_codec, container_format, encoder_settings

# The largest LR side: its 4x output has MAX_HEIGHT lines.
MAX_SIDE = MAX_HEIGHT // SCALE


@dataclass
class BenchReport:
    model: str
    size: list[int]
    frames: int
    device: str
    precision: str
    threads: int
    tile_batch: int
    window_stride: int
    ensemble: int
    model_fps: float
    model_lr_pixels_per_s: float
    end_to_end_fps: float
    end_to_end_ratio: float
    # Seconds from the model's last output frame to the finished file: mostly the
    # encoder's lookahead, which it only encodes once it has seen the last frame. A fixed
    # cost per video, so a long video's ratio is the one without it.
    end_to_end_tail_s: float
    end_to_end_ratio_without_tail: float
    # Process CPU time (all threads: torch's, the decoder's, x264's) per frame of each run.
    # Where the model alone keeps every core busy (a CPU device), the pipeline's own work
    # (decode, colour conversion, encode) has to share those cores, and the end-to-end
    # ratio cannot exceed model CPU time / end-to-end CPU time (``end_to_end_cpu_bound``).
    cpu_s_per_frame_model: float
    cpu_s_per_frame_end_to_end: float
    end_to_end_cpu_bound: float
    # The stages after the model, each alone on model-sized output frames (bicubic x4 of
    # the clip, made on the model's device and not timed): RGB -> the encoder's YUV,
    # copy to the host included, and the encoder on frames already converted. Where the
    # model and the encoder do not share processors (a GPU) end to end cannot beat
    # ``end_to_end_stage_bound_fps``: the slowest of the model, the conversion and the
    # encoder, each in its own thread (on a GPU), or min(1 / (1/model + 1/convert),
    # encode) where the conversion shares the model's thread.
    convert_only_fps: float
    encode_only_fps: float
    end_to_end_stage_bound_fps: float
    encoder: str
    gmac_per_frame: float
    achieved_gmac_per_s: float
    peak_gmac_per_s: float
    peak_kind: str
    efficiency: float
    lr_pixels_per_output_pixel: float
    official_protocol_gmac_per_frame: float
    official_to_default_compute: float
    peak_rss_mb_model: float
    peak_rss_mb_end_to_end: float
    cuda_max_allocated_mb: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def synthetic_frames(width: int, height: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """Textured content panning sub-pixel per frame: work like real footage, no files needed."""
    rng = np.random.default_rng(seed)
    waves = rng.uniform(0.02, 0.4, size=(6, 2))
    phases = rng.uniform(0, 2 * np.pi, size=(6, 3))
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for t in range(count):
        x = cols - 0.7 * t
        y = rows - 0.3 * t
        channels = []
        for c in range(3):
            value = sum(np.sin(w[0] * x + w[1] * y + p[c]) for w, p in zip(waves, phases)) / 6
            channels.append(0.5 + 0.45 * value)
        frames.append(np.stack(channels, axis=-1).astype(np.float32))
    return frames


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 24) -> None:
    """A near-lossless H.264 file of ``frames`` for the end-to-end measurement."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "4", "preset": "ultrafast"})
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv444p"
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


class PeakMemory:
    """Peak resident memory of this process over a block (Linux: resettable VmHWM)."""

    def __enter__(self) -> "PeakMemory":
        self._resettable = _reset_peak_rss()
        self._baseline = _peak_rss_kb()
        self.peak_mb = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.peak_mb = _peak_rss_kb() / 1024


class ProcessCPUTime:
    """User + system CPU seconds of this process, all its threads, over a block."""

    def __enter__(self) -> "ProcessCPUTime":
        self._start = _cpu_seconds()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = _cpu_seconds() - self._start


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_rss_kb() -> float:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


# Peak-kernel sizes. A GPU finishes the CPU's 1024^3 matmul in microseconds, where launch
# overhead dominates and the "peak" would come out far too low; these are big enough to
# reach its tensor-core rate.
PEAK_SIZES = {"cpu": (1024, 8, 64), "cuda": (8192, 64, 128)}  # matmul n, conv batch, conv side


def measure_peak_gmacs(
    device: torch.device, precision: str, seconds: float = 0.5, rounds: int = 3
) -> tuple[float, str]:
    """The best of a large matmul and a 64-channel 3x3 conv in the run's precision.

    Each kernel's rate is its best of ``rounds`` timed intervals: on a shared or
    frequency-scaling CPU one interval can land in a slow spell, and an underestimated
    peak would overstate the model's efficiency.
    """
    dtype = DTYPES[precision]
    n, batch, side = PEAK_SIZES["cuda" if device.type == "cuda" else "cpu"]
    results = []
    with cuda_kernel_settings(device, precision):
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        results.append((_rate(lambda: a @ b, n**3, device, seconds, rounds), f"matmul {n}^3"))
        w = torch.randn(64, 64, 3, 3, device=device, dtype=dtype)
        conv_macs = batch * 64 * 64 * side * side * 9
        for layout in (torch.contiguous_format, torch.channels_last):
            x = torch.randn(batch, 64, side, side, device=device, dtype=dtype).to(memory_format=layout)
            label = "conv3x3 64->64" + (" channels-last" if layout is torch.channels_last else "")
            results.append((_rate(lambda: F.conv2d(x, w, padding=1), conv_macs, device, seconds, rounds), label))
    return max(results)


def _rate(operation, macs: int, device: torch.device, seconds: float, rounds: int) -> float:
    best = 0.0
    with torch.inference_mode():
        operation()  # warm-up: first calls pick kernels
        _sync(device)
        for _ in range(rounds):
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds:
                operation()
                count += 1
            _sync(device)
            best = max(best, macs * count / (time.perf_counter() - started) / 1e9)
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_bench(
    model: nn.Module,
    model_name: str,
    width: int,
    height: int,
    frames: int,
    options: InferenceOptions = InferenceOptions(),
    encode: EncodeOptions | None = None,
) -> BenchReport:
    encode = encode or EncodeOptions()
    clip = synthetic_frames(width, height, frames)
    upscaler = WindowedUpscaler(model, options)
    device = upscaler.device
    peak_before = measure_peak_gmacs(device, upscaler.precision)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    # One-time set-up is not timed: the first window's frames meet every shape the timed runs
    # will (each tile batch, the whole-frame flow), so cuDNN autotuning on CUDA and oneDNN's
    # per-shape primitive creation on a CPU happen here. A single warm-up tile, as before,
    # left those costs in the model phase and could make it use more CPU than end-to-end.
    list(WindowedUpscaler(model, options).upscale(clip[: model.config.num_frames]))
    with PeakMemory() as model_memory, ProcessCPUTime() as model_cpu:
        _sync(device)
        started = time.perf_counter()
        for _ in upscaler.upscale(clip):
            pass
        _sync(device)
        model_seconds = time.perf_counter() - started
    stats = upscaler.stats
    config = model.config
    pair_macs = flow_pair_macs(max(height, config.tile_size), max(width, config.tile_size), config.flow_levels)
    computed_macs = stats.tiles * stats.ensemble * window_macs(config) + stats.flow_pairs * pair_macs
    cost = frame_cost(
        height,
        width,
        num_frames=config.num_frames,
        tile_size=config.tile_size,
        overlap=upscaler.overlap,
        stride=upscaler.stride,
        window_macs=window_macs(config),
        flow_pair_macs=pair_macs,
        spynet_self_flow=config.self_flow == "spynet",
        ensemble=stats.ensemble,
    )
    with tempfile.TemporaryDirectory(prefix="vsrt-bench-") as folder:
        source = Path(folder) / "clip.mp4"
        write_clip(source, clip)
        last_output = []
        with PeakMemory() as e2e_memory, ProcessCPUTime() as e2e_cpu:
            started = time.perf_counter()
            upscale_video(
                source, Path(folder) / "out.mp4", model, inference=options, encode=encode,
                progress=lambda _: last_output.append(time.perf_counter()),
            )
            finished = time.perf_counter()
        e2e_seconds = finished - started
        tail_seconds = finished - last_output[-1]
        stages = output_stage_rates(clip, device, encode, Path(folder) / "encode-only.mp4")
    # Measured after the runs and compared with the one before them, so that a slow
    # spell of the machine cannot make the model look more efficient than it is.
    peak, peak_kind = max(peak_before, measure_peak_gmacs(device, stats.precision))
    achieved = computed_macs / model_seconds / 1e9
    model_fps = frames / model_seconds
    e2e_fps = frames / e2e_seconds
    cuda_peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    official = official_protocol_macs(height, width, config.tile_size, forward_macs_with_flow(config))
    return BenchReport(
        model=model_name,
        size=[width, height],
        frames=frames,
        device=stats.device,
        precision=stats.precision,
        threads=torch.get_num_threads(),
        tile_batch=stats.tile_batch,
        window_stride=upscaler.stride,
        ensemble=stats.ensemble,
        model_fps=_significant(model_fps),
        model_lr_pixels_per_s=round(model_fps * width * height, 1),
        end_to_end_fps=_significant(e2e_fps),
        end_to_end_ratio=round(e2e_fps / model_fps, 3),
        end_to_end_tail_s=round(tail_seconds, 3),
        end_to_end_ratio_without_tail=round(frames / (e2e_seconds - tail_seconds) / model_fps, 3),
        cpu_s_per_frame_model=round(model_cpu.seconds / frames, 4),
        cpu_s_per_frame_end_to_end=round(e2e_cpu.seconds / frames, 4),
        end_to_end_cpu_bound=round(model_cpu.seconds / e2e_cpu.seconds, 3),
        convert_only_fps=_significant(stages.convert_fps),
        encode_only_fps=_significant(stages.encode_fps),
        end_to_end_stage_bound_fps=_significant(stages.bound(model_fps)),
        encoder=f"{stages.codec} {stages.pix_fmt} preset={encode.preset} crf={encode.crf:g}",
        gmac_per_frame=round(cost.total_macs / 1e9, 3),
        achieved_gmac_per_s=round(achieved, 2),
        peak_gmac_per_s=round(peak, 2),
        peak_kind=peak_kind,
        efficiency=_significant(achieved / peak, 3),
        lr_pixels_per_output_pixel=round(cost.redundancy, 3),
        official_protocol_gmac_per_frame=round(official / 1e9, 2),
        official_to_default_compute=round(official / cost.total_macs, 2),
        peak_rss_mb_model=round(model_memory.peak_mb, 1),
        peak_rss_mb_end_to_end=round(e2e_memory.peak_mb, 1),
        cuda_max_allocated_mb=round(cuda_peak, 1) if cuda_peak is not None else None,
    )


@dataclass(frozen=True)
class OutputStageRates:
    convert_fps: float
    encode_fps: float
    codec: str
    pix_fmt: str
    converts_in_own_thread: bool

    def bound(self, model_fps: float) -> float:
        """The most frames per second end to end can make with a model this fast."""
        if self.converts_in_own_thread:
            return min(model_fps, self.convert_fps, self.encode_fps)
        return min(1 / (1 / model_fps + 1 / self.convert_fps), self.encode_fps)


def output_stage_rates(
    clip: list[np.ndarray], device: torch.device, encode: EncodeOptions, target: Path
) -> OutputStageRates:
    """Frames per second of colour conversion and of the encoder, each on its own.

    The frames are what the model would hand over (float RGB, 4x, on its device), so the
    conversion runs on the GPU where the pipeline's does; the converted frames are kept
    (1.5 bytes per pixel in 4:2:0) so that the encoder is timed without it.
    """
    height, width = clip[0].shape[:2]
    writer = VideoWriter(target, width=width * SCALE, height=height * SCALE, options=encode, frame_rate=Fraction(24))
    try:
        converted, convert_seconds = [], 0.0
        for rgb in clip:
            lr = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(device)
            output = F.interpolate(lr, scale_factor=SCALE, mode="bicubic", align_corners=False)[0]
            _sync(device)
            started = time.perf_counter()
            converted.append(writer.convert(output if writer.converts_tensors else to_host_hwc(output)))
            convert_seconds += time.perf_counter() - started
            del output
        started = time.perf_counter()
        for frame in converted:
            writer.write_frame(frame)
        del converted
        writer.close()  # flushes the lookahead: part of the encoder's time, as end to end
        encode_seconds = time.perf_counter() - started
    except BaseException:
        writer.abort()
        raise
    frames = len(clip)
    return OutputStageRates(
        frames / convert_seconds, frames / encode_seconds, writer.codec, writer.pix_fmt,
        converts_beside_model(device, writer.converts_tensors),
    )


def _significant(value: float, digits: int = 4) -> float:
    # Not decimal places: the official architecture at 720p runs at 0.0018 fps.
    return float(f"{value:.{digits}g}")


def parse_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) < 1 or int(height) < 1:
        raise ValueError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 640x360")
    if max(int(width), int(height)) > MAX_SIDE:
        # Beyond it the end-to-end run could not encode its output anyway, and the clip
        # alone (float RGB) would need many GB before anything is measured.
        raise ValueError(
            f"--size {text}: at most {MAX_SIDE} pixels a side (the {SCALE}x output must fit the encoders'"
            f" {MAX_HEIGHT} lines)"
        )
    return int(width), int(height)


def check_encode(encode: EncodeOptions, width: int, height: int) -> None:
    """Raise for a codec, preset or rate factor the end-to-end run's encoder would refuse,
    before any of the benchmark runs: it reaches the encoder only after the model's run."""
    codec, _, _ = choose_video_codec(".mp4", encode.codec, width=width * SCALE, height=height * SCALE)
    encoder_settings(
        codec, encode.crf, encode.preset, encode.encoder_options, frame_size=(width * SCALE, height * SCALE),
        container=container_format(".mp4"),
    )


def memory_growth(
    model: nn.Module, width: int, height: int, frames: int, options: InferenceOptions = InferenceOptions()
) -> dict[str, float]:
    """Peak RSS of end-to-end runs over ``frames`` and twice as many frames.

    Flat memory means the ratio stays near 1: nothing may accumulate per frame.
    """
    device = resolve_device(options.device)
    peaks, cuda_peaks = {}, {}
    with tempfile.TemporaryDirectory(prefix="vsrt-bench-") as folder:
        for count in (frames, 2 * frames):
            source = Path(folder) / f"clip{count}.mp4"
            write_clip(source, synthetic_frames(width, height, count))
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            with PeakMemory() as memory:
                upscale_video(source, Path(folder) / f"out{count}.mp4", model, inference=options)
            peaks[count] = memory.peak_mb
            if device.type == "cuda":
                cuda_peaks[count] = torch.cuda.max_memory_allocated(device) / 2**20
    short, long = peaks[frames], peaks[2 * frames]
    growth = {"frames": frames, "peak_rss_mb": round(short, 1), "peak_rss_mb_double": round(long, 1),
              "ratio": round(long / short, 4)}
    if cuda_peaks:
        growth["cuda_max_allocated_mb"] = round(cuda_peaks[frames], 1)
        growth["cuda_max_allocated_mb_double"] = round(cuda_peaks[2 * frames], 1)
    return growth


def precision_agreement(
    model: nn.Module, width: int, height: int, frames: int, options: InferenceOptions = InferenceOptions()
) -> dict[str, float | str]:
    """How far the run's precision lands from fp32 on the synthetic clip, on the same device.

    Compared as the 8-bit codes a video gets: the largest difference in codes, and the
    share of codes that differ at all (a reduced precision is acceptable when the
    largest difference stays at one code).
    """
    clip = synthetic_frames(width, height, frames)
    reduced = upscale_clip(model, clip, options)
    reference = upscale_clip(model, clip, replace(options, precision="fp32"))
    largest, largest_codes, differing, total = 0.0, 0, 0, 0
    for a, b in zip(reduced, reference):
        largest = max(largest, float(np.abs(np.clip(a, 0, 1) - np.clip(b, 0, 1)).max()))
        codes = np.abs(_codes(a) - _codes(b))
        largest_codes = max(largest_codes, int(codes.max()))
        differing += int(np.count_nonzero(codes))
        total += codes.size
    return {
        "precision": choose_precision(resolve_device(options.device), options.precision),
        "frames": frames,
        "max_abs_diff_in_codes": round(largest * 255, 3),
        "max_code_diff": largest_codes,
        "share_of_codes_differing": round(differing / total, 6),
    }


def _codes(rgb: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(rgb, 0, 1) * 255).astype(np.int16)
