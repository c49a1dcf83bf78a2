"""Colour tags and exact YUV <-> RGB arithmetic.

Everything here is array arithmetic, tested without any video file. The conversion
follows ITU-T H.273: a matrix defined by (Kr, Kb), limited range mapping Y' to [16, 235]
and chroma to [16, 240] (scaled by 2^(bits-8)), full range mapping to [0, 2^bits - 1]
with chroma centred on 2^(bits-1).

The RGB -> YUV direction takes numpy arrays or torch tensors alike and does the same
float32 operations in the same order on either, so a frame converted on a GPU, where the
model left it, gets the very codes the CPU would give it.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

# FFmpeg's own names for its colour enums, indexed by enum value, so tags read from a
# file can be reported (and written back) exactly as ffprobe would show them.
COLORSPACE_NAMES = {
    0: "gbr", 1: "bt709", 2: "unknown", 3: "reserved", 4: "fcc", 5: "bt470bg",
    6: "smpte170m", 7: "smpte240m", 8: "ycgco", 9: "bt2020nc", 10: "bt2020c",
    11: "smpte2085", 12: "chroma-derived-nc", 13: "chroma-derived-c", 14: "ictcp",
}
RANGE_NAMES = {0: "unknown", 1: "tv", 2: "pc"}
PRIMARIES_NAMES = {
    0: "reserved", 1: "bt709", 2: "unknown", 3: "reserved", 4: "bt470m", 5: "bt470bg",
    6: "smpte170m", 7: "smpte240m", 8: "film", 9: "bt2020", 10: "smpte428",
    11: "smpte431", 12: "smpte432", 22: "ebu3213",
}
TRANSFER_NAMES = {
    0: "reserved", 1: "bt709", 2: "unknown", 3: "reserved", 4: "bt470m", 5: "bt470bg",
    6: "smpte170m", 7: "smpte240m", 8: "linear", 9: "log100", 10: "log316",
    11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1", 14: "bt2020-10",
    15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67",
}

# (Kr, Kb) per matrix we can convert exactly; "gbr" means the planes are G, B, R.
MATRIX_COEFFICIENTS = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
    "smpte240m": (0.212, 0.087),
    "fcc": (0.30, 0.11),
}
SUPPORTED_MATRICES = (*MATRIX_COEFFICIENTS, "gbr")

# Tagged FFmpeg colourspace name -> matrix used. BT.2020 constant-luminance has no
# linear matrix; its non-constant sibling is the closest linear approximation.
_TAG_TO_MATRIX = {
    "bt709": "bt709", "bt470bg": "bt601", "smpte170m": "bt601", "bt2020nc": "bt2020",
    "bt2020c": "bt2020", "smpte240m": "smpte240m", "fcc": "fcc", "gbr": "gbr",
}
# Matrix used -> AVColorSpace value written to an output that had no usable tag.
_MATRIX_TO_CODE = {"bt601": 6, "bt709": 1, "bt2020": 9, "smpte240m": 7, "fcc": 4, "gbr": 0}
# Untagged primaries/transfer are tagged to match the guessed matrix so that players
# do not re-guess from the (4x larger) output resolution and shift the colours.
_MATRIX_TO_PRIMARIES_TRC = {"bt601": (6, 6), "bt709": (1, 1), "bt2020": (9, 14)}
_PAL_PRIMARIES = 5  # AVCOL_PRI_BT470BG


@dataclass(frozen=True)
class ColourTags:
    """Colour description of a stream.

    ``matrix``/``range``/``primaries``/``transfer`` are FFmpeg names as tagged in the
    file ("unknown" when untagged); ``matrix_used``/``full_range`` are what the
    conversion actually uses after guessing.
    """

    matrix: str = "unknown"
    range: str = "unknown"
    primaries: str = "unknown"
    transfer: str = "unknown"
    matrix_used: str = "bt709"
    full_range: bool = False

    @property
    def guessed(self) -> bool:
        return self.matrix not in _TAG_TO_MATRIX

    def output_codes(self) -> dict[str, int]:
        """AVColor* values to tag an encoded stream with, keeping the source's tags."""
        matrix = _code_for(COLORSPACE_NAMES, self.matrix)
        if self.matrix not in _TAG_TO_MATRIX or self.matrix == "bt2020c":
            # The output is encoded with matrix_used; a constant-luminance source is
            # re-encoded with the non-constant matrix, so its tag must say that one.
            matrix = _MATRIX_TO_CODE[self.matrix_used]
        default_prim, default_trc = _MATRIX_TO_PRIMARIES_TRC.get(self.matrix_used, (2, 2))
        if self.matrix == "bt470bg":
            default_prim = _PAL_PRIMARIES  # a PAL-tagged matrix means PAL's primaries, not NTSC's
        primaries = _code_for(PRIMARIES_NAMES, self.primaries)
        transfer = _code_for(TRANSFER_NAMES, self.transfer)
        return {
            "colorspace": matrix,
            "color_range": 2 if self.full_range else 1,
            "color_primaries": default_prim if primaries in (0, 2) else primaries,
            "color_trc": default_trc if transfer in (0, 2) else transfer,
        }


