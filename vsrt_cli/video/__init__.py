"""Video I/O: probing, streaming decode to float RGB, and encoding with stream carry-over."""

from .colour import ColourTags, guess_matrix
from .containers import container_format, muxer_accepts
from .encoding import EncodeOptions, choose_video_codec, encoder_settings, resolve_encoder
from .probe import StreamInfo, VideoInfo, probe
from .reader import Frame, VideoReader
from .streams import StreamDecision, plan_stream_copy
from .writer import VideoWriter

__all__ = [
    "ColourTags",
    "EncodeOptions",
    "Frame",
    "StreamDecision",
    "StreamInfo",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "choose_video_codec",
    "container_format",
    "encoder_settings",
    "guess_matrix",
    "muxer_accepts",
    "plan_stream_copy",
    "probe",
    "resolve_encoder",
]
