"""Model weights: the registry, Hub downloads, checkpoint import, and loading.

``load_model`` and ``resolve_weights`` are the entry points; the submodules
``download`` and ``importer`` back the ``download-weights`` and ``import-weights``
commands.
"""

from .loading import installed_path, load_model, load_spynet, resolve_weights
from .registry import Registry, load_registry, user_weights_dir

__all__ = [
    "Registry",
    "installed_path",
    "load_model",
    "load_registry",
    "load_spynet",
    "resolve_weights",
    "user_weights_dir",
]
