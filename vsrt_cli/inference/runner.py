"""Running the model over a stream of frames: temporal windows x spatial tiles.

Frames arrive one at a time and leave one at a time; only the frames the current and next
window need are held, so memory does not grow with the video's length. Each window's
tiles run in batches; their 4x outputs are blended into per-frame fp32 canvases.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError, UsageError, VsrtError
from ..models.vsrt import SCALE, VSRTConfig, VSRTransformer
from ..plan.tiles import Tile, padded_frame_size, plan_tiles, tile_weights
from ..plan.windows import Window, chunk_window, default_stride, validate_stride
from .allocator import TRIM_THRESHOLD, release_freed_memory
from .device import DTYPES, choose_precision, model_call, model_on_device, resolve_device, to_host_hwc
from .ensemble import ensemble_forward, symmetries
from .flows import FlowCache

# Far beyond any real video: stands for "the last frame is not known yet".
UNKNOWN_END = 2**62


@dataclass(frozen=True)
class InferenceOptions:
    window_stride: int | None = None  # None: default_stride(T)
    tile_overlap: int | None = None  # LR pixels; None: default_tile_overlap(tile size)
    tile_batch: int | None = None  # None: chosen from the device
    device: str = "auto"
    precision: str = "auto"
    # Versions of each window (flipped, transposed, reversed) whose outputs are averaged;
    # see ensemble.py. 1 runs the window as it is.
    ensemble: int = 1


@dataclass
class InferenceStats:
    """What the run computed, for progress reports and benchmarks."""

    frames_out: int = 0
    windows: int = 0
    tiles: int = 0
    flow_pairs: int = 0
    tile_batch: int = 0
    ensemble: int = 1
    oom_retries: int = 0
    device: str = ""
    precision: str = ""


def default_tile_overlap(tile_size: int) -> int:
    """3/32 of the tile (6 LR pixels for 64).

    On held-out clips at 320x180, 6 pixels scored within 0.002 dB of 8 (benchmarks/README.md),
    and at 180 rows they let 3 tiles cover the frame instead of 4.
    """
    return tile_size * 3 // 32


def plan_settings(options: InferenceOptions, config: VSRTConfig) -> tuple[int, int]:
    """The window stride and tile overlap a run uses, defaults filled in.

    Every option is checked here (UsageError), and ``--dry-run`` calls it too, so that a
    plan it prints is one the run accepts.
    """
    for name in ("window_stride", "tile_overlap", "tile_batch", "ensemble"):
        value = getattr(options, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise UsageError(f"--{name.replace('_', '-')} {value!r}: must be a whole number")
    stride = default_stride(config.num_frames) if options.window_stride is None else options.window_stride
    validate_stride(stride, config.num_frames)
    overlap = default_tile_overlap(config.tile_size) if options.tile_overlap is None else options.tile_overlap
    if not 0 <= overlap < config.tile_size // 2:
        raise UsageError(f"--tile-overlap {overlap}: must be between 0 and {config.tile_size // 2 - 1} LR pixels")
    if options.tile_batch is not None and options.tile_batch < 1:
        raise UsageError(f"--tile-batch {options.tile_batch}: must be at least 1")
    symmetries(options.ensemble)
    return stride, overlap


# Bytes of one tile's feature map (T x channels x S x S) that a CPU step may hold: 2 MB,
# one core's L2 on the machines measured. With vsrt-small that is 1 tile in fp32 and 2 in
# bf16, the fastest counts measured on a 2-core AVX2 EPYC (fp32: 0.14 s per tile alone,
# 0.21 in fours) and a 2-core AMX Xeon (bf16: x1.07-1.10 with 2 per step; fp32 there was
# also fastest with 1).
CPU_TILE_FEATURE_BYTES = 2 * 2**20


def default_tile_batch(device: torch.device, config: VSRTConfig, precision: str) -> int:
    size = config.tile_size
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # Rough activation cost of one 64x64 tile of the official model in fp16, scaled by area.
        per_tile = 600 * 2**20 * (size / 64) ** 2
        return int(max(1, min(64, free * 0.5 // per_tile)))
    # On a CPU the conv kernels are already parallel within a tile; more tiles per step
    # only pay while their features stay in cache, and then save per-call overhead.
    feature_bytes = config.num_frames * config.channels * size * size * DTYPES[precision].itemsize
    return int(max(1, CPU_TILE_FEATURE_BYTES // feature_bytes))


def frame_to_tensor(frame: np.ndarray, tile_size: int, device: torch.device) -> torch.Tensor:
    """HxWx3 float RGB -> [3, H', W'] on ``device``, padded up to one tile if smaller."""
    if not isinstance(frame, np.ndarray):
        raise InputError(f"expected an HxWx3 numpy array of float RGB in [0, 1], got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"expected an HxWx3 RGB frame, got shape {frame.shape}")
    if not np.issubdtype(frame.dtype, np.floating):
        # A uint8 frame would pass as values up to 255 and come back on that scale, wrong.
        raise InputError(f"expected float RGB in [0, 1], got {frame.dtype} (divide 8-bit frames by 255)")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InputError(f"an empty frame ({frame.shape[1]}x{frame.shape[0]})")
    if not np.isfinite(frame).all():
        # One NaN spreads through the attention and the flows into every frame of its windows.
        raise InputError("a frame holds NaN or infinite values")
    # Overshoot from resampling is fine; values far outside [0, 1] are 8-bit values cast to
    # float and not scaled, which the model would upscale into garbage.
    low, high = float(frame.min()), float(frame.max())
    if low < -0.5 or high > 1.5:
        hint = " (divide 8-bit values by 255)" if high > 1.5 else ""
        raise InputError(f"expected float RGB in [0, 1], got values from {low:g} to {high:g}{hint}")
    # Always a copy: frames are held for the windows ahead, and a producer may reuse its buffer.
    tensor = torch.from_numpy(np.array(frame, dtype=np.float32, order="C")).permute(2, 0, 1).to(device)
    height, width = frame.shape[:2]
    padded_h, padded_w = padded_frame_size(height, width, tile_size)
    if (padded_h, padded_w) == (height, width):
        return tensor
    pad = (0, padded_w - width, 0, padded_h - height)
    # Reflection looks like natural content; it needs the pad to be smaller than the side.
    mode = "reflect" if padded_h - height < height and padded_w - width < width else "replicate"
    return F.pad(tensor[None], pad, mode=mode)[0]


@dataclass
class TileBlend:
    """A frame size's tiles, each one's blend weights, and their sum, on the device.

    They are the same for every window, so they are made once per video: on a GPU,
    copying each tile's weights from the host was a host-device synchronisation per tile,
    which kept the host from queueing the next tile's work while the GPU ran this one's.
    Tiles with the same edges share one weight map (at most 16 distinct ones).
    """

    frame_size: tuple[int, int]
    tiles: list[Tile]
    weights: dict[Tile, torch.Tensor]
    weight_sum: torch.Tensor

    @classmethod
    def build(cls, padded_h: int, padded_w: int, tile_size: int, overlap: int, device: torch.device) -> "TileBlend":
        tiles = plan_tiles(padded_h, padded_w, tile_size, overlap)
        shared: dict[tuple[bool, bool, bool, bool], torch.Tensor] = {}
        weights: dict[Tile, torch.Tensor] = {}
        for tile in tiles:
            edges = (tile.top == 0, tile.top + tile_size == padded_h, tile.left == 0, tile.left + tile_size == padded_w)
            if edges not in shared:
                host = tile_weights(tile, padded_h, padded_w, tile_size, overlap, SCALE)
                shared[edges] = torch.from_numpy(host).to(device)
            weights[tile] = shared[edges]
        weight_sum = torch.zeros(SCALE * padded_h, SCALE * padded_w, device=device)
        hr = SCALE * tile_size
        for tile in tiles:
            weight_sum[SCALE * tile.top : SCALE * tile.top + hr, SCALE * tile.left : SCALE * tile.left + hr] += weights[tile]
        return cls((padded_h, padded_w), tiles, weights, weight_sum)


class WindowedUpscaler:
    """Upscales a frame stream with ``model``; see :func:`upscale_stream`."""

    def __init__(self, model: VSRTransformer, options: InferenceOptions = InferenceOptions()) -> None:
        self.config = model.config
        self.device = resolve_device(options.device)
        self.precision = choose_precision(self.device, options.precision)
        self.stride, self.overlap = plan_settings(options, self.config)
        self.symmetries = symmetries(options.ensemble)
        self.model = model_on_device(model, self.device)
        self.tile_batch = options.tile_batch or default_tile_batch(self.device, self.config, self.precision)
        self.stats = InferenceStats(
            tile_batch=self.tile_batch, ensemble=options.ensemble, device=str(self.device), precision=self.precision
        )
        self._blend: TileBlend | None = None

    def _blend_for(self, padded_h: int, padded_w: int) -> "TileBlend":
        if self._blend is None or self._blend.frame_size != (padded_h, padded_w):
            self._blend = None  # the old one's memory goes before the new one is made
            self._blend = TileBlend.build(padded_h, padded_w, self.config.tile_size, self.overlap, self.device)
        return self._blend

    # -- model calls -------------------------------------------------------------------

    def _spynet(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        with model_call(self.device, self.precision):
            return self.model.spynet.spynet(ref, supp).float()

    def _run_batch(self, lrs: torch.Tensor, flows_fw: torch.Tensor, flows_bw: torch.Tensor) -> torch.Tensor:
        with model_call(self.device, self.precision):
            return ensemble_forward(self.model, lrs, flows_fw, flows_bw, self.symmetries)

    def _run_tiles(
        self, lrs: torch.Tensor, flows: tuple[torch.Tensor, torch.Tensor], tiles: list[Tile]
    ) -> Iterator[tuple[Tile, torch.Tensor]]:
        """Yield (tile, output [T, 3, 4S, 4S]); halves the batch on CUDA out-of-memory."""
        size = self.config.tile_size
        position = 0
        while position < len(tiles):
            batch = tiles[position : position + self.tile_batch]

            def crop(source: torch.Tensor) -> torch.Tensor:
                return torch.stack([source[..., t.top : t.top + size, t.left : t.left + size] for t in batch])

            try:
                out = self._run_batch(crop(lrs), crop(flows[0]), crop(flows[1]))
            except torch.OutOfMemoryError:
                if self.tile_batch == 1:
                    raise VsrtError(
                        f"out of {self.device} memory even with one tile per step; try --device cpu"
                    ) from None
                self.tile_batch = max(1, self.tile_batch // 2)
                self.stats.tile_batch = self.tile_batch
                self.stats.oom_retries += 1
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            for index, tile in enumerate(batch):
                yield tile, out[index]
            position += len(batch)

    # -- streaming ---------------------------------------------------------------------

    def upscale(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for image in self.upscale_tensors(frames):
            yield to_host_hwc(image)

    def upscale_tensors(self, frames: Iterable[np.ndarray]) -> Iterator[torch.Tensor]:
        """Like :meth:`upscale`, but each output frame stays where the model made it, as a
        float32 [3, 4H, 4W] tensor: an encoder can convert it there before copying."""
        num_frames = self.config.num_frames
        reader = _FrameBuffer(iter(frames), self.config.tile_size, self.device)
        flows = FlowCache(self._spynet, reader.get, zero_self_flow=self.config.self_flow == "zero")
        start = 0
        while True:
            # Enough look-ahead for any window of this chunk, or the end of the video.
            reader.fill(start + self.stride - 1 + num_frames)
            last = reader.last_index
            if last is not None and start > last:
                break
            length = self.stride if last is None else min(self.stride, last - start + 1)
            window = chunk_window(start, length, num_frames, UNKNOWN_END if last is None else last)
            yield from self._upscale_window(window, reader, flows)
            start += length
            # Windows reflected at the end reach back at most T - 1 frames before their centre.
            reader.forget_before(start - num_frames)
            flows.forget_before(start - num_frames)
            self.stats.flow_pairs = flows.pairs_computed

    def _upscale_window(
        self,
        window: Window,
        reader: "_FrameBuffer",
        flows: FlowCache,
    ) -> Iterator[torch.Tensor]:
        size = self.config.tile_size
        height, width = reader.frame_size
        lrs = torch.stack([reader.get(i) for i in window.indices])
        padded_h, padded_w = lrs.shape[-2:]
        blend = self._blend_for(padded_h, padded_w)
        window_flows = flows.window_flows(window)
        canvases = {
            frame: torch.zeros(3, SCALE * padded_h, SCALE * padded_w, device=self.device)
            for frame in window.output_frames
        }
        hr = SCALE * size
        for tile, out in self._run_tiles(lrs, window_flows, blend.tiles):
            weights = blend.weights[tile]
            rows = slice(SCALE * tile.top, SCALE * tile.top + hr)
            cols = slice(SCALE * tile.left, SCALE * tile.left + hr)
            for frame, position in window.outputs:
                canvases[frame][:, rows, cols].addcmul_(out[position], weights)
        self.stats.windows += 1
        self.stats.tiles += len(blend.tiles)
        weight_sum = blend.weight_sum
        if self.device.type == "cpu" and sum(c.nbytes for c in canvases.values()) > TRIM_THRESHOLD:
            # Only for big frames, where peak memory binds: re-faulting the tiles' memory
            # costs about 0.1 s per window, 8% of a 320x180 window, 0.5% of a 720p one.
            release_freed_memory()
        for frame, _ in window.outputs:
            # In place: at 720p input each canvas is 177 MB, and a copy per frame would
            # raise the peak by as much.
            canvas = canvases.pop(frame).div_(weight_sum)[:, : SCALE * height, : SCALE * width]
            self.stats.frames_out += 1
            yield canvas


class _FrameBuffer:
    """Decoded frames by index, read from the source only as far as asked."""

    def __init__(self, source: Iterator[np.ndarray], tile_size: int, device: torch.device) -> None:
        self._source = source
        self._tile_size = tile_size
        self._device = device
        self._frames: dict[int, torch.Tensor] = {}
        self.count = 0
        self.frame_size: tuple[int, int] | None = None
        self.last_index: int | None = None

    def fill(self, upto: int) -> None:
        while self.last_index is None and self.count <= upto:
            try:
                frame = next(self._source)
            except StopIteration:
                self.last_index = self.count - 1
                return
            tensor = frame_to_tensor(frame, self._tile_size, self._device)  # checks it first
            size = tuple(frame.shape[:2])
            if self.frame_size is None:
                self.frame_size = size
            elif size != self.frame_size:
                raise InputError(
                    f"frame {self.count} is {size[1]}x{size[0]}, but the video started at"
                    f" {self.frame_size[1]}x{self.frame_size[0]}: frames given to the upscaler must all have one size"
                    " (vsrt's video reader fits pictures that change size to the first one)"
                )
            self._frames[self.count] = tensor
            self.count += 1

    def get(self, index: int) -> torch.Tensor:
        return self._frames[index]

    def forget_before(self, index: int) -> None:
        for old in [i for i in self._frames if i < index]:
            del self._frames[old]


def as_upscaler(model) -> VSRTransformer:
    """The network a library call runs: a loaded one as it is, a registered name or a
    ``.safetensors`` path loaded, None the default model; anything else a UsageError."""
    if model is None or isinstance(model, (str, os.PathLike)):
        from ..weights.loading import load_model  # the weights layer sits above this one

        model = load_model(model)
    if not isinstance(model, VSRTransformer):
        raise UsageError(f"model must be a vsrt VSRTransformer (see vsrt_cli.load_model), got {type(model).__name__}")
    return model


def as_options(options) -> InferenceOptions:
    """``options`` as given, or the defaults for None; anything else a UsageError."""
    if options is None:
        return InferenceOptions()
    if not isinstance(options, InferenceOptions):
        raise UsageError(f"inference options must be a vsrt_cli.InferenceOptions, got {type(options).__name__}")
    return options


def upscale_stream(
    model: VSRTransformer | str | os.PathLike | None,
    frames: Iterable[np.ndarray],
    options: InferenceOptions | None = None,
    on_stats: Callable[[InferenceStats], None] | None = None,
) -> Iterator[np.ndarray]:
    """Upscale frames (HxWx3 float32 RGB in [0, 1]) 4x, yielding each output frame in order.

    ``model`` is a loaded network, a registered name, a ``.safetensors`` path or None for
    the default model. The outputs are unclamped float32 [4H, 4W, 3] arrays.
    """
    upscaler = WindowedUpscaler(as_upscaler(model), as_options(options))
    for frame in upscaler.upscale(frames):
        yield frame
        if on_stats is not None:
            on_stats(upscaler.stats)


def upscale_clip(
    model: VSRTransformer | str | os.PathLike | None,
    frames: list[np.ndarray],
    options: InferenceOptions | None = None,
) -> list[np.ndarray]:
    """Upscale an in-memory clip; the same computation as the video pipeline."""
    return list(upscale_stream(model, frames, options))


def estimate_window_count(frame_count: int, stride: int) -> int:
    return math.ceil(frame_count / stride)
