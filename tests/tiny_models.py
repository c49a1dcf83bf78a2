"""A tiny VSR-Transformer config: every code path of the real one, in milliseconds."""

import torch

from vsrt_cli.models import VSRTConfig, VSRTransformer

TINY_FIELDS = dict(
    channels=8,
    tile_size=16,
    patch_size=4,
    depth=1,
    extract_blocks=1,
    feedforward_blocks=1,
    reconstruct_blocks=1,
    upsample_channels=8,
)


def tiny_config(frames: int = 3, self_flow: str = "zero") -> VSRTConfig:
    return VSRTConfig(num_frames=frames, self_flow=self_flow, **TINY_FIELDS)


def tiny_model(frames: int = 3, self_flow: str = "zero", seed: int = 0) -> VSRTransformer:
    torch.manual_seed(seed)
    return VSRTransformer(tiny_config(frames, self_flow)).eval()


def one_torch_thread():
    """Fixture body: tiny networks run faster on one thread than on a contended pool."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