def _code_for(table: dict[int, str], name: str) -> int:
    for code, known in table.items():
        if known == name:
            return code
    return 2


def name_of(table: dict[int, str], code: int | None) -> str:
    if code is None:
        return "unknown"
    return table.get(int(code), "unknown")


def guess_matrix(width: int, height: int, tagged: str | None = None) -> str:
    """Matrix to convert with: the tagged one when we support it, else by frame size.

    Untagged HD (height >= 720 or width >= 1280) is BT.709, anything smaller BT.601,
    which is what players and FFmpeg itself assume.
    """
    if tagged:
        key = tagged.lower()
        if key in _TAG_TO_MATRIX:
            return _TAG_TO_MATRIX[key]
        if key in SUPPORTED_MATRICES:
            return key
    return "bt709" if height >= 720 or width >= 1280 else "bt601"


def is_full_range(pix_fmt: str, tagged_range: str) -> bool:
    """Full range when tagged "pc" or when the pixel format is a JPEG (yuvj*) one."""
    return tagged_range == "pc" or pix_fmt.startswith("yuvj")


def resolve_colour(
    width: int,
    height: int,
    pix_fmt: str,
    colorspace: int | None,
    color_range: int | None,
    primaries: int | None,
    transfer: int | None,
) -> ColourTags:
    """Build ColourTags from FFmpeg enum values, guessing what is not tagged."""
    matrix = name_of(COLORSPACE_NAMES, colorspace)
    rng = name_of(RANGE_NAMES, color_range)
    return ColourTags(
        matrix=matrix,
        range=rng,
        primaries=name_of(PRIMARIES_NAMES, primaries),
        transfer=name_of(TRANSFER_NAMES, transfer),
        # RGB planes have no YUV matrix, tagged or not (BMP's decoder does not tag them).
        matrix_used="gbr" if _stores_rgb(pix_fmt) else guess_matrix(width, height, matrix),
        full_range=is_full_range(pix_fmt, rng),
    )


def _stores_rgb(pix_fmt: str) -> bool:
    try:
        return av.VideoFormat(pix_fmt).is_rgb
    except ValueError:  # "unknown": nothing decoded to say
        return False


def _levels(bit_depth: int, full_range: bool) -> tuple[float, float, float, float]:
    """(luma offset, luma span, chroma centre, chroma span) in code values."""
    if full_range:
        peak = float((1 << bit_depth) - 1)
        return 0.0, peak, float(1 << (bit_depth - 1)), peak
    scale = float(1 << (bit_depth - 8))
    return 16.0 * scale, 219.0 * scale, 128.0 * scale, 224.0 * scale


def yuv_to_rgb(y, cb, cr, matrix: str, full_range: bool, bit_depth: int) -> np.ndarray:
    """Full-resolution Y/Cb/Cr code values -> float32 RGB HxWx3 clipped to [0, 1]."""
    y_off, y_span, c_mid, c_span = _levels(bit_depth, full_range)
    luma = (np.asarray(y, np.float32) - y_off) * np.float32(1.0 / y_span)
    pb = (np.asarray(cb, np.float32) - c_mid) * np.float32(1.0 / c_span)
    pr = (np.asarray(cr, np.float32) - c_mid) * np.float32(1.0 / c_span)
    out = np.empty((*luma.shape, 3), np.float32)
    if matrix == "gbr":
        # Planes carry G, B, R with the same levels as luma.
        out[..., 0] = (np.asarray(cr, np.float32) - y_off) / y_span
        out[..., 1] = luma
        out[..., 2] = (np.asarray(cb, np.float32) - y_off) / y_span
    else:
        kr, kb = MATRIX_COEFFICIENTS[matrix]
        kg = 1.0 - kr - kb
        out[..., 0] = luma + np.float32(2 * (1 - kr)) * pr
        out[..., 2] = luma + np.float32(2 * (1 - kb)) * pb
        out[..., 1] = (
            luma
            - np.float32(2 * kr * (1 - kr) / kg) * pr
            - np.float32(2 * kb * (1 - kb) / kg) * pb
        )
    return np.clip(out, 0.0, 1.0, out=out)


