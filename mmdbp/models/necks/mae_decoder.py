"""MAE's light decoder on the shared ViT blocks."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.models.utils import build_2d_sincos_position_embedding

from mmdbp.registry import MODELS
from ..utils.mae_init import init_linears_xavier_
from ..utils.masking import unshuffle_with_mask_tokens
from ..utils.vit_blocks import TransformerBlock


@MODELS.register_module()
class FastMAEDecoder(BaseModule):
    """MAE decoder: embed visible tokens, add mask tokens, fixed sin-cos positions, a few
    transformer blocks, and a linear pixel head. Same arguments and contract as mmpretrain's
    ``MAEPretrainDecoder`` (``forward(latent, ids_restore) -> (B, L, p*p*in_chans)``).

    Args:
        num_patches (int): L, a square number. Defaults to 196.
        patch_size (int): Defaults to 16.
        in_chans (int): Defaults to 3.
        embed_dim (int): Encoder width. Defaults to 1024.
        decoder_embed_dim (int): Defaults to 512.
        decoder_depth (int): Defaults to 8.
        decoder_num_heads (int): Defaults to 16.
        mlp_ratio (float): Defaults to 4.
        norm_eps (float): Defaults to 1e-6.
    """

    def __init__(self, num_patches: int = 196, patch_size: int = 16, in_chans: int = 3,
                 embed_dim: int = 1024, decoder_embed_dim: int = 512, decoder_depth: int = 8,
                 decoder_num_heads: int = 16, mlp_ratio: float = 4., norm_eps: float = 1e-6,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        side = int(num_patches**0.5)
        if side * side != num_patches:
            raise ValueError(f'num_patches must be a square number, got {num_patches}.')
        self.num_patches = num_patches
        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(
            torch.zeros(1, num_patches + 1, decoder_embed_dim), requires_grad=False)
        self.decoder_blocks = nn.ModuleList([
            TransformerBlock(decoder_embed_dim, decoder_num_heads, mlp_ratio, norm_eps=norm_eps)
            for _ in range(decoder_depth)
        ])
        self.decoder_norm = nn.LayerNorm(decoder_embed_dim, eps=norm_eps)
        self.decoder_pred = nn.Linear(decoder_embed_dim, patch_size**2 * in_chans)

    def init_weights(self) -> None:
        super().init_weights()
        side = int(self.num_patches**0.5)
        self.decoder_pos_embed.data.copy_(build_2d_sincos_position_embedding(
            side, self.decoder_pos_embed.shape[-1], cls_token=True))
        nn.init.normal_(self.mask_token, std=.02)
        init_linears_xavier_(self)

    def forward(self, x: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """x: encoder output (B, 1 + K, C) with the cls token first; ids_restore (B, L)."""
        x = self.decoder_embed(x)  # B, 1 + K, D
        # cls stays first; mask tokens fill the removed positions (one cat + one gather). The
        # residual stream keeps the promoted dtype (fp32 under autocast, as MAE's decoder).
        x = unshuffle_with_mask_tokens(x, self.mask_token, ids_restore, num_extra_tokens=1)
        x = x + self.decoder_pos_embed  # B, 1 + L, D
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]  # B, L, p*p*3
