"""vsrt: 4x video super-resolution with a VSR-Transformer (Cao et al. 2021).

Public API::

    import vsrt_cli
    model = vsrt_cli.load_model("vsrt-small")          # or a .safetensors path
    vsrt_cli.upscale_video("in.mp4", "out.mp4")        # the CLI's `vsrt upscale`
"""

__version__ = "0.1.0"

from .weights.loading import load_model  # noqa: E402
from .pipeline import upscale_video  # noqa: E402

__all__ = ["__version__", "load_model", "upscale_video"]
