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

# Where each public name lives. They load on first use (PEP 562), so that `import vsrt_cli`
# and the `vsrt` script start without torch: a Ctrl-C during that import is then the CLI's
# to report, and `vsrt --version` answers at once.
_PUBLIC = {
    "EncodeOptions": ".video",
    "InferenceOptions": ".inference",
    "Progress": ".pipeline",
    "Segment": ".video.segment",
    "UpscaleResult": ".pipeline",
    "VsrtError": ".errors",
    "load_model": ".weights.loading",
    "upscale_clip": ".inference",
    "upscale_video": ".pipeline",
}

__all__ = sorted([*_PUBLIC, "__version__"])


# The sub-packages, reachable as attributes (``vsrt_cli.errors.InputError``) as they would
# be after an eager import.
_SUBMODULES = frozenset(
    "bench cli errors inference models pipeline plan quality training video weights".split()
)


def __getattr__(name: str):
    from importlib import import_module

    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)  # the import sets it as an attribute
    if name not in _PUBLIC:
        raise AttributeError(f"module 'vsrt_cli' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name], __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
