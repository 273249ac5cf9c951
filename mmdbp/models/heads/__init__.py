from .greenmim_head import GreenMIMHead  # noqa: F401
from .mirl_head import MIRLPretrainHead  # noqa: F401
