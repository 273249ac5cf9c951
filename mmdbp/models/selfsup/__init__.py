from .greenmim import GreenMIM  # noqa: F401
from .mirl import MIRL  # noqa: F401
