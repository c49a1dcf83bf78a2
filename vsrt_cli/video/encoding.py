"""Video encoder choice: codec, pixel format and the options handed to FFmpeg."""

from __future__ import annotations

import functools
import math

from dataclasses import dataclass, field
from fractions import Fraction

import av

from ..errors import CodecError, UsageError
from ._open import av_reason
from .containers import container_format, container_label, muxer_accepts
from .hdr import HDR10Metadata

DEFAULT_ENCODER = "libx264"
COMMON_ENCODERS = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "mpeg4")
X26X_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
    "veryslow", "placebo",
)
# The same speed/quality ladder expressed in each encoder's own scale.
_VPX_CPU_USED = dict(zip(X26X_PRESETS, ("8", "7", "6", "5", "4", "3", "2", "1", "0", "0")))
_SVT_PRESETS = dict(zip(X26X_PRESETS, ("12", "11", "10", "9", "8", "7", "5", "4", "2", "1")))
# NVENC's p1 (fastest) to p7 (best); its own default is p4.
_NVENC_PRESETS = dict(zip(X26X_PRESETS, ("p1", "p1", "p2", "p3", "p4", "p4", "p5", "p6", "p7", "p7")))
_NVENC_NATIVE_PRESETS = tuple(f"p{level}" for level in range(1, 8))
NVENC_ENCODERS = ("h264_nvenc", "hevc_nvenc", "av1_nvenc")
# x264 and x265 hold every frame of their rate-control lookahead: x264 about 3 bytes per
# pixel each (44 MB per 5120x2880 frame, measured), so the presets' 40-60 frames would take
# 2-3 GB at 4x of 720p. Lookahead is shortened so that it holds at most this many pixels:
# at 5120x2880, x264 medium then plateaus at 0.86 GB (4 frames) instead of 2 GB (40).
LOOKAHEAD_PIXEL_BUDGET = 60_000_000
MIN_LOOKAHEAD = 3
# Each preset's own rc-lookahead (x264's and x265's preset tables).
_X264_LOOKAHEAD = dict(zip(X26X_PRESETS, (0, 0, 10, 20, 30, 40, 50, 60, 60, 60)))
_X265_LOOKAHEAD = dict(zip(X26X_PRESETS, (5, 10, 15, 15, 15, 20, 25, 40, 40, 60)))
_PARAMS_KEY = {"libx264": "x264-params", "libx265": "x265-params"}
_QSCALE_ENCODERS = ("mpeg4", "mpeg2video", "mpeg1video", "msmpeg4", "h263p")
_LAMBDA_PER_QP = 118  # FFmpeg's FF_QP2LAMBDA

_ALIASES = {
    "h264": "libx264", "avc": "libx264", "x264": "libx264",
    "h265": "libx265", "hevc": "libx265", "x265": "libx265",
    "vp9": "libvpx-vp9", "vp8": "libvpx", "av1": "libsvtav1", "svtav1": "libsvtav1",
}


