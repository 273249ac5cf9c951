from .autocast_optim_wrapper import AutocastOptimWrapper  # noqa: F401
from .dbp_optim_wrapper import DBPOptimWrapper  # noqa: F401
