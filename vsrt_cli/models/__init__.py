"""Networks: the VSR-Transformer and the SPyNet flow estimator it uses."""

from .spynet import SPyNet, flow_warp
from .vsrt import PRESETS, VSRTConfig, VSRTransformer

__all__ = ["PRESETS", "SPyNet", "VSRTConfig", "VSRTransformer", "flow_warp"]