@dataclass(frozen=True)
class EncodeOptions:
    """What the user asked for; ``None`` means choose automatically.

    ``crf`` is in the encoder's own scale (x264/x265 0-51, VP9/AV1 0-63); for the
    MPEG-4 family it is mapped to a fixed quantiser.
    """

    codec: str | None = None
    crf: float = 18
    preset: str = "medium"
    pix_fmt: str | None = None
    encoder_options: dict = field(default_factory=dict, hash=False)

    def __post_init__(self):
        # Values are checked against the encoder when it is chosen; here only their kinds,
        # so that a wrong one is a UsageError from the call that made it.
        if self.preset is None:
            object.__setattr__(self, "preset", "medium")
        for name in ("codec", "preset", "pix_fmt"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise UsageError(f"EncodeOptions.{name} must be a string, got {type(value).__name__}")
        options = self.encoder_options
        if not isinstance(options, dict) or not all(isinstance(key, str) for key in options):
            raise UsageError(
                "EncodeOptions.encoder_options must be a dict of FFmpeg option names to values,"
                f" such as {{'tune': 'film'}}; got {options!r}"
            )


def available_encoders() -> list[str]:
    return [name for name in COMMON_ENCODERS if _is_video_encoder(name)]


def _is_video_encoder(name: str) -> bool:
    try:
        return av.Codec(name, "w").type == "video"
    except (ValueError, av.FFmpegError):
        return False


def resolve_encoder(name: str) -> str:
    """User codec name or alias ('hevc', 'vp9') -> FFmpeg encoder name."""
    wanted = _ALIASES.get(name.strip().lower(), name.strip())
    if not _is_video_encoder(wanted):
        raise CodecError(
            f"unknown video codec '{name}'; choose one of: {', '.join(available_encoders())} "
            "(or any FFmpeg video encoder name)"
        )
    return wanted


def encoder_pix_fmts(codec: str) -> tuple[str, ...]:
    formats = av.Codec(codec, "w").video_formats or ()
    return tuple(f.name for f in formats)


def is_chroma_subsampled(pix_fmt: str) -> bool:
    fmt = av.VideoFormat(pix_fmt)
    return fmt.chroma_width(2) < 2 or fmt.chroma_height(2) < 2


def choose_video_codec(
    container_ext,
    requested: str | None = None,
    bit_depth: int = 8,
    *,
    pix_fmt: str | None = None,
    width: int | None = None,
    height: int | None = None,
) -> tuple[str, str, str | None]:
    """(encoder, pixel format, note or None) for an output container and a source depth.

    Defaults: libx264 with yuv420p for 8-bit sources, yuv420p10le for deeper ones.
    A codec the container cannot hold is replaced (WebM: VP9, or AV1 for 10-bit); the
    note says so when the codec was the user's choice.
    """
    fmt = container_format(container_ext)
    notes: list[str] = []
    codec = resolve_encoder(requested) if requested else DEFAULT_ENCODER
    user_chose = requested is not None
    if not muxer_accepts(fmt, codec):
        replacement = _fallback_encoder(fmt, bit_depth)
        usual = _fallback_encoder(fmt, 8)
        if user_chose:  # the default simply differs per container (VP9 for WebM): no news
            notes.append(f"{container_label(fmt)} cannot hold {codec} video; encoding with {replacement} instead")
        elif replacement != usual:  # but a different codec than usual for the depth is
            notes.append(
                f"{usual} in this FFmpeg cannot encode {bit_depth}-bit; using {replacement} to keep"
                f" {bit_depth}-bit precision"
            )
        codec, user_chose = replacement, False
    if pix_fmt:
        _check_pix_fmt(codec, pix_fmt)
        chosen = pix_fmt
    else:
        codec, chosen = _default_pix_fmt(fmt, codec, bit_depth, user_chose, notes)
    if width and height and (width % 2 or height % 2) and is_chroma_subsampled(chosen):
        chosen = _pix_fmt_for_odd_size(codec, chosen, width, height, pix_fmt is not None, notes)
    return codec, chosen, "; ".join(notes) or None


def _fallback_encoder(fmt: str, bit_depth: int) -> str:
    candidates = [c for c in available_encoders() if muxer_accepts(fmt, c)]
    if not candidates:
        raise CodecError(f"none of {', '.join(available_encoders())} can be stored in {container_label(fmt)}")
    if bit_depth > 8:
        deep = [c for c in candidates if _deep_format(c)]
        if deep:
            return deep[0]
    return candidates[0]


def _deep_format(codec: str) -> str | None:
    formats = encoder_pix_fmts(codec)
    return "yuv420p10le" if "yuv420p10le" in formats else None


def _check_pix_fmt(codec: str, pix_fmt: str) -> None:
    try:
        av.VideoFormat(pix_fmt)
    except ValueError:
        raise UsageError(f"--pix-fmt {pix_fmt}: not a pixel format FFmpeg knows (e.g. yuv420p, yuv444p10le)") from None
    formats = encoder_pix_fmts(codec)
    if formats and pix_fmt not in formats:
        raise CodecError(
            f"{codec} cannot encode pixel format '{pix_fmt}'; it supports: {', '.join(formats[:10])}"
        )


def _default_pix_fmt(fmt: str, codec: str, bit_depth: int, user_chose: bool, notes: list[str]):
    formats = encoder_pix_fmts(codec)
    wanted = "yuv420p10le" if bit_depth > 8 else "yuv420p"
    if bit_depth > 10:
        notes.append(f"{bit_depth}-bit source is encoded at 10 bits")
    if not formats or wanted in formats:
        return codec, wanted
    if bit_depth > 8 and not user_chose:
        for other in available_encoders():
            if other != codec and muxer_accepts(fmt, other) and wanted in encoder_pix_fmts(other):
                notes.append(
                    f"{codec} in this FFmpeg cannot encode 10-bit; using {other} to keep 10-bit precision"
                )
                return other, wanted
    if "yuv420p" in formats:
        if bit_depth > 8:
            notes.append(f"{codec} in this FFmpeg cannot encode 10-bit; output is 8-bit")
        return codec, "yuv420p"
    best, _loss = av.codec.codec.find_best_pix_fmt_of_list(list(formats), wanted)
    return codec, best.name if best is not None else formats[0]


def _pix_fmt_for_odd_size(
    codec: str, pix_fmt: str, width: int, height: int, explicit: bool, notes: list[str]
) -> str:
    """Chroma-subsampled formats need even sizes; fall back to the 4:4:4 sibling."""
    full = pix_fmt.replace("420", "444").replace("422", "444")
    if not explicit and full != pix_fmt and full in encoder_pix_fmts(codec):
        notes.append(f"{width}x{height} is odd-sized, which {pix_fmt} cannot hold; using {full}")
        return full
    raise CodecError(
        f"pixel format '{pix_fmt}' needs an even width and height, but the output is "
        f"{width}x{height}; choose a 4:4:4 format such as yuv444p"
    )


def lookahead_limit(codec: str, preset: str, width: int, height: int) -> int | None:
    """The rc-lookahead that keeps x264/x265 within LOOKAHEAD_PIXEL_BUDGET for frames of
    this size, or None where the preset's own lookahead already fits."""
    table = {"libx264": _X264_LOOKAHEAD, "libx265": _X265_LOOKAHEAD}.get(codec)
    if table is None or preset not in table:
        return None
    limit = max(MIN_LOOKAHEAD, LOOKAHEAD_PIXEL_BUDGET // max(1, width * height))
    return limit if limit < table[preset] else None


# Muxers that store one timestamp per packet and no decode order: ASF and AVI write
# frames with B-frames in decode order, so FFmpeg (and the players built on it) gives
# them out of order (a 4x x264 clip came back from ASF as pts 40, 160, 120, 200, 80, ...
# and from AVI as frames 1, 3, 4, 2).
NO_REORDER_CONTAINERS = ("asf", "avi")


def writes_hdr10(codec: str) -> bool:
    """Whether ``encoder_settings`` can pass HDR10 static metadata to this encoder."""
    return codec in _PARAMS_KEY


def encoder_settings(
    codec: str,
    crf: float,
    preset: str,
    user_options: dict | None = None,
    frame_size: tuple[int, int] | None = None,
    hdr10: HDR10Metadata | None = None,
    container: str | None = None,
) -> dict[str, str]:
    """Options for ``avcodec_open2``: quality and speed in the encoder's own terms.

    ``frame_size`` (width, height) lets big frames get a shorter lookahead, so the
    encoder's memory does not grow with the frame size unbounded. ``hdr10`` is written
    as SEI by x264 and x265. ``user_options`` are applied last so a user can override
    anything chosen here; x264-params and x265-params are appended to vsrt's own (the
    later of two settings of one key wins), so adding one keeps the others. ``container``
    (the FFmpeg muxer's name) turns B-frames off where the muxer cannot store their order.
    """
    check_quality(codec, crf)
    quality = f"{crf:g}"
    if codec in ("libx264", "libx265"):
        settings = {"crf": quality, "preset": _x26x_preset(preset)}
        lookahead = lookahead_limit(codec, preset, *frame_size) if frame_size else None
        params = []
        if codec == "libx265":
            # x265 prints its banner and stats on stderr unless told not to.
            params = ["log-level=error"] + ([f"rc-lookahead={lookahead}"] if lookahead is not None else [])
        elif lookahead is not None:
            settings["rc-lookahead"] = str(lookahead)
        if hdr10 is not None:
            params += hdr10.x26x_params(codec)
        if params:
            settings[_PARAMS_KEY[codec]] = ":".join(params)
    elif codec in ("libvpx-vp9", "libvpx"):
        # Constant-quality mode needs the target bitrate forced to zero.
        settings = {"crf": quality, "b": "0", "cpu-used": _VPX_CPU_USED[_x26x_preset(preset)]}
        if codec == "libvpx-vp9":
            settings["row-mt"] = "1"
    elif codec == "libsvtav1":
        settings = {"crf": quality, "preset": preset if preset.isdigit() else _SVT_PRESETS[_x26x_preset(preset)]}
    elif codec in NVENC_ENCODERS:
        # NVENC has no crf: without a quality target it aims at a bitrate (FFmpeg's
        # default unless told), whatever the frame size, far too little for 4x frames.
        # VBR with a constant-quality target and no bitrate cap is its crf-like mode, in
        # the same 0-51 (AV1: 0-63) scale.
        level = preset if preset in _NVENC_NATIVE_PRESETS else _NVENC_PRESETS[_x26x_preset(preset)]
        settings = {"rc": "vbr", "cq": quality, "b": "0", "preset": level}
    elif codec in _QSCALE_ENCODERS:
        qscale = min(31, max(1, round(1 + crf / 6)))
        settings = {"flags": "+qscale", "global_quality": str(qscale * _LAMBDA_PER_QP)}
    else:
        settings = _generic_settings(codec, quality, preset)
    if container in NO_REORDER_CONTAINERS:
        settings["bf"] = "0"
    for key, value in (user_options or {}).items():
        key, value = str(key), str(value)
        if key in _PARAMS_KEY.values() and settings.get(key):
            value = f"{settings[key]}:{value}"
        settings[key] = value
    return settings


def _x26x_preset(preset: str) -> str:
    if preset not in X26X_PRESETS:
        raise UsageError(f"unknown preset '{preset}'; choose one of: {', '.join(X26X_PRESETS)}")
    return preset


def check_quality(codec: str | None, crf: float) -> None:
    """A rate factor the encoder takes, or a UsageError naming its range (with no
    ``codec`` chosen yet, only that it is not negative).

    FFmpeg's own answer to one out of range is "Numerical result out of range", which does
    not say which option.
    """
    if isinstance(crf, bool) or not isinstance(crf, (int, float)):
        raise UsageError(f"--crf {crf!r}: must be a number")
    if math.isnan(crf):
        raise UsageError("--crf nan: must be a number")
    if crf < 0:
        raise UsageError(f"--crf {crf:g}: must be 0 or more")
    if codec is None:
        return
    if codec in ("libx264", "libx265") and crf > 51:
        # Their option tables allow any value; the libraries clamp it to 51 without a word.
        raise UsageError(f"--crf {crf:g}: {codec} takes 0 to 51")
    key = "cq" if codec in NVENC_ENCODERS else "crf"
    option = _private_options(codec).get(key)
    if option is not None and option.max is not None and crf > option.max:
        raise UsageError(f"--crf {crf:g}: {codec} takes 0 to {option.max:g}")


def open_encoder(ctx, codec: str, user_keys: set[str], frame_size: tuple[int, int]) -> None:
    """Open an encoder context, with one-line errors: an encoder that will not start (NVENC
    without its GPU), or -e keys it does not have (FFmpeg hands those back instead of
    failing). ``frame_size`` is what the messages name: the output's, whatever ``ctx`` is."""
    try:
        ctx.open()
    except (av.FFmpegError, ValueError) as err:
        hint = " (NVENC needs an NVIDIA GPU that has it, and its driver)" if codec in NVENC_ENCODERS else ""
        raise CodecError(
            f"cannot start the {codec} encoder ({ctx.pix_fmt}, {frame_size[0]}x{frame_size[1]}):"
            f" {av_reason(err)}{hint}"
        ) from None
    unknown = sorted(user_keys & set(ctx.options or {}))
    if unknown:  # a bad option value: exit 2
        raise UsageError(
            f"-e {', '.join(unknown)}: {codec} has no such option(s) (see `ffmpeg -h encoder={codec}`)"
        )


def check_encoder_opens(
    codec: str,
    pix_fmt: str,
    settings: dict[str, str],
    user_keys: set[str],
    frame_size: tuple[int, int],
    time_base: Fraction,
) -> None:
    """Open ``codec`` with ``settings`` at the output's size and time base, as the writer
    will, so that --dry-run finds what the run would: DNxHD, H.263 and MPEG-1 take only
    some sizes, MPEG-1/2 only some time bases."""
    _open_once(codec, pix_fmt, tuple(sorted(settings.items())), frozenset(user_keys), tuple(frame_size),
               Fraction(time_base))


# A folder's videos mostly share one size: each encoder set-up is tried once (opening
# SVT-AV1 or VP9 at 5120x2880 takes half a second and 0.8 GB for a moment).
@functools.lru_cache(maxsize=16)
def _open_once(codec, pix_fmt, settings, user_keys, frame_size, time_base) -> None:
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height = frame_size
    ctx.pix_fmt = pix_fmt
    ctx.time_base = time_base
    ctx.options = dict(settings)
    open_encoder(ctx, codec, set(user_keys), frame_size)


def _private_options(codec: str) -> dict:
    try:
        return {opt.name: opt for opt in av.Codec(codec, "w").create().supported_options.private}
    except (ValueError, av.FFmpegError):  # an encoder this FFmpeg does not have
        return {}


def _generic_settings(codec: str, quality: str, preset: str) -> dict[str, str]:
    """Pass crf/preset only to encoders that have them, and only values they accept."""
    private = _private_options(codec)
    settings = {}
    if "crf" in private:
        settings["crf"] = quality
    option = private.get("preset")
    if option is not None and (not option.choices or preset in {c.name for c in option.choices}):
        settings["preset"] = preset
    return settings
