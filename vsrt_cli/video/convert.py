"""PyAV frames <-> float32 RGB arrays.

The common planar YUV layouts are converted here in numpy from the raw planes, so
the source's own matrix and range are used exactly and 10/12-bit samples keep their
precision. Every other pixel format goes through swscale (``frame.reformat``) at
16 bits per channel.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import Interpolation

from .colour import ColourTags, downsample_chroma, quantize, rgb_to_yuv, upsample_chroma, yuv_to_rgb


@dataclass(frozen=True)
class PlaneLayout:
    sub_x: int
    sub_y: int
    bits: int
    semi_planar: bool = False
    # p010-style formats keep their samples in the high bits of each 16-bit word.
    shift: int = 0
    full_range: bool = False


def _planar(sub_x: int, sub_y: int) -> dict[str, PlaneLayout]:
    chroma = {(1, 1): "420", (1, 0): "422", (0, 0): "444"}[(sub_x, sub_y)]
    layouts = {
        f"yuv{chroma}p": PlaneLayout(sub_x, sub_y, 8),
        f"yuvj{chroma}p": PlaneLayout(sub_x, sub_y, 8, full_range=True),
    }
    for bits in (10, 12):
        layouts[f"yuv{chroma}p{bits}le"] = PlaneLayout(sub_x, sub_y, bits)
    return layouts


LAYOUTS: dict[str, PlaneLayout] = {
    **_planar(1, 1),
    **_planar(1, 0),
    **_planar(0, 0),
    "nv12": PlaneLayout(1, 1, 8, semi_planar=True),
    "p010le": PlaneLayout(1, 1, 10, semi_planar=True, shift=6),
}

# swscale's default flags are fast but about a code off; these make it exact enough.
_SWS_FLAGS = (
    Interpolation.BICUBIC | Interpolation.ACCURATE_RND
    | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP
)

# swscale's names for the matrices it knows; it has no separate FCC-vs-601 nuance.
_SWS_MATRIX = {"bt601": "itu601", "bt709": "itu709", "bt2020": "bt2020", "smpte240m": "smpte240m", "fcc": "fcc"}


def _plane_view(plane, dtype, rows: int, cols: int) -> np.ndarray:
    """Writable view of one plane without its row padding."""
    itemsize = np.dtype(dtype).itemsize
    buf = np.frombuffer(plane, dtype)
    return buf.reshape(plane.height, plane.line_size // itemsize)[:rows, :cols]


def _sample_dtype(bits: int):
    return np.uint8 if bits <= 8 else np.dtype("<u2")


def _read_chroma(frame, layout: PlaneLayout) -> tuple[np.ndarray, np.ndarray]:
    dtype = _sample_dtype(layout.bits if not layout.shift else 16)
    cw = -(-frame.width // (1 << layout.sub_x))
    ch = -(-frame.height // (1 << layout.sub_y))
    if layout.semi_planar:
        both = _plane_view(frame.planes[1], dtype, ch, 2 * cw)
        return both[:, 0::2], both[:, 1::2]
    return _plane_view(frame.planes[1], dtype, ch, cw), _plane_view(frame.planes[2], dtype, ch, cw)


def frame_to_rgb(frame, colour: ColourTags) -> np.ndarray:
    """Decoded frame -> float32 HxWx3 RGB in [0, 1] using ``colour``'s matrix and range."""
    layout = LAYOUTS.get(frame.format.name)
    if layout is None:
        return _swscale_to_rgb(frame, colour)
    w, h = frame.width, frame.height
    dtype = _sample_dtype(layout.bits if not layout.shift else 16)
    y = _plane_view(frame.planes[0], dtype, h, w)
    cb, cr = _read_chroma(frame, layout)
    if layout.shift:
        y, cb, cr = (p >> layout.shift for p in (y, cb, cr))
    cb = upsample_chroma(cb, layout.sub_x, layout.sub_y, w, h)
    cr = upsample_chroma(cr, layout.sub_x, layout.sub_y, w, h)
    full = colour.full_range or layout.full_range
    return yuv_to_rgb(y, cb, cr, colour.matrix_used, full, layout.bits)


def _swscale_to_rgb(frame, colour: ColourTags) -> np.ndarray:
    # swscale widens 8-bit samples to 16 bits by shifting (255 becomes 65280, not 65535),
    # which would darken every 8-bit RGB or grey source by up to a code; rgb24 is exact.
    eight_bit = max(component.bits for component in frame.format.components) <= 8
    target, top = ("rgb24", 255.0) if eight_bit else ("rgb48le", 65535.0)
    kwargs = {"format": target, "dst_color_range": 2, "interpolation": _SWS_FLAGS}
    if not frame.format.is_rgb and colour.matrix_used in _SWS_MATRIX:
        kwargs["src_colorspace"] = _SWS_MATRIX[colour.matrix_used]
        kwargs["src_color_range"] = 2 if colour.full_range else 1
    rgb = frame.reformat(**kwargs).to_ndarray()
    return rgb.astype(np.float32) * np.float32(1.0 / top)


