"""Running a model over frames: windows, tiles, flows, device and precision."""

from .allocator import keep_freed_memory, large_blocks_on_heap
from .device import choose_precision, resolve_device
from .runner import InferenceOptions, InferenceStats, WindowedUpscaler, upscale_clip, upscale_stream

__all__ = [
    "InferenceOptions",
    "InferenceStats",
    "WindowedUpscaler",
    "choose_precision",
    "keep_freed_memory",
    "large_blocks_on_heap",
    "resolve_device",
    "upscale_clip",
    "upscale_stream",
]
