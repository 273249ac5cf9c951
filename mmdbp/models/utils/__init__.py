from .ckpt_convert import convert_vit, extract_backbone  # noqa: F401
from .masking import gather_tokens, random_masking, unshuffle_with_mask_tokens  # noqa: F401
from .vit_blocks import (Attention, CrossAttention, CrossAttentionBlock, DropPath, Mlp,  # noqa: F401
                         TransformerBlock)
