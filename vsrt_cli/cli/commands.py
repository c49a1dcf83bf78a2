"""Import every sub-command module so it registers itself on the ``cli`` group."""

# One line per command module; keep the list sorted.
from . import eval_cmd  # noqa: F401
from . import weights_cmd  # noqa: F401
from . import upscale_cmd  # noqa: F401
from . import train_cmd  # noqa: F401
from . import bench_cmd  # noqa: F401
