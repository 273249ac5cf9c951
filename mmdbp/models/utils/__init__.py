from .ckpt_convert import convert_vit, convert_vit_to_mmdbp, extract_backbone  # noqa: F401
from .masking import gather_tokens, random_masking, unshuffle_with_mask_tokens  # noqa: F401
from .mae_init import init_linears_xavier_, init_patch_embed_xavier_  # noqa: F401
from .pos_embed import sincos_pos_embed_2d  # noqa: F401
from .vit_blocks import (Attention, CrossAttention, CrossAttentionBlock, DropPath, Mlp,  # noqa: F401
                         TransformerBlock)
from .weight_norm_linear import WeightNormLinear  # noqa: F401
from .group_window_attention import GreenMIMSwinBlock, GroupWindowAttention  # noqa: F401
from .decorrelation import (Decorrelator, fold_dbp_checkpoint, fold_state_dict, fold_weight,
                           select_layers)  # noqa: F401
from .policy_attention import block_forward_with_policy, softmax_with_policy  # noqa: F401
from .token_map import PrunedTokenMap  # noqa: F401
