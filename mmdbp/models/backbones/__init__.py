from .vit import FastMAEViT, FastVisionTransformer  # noqa: F401
from .greenmim_swin import GreenMIMSwin  # noqa: F401
from .mirl_vit import MIRLViT  # noqa: F401