def rgb_to_frame(rgb, pix_fmt: str, colour: ColourTags, codes: dict[str, int], workers: Executor | None = None):
    """float RGB -> a new VideoFrame in ``pix_fmt`` tagged with ``codes``.

    ``rgb`` is an HxWx3 numpy array, or, for the planar YUV formats of ``LAYOUTS``
    (``converts_tensors``), a float32 [3, H, W] torch tensor. A tensor on a GPU is
    converted there and only its integer planes come back to the host: 1.5 bytes per
    pixel in 8-bit 4:2:0 instead of 12, and no CPU time. With ``workers``, the bands of a
    planar YUV frame on the host are converted in parallel.
    """
    layout = LAYOUTS.get(pix_fmt)
    if not isinstance(rgb, np.ndarray):
        if not converts_tensors(pix_fmt):
            raise TypeError(f"{pix_fmt} frames are converted from HxWx3 numpy arrays only")
        if rgb.device.type == "cpu":
            # numpy does the same arithmetic in less CPU time than torch's thread pool.
            rgb = rgb.permute(1, 2, 0).numpy()
    if not isinstance(rgb, np.ndarray):
        frame = _planar_from_tensor(rgb, pix_fmt, layout, colour)
    elif layout is None or layout.semi_planar:
        frame = _swscale_from_rgb(rgb, pix_fmt, colour)
    else:
        frame = _planar_from_rgb(rgb, pix_fmt, layout, colour, workers)
    for name, value in codes.items():
        setattr(frame, name, value)
    return frame


def converts_tensors(pix_fmt: str) -> bool:
    """Whether ``rgb_to_frame`` takes a [3, H, W] tensor for this pixel format."""
    layout = LAYOUTS.get(pix_fmt)
    return layout is not None and not layout.semi_planar


# Rows converted at a time. The conversion makes about ten float32 temporaries of its
# input's size; a whole 5120x2880 frame would need 0.5 GB of them at once. An even
# count keeps 4:2:0 chroma row pairs inside one band, so banding changes no value, and
# bands write disjoint rows, so they can be converted in parallel. 64 rows on 2 threads
# hold what 128 rows on one did (and ran as fast as 128 on 2: 87-89 against 92-103 ms
# for a 5120x2880 frame).
BAND_ROWS = 64


def _new_planar_frame(width: int, height: int, pix_fmt: str, layout: PlaneLayout):
    """A new frame and writable views of its planes."""
    frame = av.VideoFrame(width, height, pix_fmt)
    dtype = _sample_dtype(layout.bits)
    return frame, tuple(_plane_view(plane, dtype, plane.height, plane.width) for plane in frame.planes)


def _band_codes(band, top: int, layout: PlaneLayout, colour: ColourTags):
    """(first plane row, quantised codes) of Y, Cb and Cr for the HxWx3 ``band`` of float
    RGB whose first row is frame row ``top`` (even, so 4:2:0 chroma row pairs stay whole).
    A numpy band gives numpy codes, a tensor band tensor codes on its device."""
    full = colour.full_range or layout.full_range
    y, cb, cr = rgb_to_yuv(band, colour.matrix_used, full, layout.bits)
    chroma_top = top >> layout.sub_y
    return (
        (top, quantize(y, layout.bits)),
        (chroma_top, quantize(downsample_chroma(cb, layout.sub_x, layout.sub_y), layout.bits)),
        (chroma_top, quantize(downsample_chroma(cr, layout.sub_x, layout.sub_y), layout.bits)),
    )


def _planar_from_rgb(rgb, pix_fmt: str, layout: PlaneLayout, colour: ColourTags, workers: Executor | None = None):
    h, w = rgb.shape[:2]
    frame, planes = _new_planar_frame(w, h, pix_fmt, layout)

    def convert_band(top: int) -> None:
        for plane, (start, codes) in zip(planes, _band_codes(rgb[top : top + BAND_ROWS], top, layout, colour)):
            plane[start : start + codes.shape[0]] = codes

    tops = range(0, h, BAND_ROWS)
    if workers is None or len(tops) == 1:
        for top in tops:
            convert_band(top)
    else:
        # numpy releases the GIL inside each operation on arrays this size.
        for done in [workers.submit(convert_band, top) for top in tops]:
            done.result()
    return frame


# Pixels per band on a GPU: a 2560x1440 frame in one band, a 5120x2880 one in four, so its
# float32 temporaries stay around 200 MB.
DEVICE_BAND_PIXELS = 4 * 2**20


def _planar_from_tensor(chw, pix_fmt: str, layout: PlaneLayout, colour: ColourTags):
    import torch

    _, h, w = chw.shape
    frame, planes = _new_planar_frame(w, h, pix_fmt, layout)
    hwc = chw.permute(1, 2, 0)
    rows = max(2, DEVICE_BAND_PIXELS // w // 2 * 2)
    for top in range(0, h, rows):
        for plane, (start, device_codes) in zip(planes, _band_codes(hwc[top : top + rows], top, layout, colour)):
            # Through pinned memory: a pageable copy from a GPU ran at 1.7 GB/s on an H200.
            codes = torch.empty(device_codes.shape, dtype=device_codes.dtype, pin_memory=device_codes.is_cuda)
            codes.copy_(device_codes)
            plane[start : start + codes.shape[0]] = codes.numpy().view(plane.dtype)
    return frame


def _swscale_from_rgb(rgb, pix_fmt: str, colour: ColourTags):
    deep = np.clip(np.rint(np.asarray(rgb, np.float32) * 65535.0), 0, 65535).astype(np.uint16)
    src = av.VideoFrame.from_ndarray(np.ascontiguousarray(deep), format="rgb48le")
    kwargs = {"format": pix_fmt, "src_color_range": 2, "interpolation": _SWS_FLAGS}
    if not av.VideoFormat(pix_fmt).is_rgb and colour.matrix_used in _SWS_MATRIX:
        kwargs["dst_colorspace"] = _SWS_MATRIX[colour.matrix_used]
        kwargs["dst_color_range"] = 2 if colour.full_range else 1
    return src.reformat(**kwargs)


def bit_depth_of(pix_fmt: str) -> int:
    """Bits per sample of the first component (8 for palettes and unknown formats)."""
    try:
        components = av.VideoFormat(pix_fmt).components
    except (ValueError, av.FFmpegError):
        return 8
    return max(8, components[0].bits) if components else 8