def _namespace(values):
    """numpy for arrays, torch for tensors (imported only when one is passed)."""
    if isinstance(values, np.ndarray):
        return np
    import torch

    return torch


def _f32(value: float) -> float:
    # A Python float that is exactly representable in float32: numpy and torch both apply
    # a Python scalar to a float32 array in float32, so both see this very value.
    return float(np.float32(value))


def rgb_to_yuv(rgb, matrix: str, full_range: bool, bit_depth: int):
    """float RGB HxWx3 in [0, 1] -> unrounded (Y, Cb, Cr) code values at full size.

    ``rgb`` is a numpy array or a float32 torch tensor (on any device); the planes come
    back as the same kind.
    """
    xp = _namespace(rgb)
    if xp is np:
        rgb = np.asarray(rgb, np.float32)
    rgb = xp.clip(rgb, 0.0, 1.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y_off, y_span, c_mid, c_span = _levels(bit_depth, full_range)
    if matrix == "gbr":
        return g * y_span + y_off, b * y_span + y_off, r * y_span + y_off
    kr, kb = MATRIX_COEFFICIENTS[matrix]
    luma = _f32(kr) * r + _f32(1 - kr - kb) * g + _f32(kb) * b
    pb = (b - luma) * _f32(1.0 / (2 * (1 - kb)))
    pr = (r - luma) * _f32(1.0 / (2 * (1 - kr)))
    return luma * y_span + y_off, pb * c_span + c_mid, pr * c_span + c_mid


def upsample_chroma(plane, sub_x: int, sub_y: int, width: int, height: int) -> np.ndarray:
    """Subsampled chroma -> width x height float32.

    Siting follows the H.264/HEVC default (MPEG-2 style): horizontally co-sited with
    the even luma columns, vertically half-way between the two luma rows.
    """
    out = np.asarray(plane, np.float32)
    if sub_x:
        nxt = np.concatenate([out[:, 1:], out[:, -1:]], axis=1)
        wide = np.empty((out.shape[0], out.shape[1] * 2), np.float32)
        wide[:, 0::2] = out
        wide[:, 1::2] = (out + nxt) * np.float32(0.5)
        out = wide
    if sub_y:
        prev = np.concatenate([out[:1], out[:-1]], axis=0)
        nxt = np.concatenate([out[1:], out[-1:]], axis=0)
        tall = np.empty((out.shape[0] * 2, out.shape[1]), np.float32)
        tall[0::2] = out * np.float32(0.75) + prev * np.float32(0.25)
        tall[1::2] = out * np.float32(0.75) + nxt * np.float32(0.25)
        out = tall
    return out[:height, :width]


def downsample_chroma(plane, sub_x: int, sub_y: int):
    """Full-size chroma -> subsampled float32 with the siting of ``upsample_chroma``.

    Odd sizes are padded by repeating the last row/column, matching the
    ceil(size / 2) chroma planes FFmpeg allocates. Takes and returns a numpy array or a
    torch tensor.
    """
    xp = _namespace(plane)
    out = np.asarray(plane, np.float32) if xp is np else plane
    if sub_x:
        if out.shape[1] % 2:
            out = xp.concatenate([out, out[:, -1:]], axis=1)
        even, odd = out[:, 0::2], out[:, 1::2]
        prev_odd = xp.concatenate([odd[:, :1], odd[:, :-1]], axis=1)
        # Co-sited samples: a [1, 2, 1] / 4 filter centred on each even column.
        out = (even * 0.5) + (odd + prev_odd) * 0.25
    if sub_y:
        if out.shape[0] % 2:
            out = xp.concatenate([out, out[-1:]], axis=0)
        out = (out[0::2] + out[1::2]) * 0.5
    return out


def quantize(values, bit_depth: int):
    """Round code values to integers clipped to the depth: uint8 up to 8 bits; above,
    uint16 for numpy and int16 for torch (which has no uint16 arithmetic; the codes fit)."""
    peak = (1 << bit_depth) - 1
    xp = _namespace(values)
    # round() is round-half-to-even in both, like rint.
    codes = xp.clip(xp.round(values), 0, peak)
    if xp is np:
        return codes.astype(np.uint8 if bit_depth <= 8 else np.uint16)
    return codes.to(xp.uint8 if bit_depth <= 8 else xp.int16)