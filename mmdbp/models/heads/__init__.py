from .greenmim_head import GreenMIMHead  # noqa: F401
