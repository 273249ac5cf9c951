from .greenmim import GreenMIM  # noqa: F401
