from . import hooks, optimizers, runner  # noqa: F401
from . import checkpoint_compat  # noqa: F401  (torch >= 2.6 loading of mmengine checkpoints)
