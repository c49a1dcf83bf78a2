"""HDR10 static metadata: read from the source's frames, written by x264/x265 as SEI.

Colour tags say a stream is PQ/BT.2020; the mastering display and content light levels
say how bright it was graded, which is what players tone-map with. FFmpeg hands them out
as frame side data (AVMasteringDisplayMetadata, AVContentLightMetadata), whose C layouts
are read here with ``struct``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

import av

# AVMasteringDisplayMetadata: display_primaries[3][2] (r, g, b), white_point[2],
# min_luminance, max_luminance as AVRational {int num, den}; has_primaries, has_luminance.
_MASTERING = struct.Struct("=22i")
# AVContentLightMetadata: unsigned MaxCLL, MaxFALL.
_LIGHT_LEVEL = struct.Struct("=2I")
# SEI units: chromaticity in 0.00002, luminance in 0.0001 cd/m2.
_CHROMA_UNITS = 50000
_LUMA_UNITS = 10000


@dataclass(frozen=True)
class HDR10Metadata:
    # (x, y) chromaticities of the red, green and blue primaries and the white point.
    primaries: tuple[tuple[Fraction, Fraction], ...] | None = None
    white_point: tuple[Fraction, Fraction] | None = None
    luminance: tuple[Fraction, Fraction] | None = None  # (min, max) in cd/m2
    light_level: tuple[int, int] | None = None  # (MaxCLL, MaxFALL) in cd/m2

    def x26x_params(self, codec: str) -> list[str]:
        """``key=value`` entries for x264-params / x265-params."""
        params = []
        if self.primaries and self.white_point and self.luminance:
            (rx, ry), (gx, gy), (bx, by) = (_chroma(x, y) for x, y in self.primaries)
            wx, wy = _chroma(*self.white_point)
            low, high = (round(v * _LUMA_UNITS) for v in self.luminance)
            display = f"G({gx},{gy})B({bx},{by})R({rx},{ry})WP({wx},{wy})L({high},{low})"
            params.append(f"{'master-display' if codec == 'libx265' else 'mastering-display'}={display}")
        if self.light_level:
            params.append(f"{'max-cll' if codec == 'libx265' else 'cll'}={self.light_level[0]},{self.light_level[1]}")
        return params


def _chroma(x: Fraction, y: Fraction) -> tuple[int, int]:
    return round(x * _CHROMA_UNITS), round(y * _CHROMA_UNITS)


def _ratio(num: int, den: int) -> Fraction:
    return Fraction(num, den) if den else Fraction(0)


def frame_side_data(frame: av.VideoFrame) -> list:
    """The frame's side data entries, whatever PyAV's version: iteration gives the entries
    up to PyAV 18.1.0 and, since 18.1.1, their types, the keys of a mapping (whose
    ``values()`` 18.1.0 cannot give)."""
    container = frame.side_data
    return [item if hasattr(item, "type") else container[item] for item in container]


def hdr10_from_frame(frame: av.VideoFrame) -> HDR10Metadata | None:
    """The frame's HDR10 static metadata, or None when it carries none."""
    mastering = light = None
    try:
        side_data = frame_side_data(frame)
    except ValueError:
        # PyAV 18.1.0 names each entry's type on access and fails on one it has no name
        # for (FFmpeg 8 attaches EXIF to TIFF pictures as type 31); such a frame is read as
        # carrying no HDR10 metadata rather than refused.
        return None
    for side in side_data:
        kind = getattr(side.type, "name", str(side.type))
        data = bytes(side)
        if kind.endswith("MASTERING_DISPLAY_METADATA") and len(data) >= _MASTERING.size:
            mastering = _MASTERING.unpack_from(data)
        elif kind.endswith("CONTENT_LIGHT_LEVEL") and len(data) >= _LIGHT_LEVEL.size:
            light = _LIGHT_LEVEL.unpack_from(data)
    if mastering is None and light is None:
        return None
    primaries = white = luminance = None
    if mastering is not None:
        values = [_ratio(mastering[i], mastering[i + 1]) for i in range(0, 20, 2)]
        has_primaries, has_luminance = mastering[20], mastering[21]
        if has_primaries:
            primaries = ((values[0], values[1]), (values[2], values[3]), (values[4], values[5]))
            white = (values[6], values[7])
        if has_luminance:
            luminance = (values[8], values[9])
    return HDR10Metadata(
        primaries=primaries,
        white_point=white,
        luminance=luminance,
        light_level=(light[0], light[1]) if light and any(light) else None,
    )
