"""Quality measurement: MATLAB-exact bicubic degradation, BasicSR metrics, ``vsrt eval``.

Only the light, dependency-free pieces are imported here so that training code
can use :func:`imresize` without pulling in video decoding or the model.
Clip loading and evaluation live in :mod:`.clips` and :mod:`.evaluate`.
"""

from .imresize import bicubic_downscale_uint8, imresize, imresize_np
from .metrics import psnr, rgb_to_y, ssim, to_uint8

__all__ = [
    "bicubic_downscale_uint8",
    "imresize",
    "imresize_np",
    "psnr",
    "rgb_to_y",
    "ssim",
    "to_uint8",
]
