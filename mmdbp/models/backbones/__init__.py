from .vit import FastMAEViT, FastVisionTransformer  # noqa: F401
from .greenmim_swin import GreenMIMSwin  # noqa: F401
from .mirl_vit import MIRLViT  # noqa: F401
from .masked_finetune_vit import MaskedFinetuneViT  # noqa: F401
from .dynamic_vit import DynamicViT  # noqa: F401
from .evit import EViT  # noqa: F401
from .pruning_vit_seg import DynamicViTSeg, EViTSeg  # noqa: F401
