"""vsrt: 4x video super-resolution with a VSR-Transformer (Cao et al. 2021).

Public API::

    import vsrt_cli
    model = vsrt_cli.load_model("vsrt-small")          # or a .safetensors path
    vsrt_cli.upscale_video("in.mp4", "out.mp4", model)  # the CLI's `vsrt upscale`
    vsrt_cli.upscale_clip(model, frames)                # HxWx3 float32 frames in memory

Failures raise subclasses of :class:`vsrt_cli.errors.VsrtError`, each with the exit code
the CLI gives it.
"""

__version__ = "0.1.0"

from .errors import VsrtError  # noqa: E402
from .inference import InferenceOptions, upscale_clip  # noqa: E402
from .pipeline import Progress, UpscaleResult, upscale_video  # noqa: E402
from .video import EncodeOptions  # noqa: E402
from .video.segment import Segment  # noqa: E402
from .weights.loading import load_model  # noqa: E402

__all__ = [
    "EncodeOptions",
    "InferenceOptions",
    "Progress",
    "Segment",
    "UpscaleResult",
    "VsrtError",
    "__version__",
    "load_model",
    "upscale_clip",
    "upscale_video",
]
