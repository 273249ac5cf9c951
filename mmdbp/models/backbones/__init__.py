from .vit import FastMAEViT, FastVisionTransformer  # noqa: F401
from .greenmim_swin import GreenMIMSwin  # noqa: F401
