"""MIRL's decoders: one light decoder per encoder segment, linked by cross-attention.

`Masked Image Residual Learning for Scaling Deeper Vision Transformers
<https://arxiv.org/abs/2309.14136>`_, Sec. 3 / Fig. 4. Decoder ``H_s`` turns segment ``s``'s
visible tokens into a prediction ``p_s`` of all L patches:

    e_s   = W_s h_s                                   (B, 1 + K, D)   visible tokens only
    z     = unshuffle([e_s, mask tokens]) + pos_sincos  (B, 1 + L, D)
    ctx_s = [e_{s-1}, ..., e_1, W_low low_feat]        (B, s (1 + K), D)
    z     = CrossBlock(z, ctx_s)  x decoder_depth       x + SA(LN x); x + CA(LN x, LN ctx); x + MLP
    p_s   = WN-Linear(LN(z))[:, 1:]                     (B, L, p * p * 3)

so the first decoder attends to the projected ``low_feat`` only and every later one also to the
embeddings of all earlier segments (the "shortcut connections" between decoders).
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmdbp.registry import MODELS
from ..utils.mae_init import init_linears_xavier_
from ..utils.masking import unshuffle_with_mask_tokens
from ..utils.pos_embed import check_sincos_order, sincos_pos_embed_2d
from ..utils.vit_blocks import CrossAttentionBlock
from ..utils.weight_norm_linear import WeightNormLinear


class MIRLSegmentDecoder(nn.Module):
    """The decoder of one segment (see the module docstring for the equations)."""

    def __init__(self, num_patches: int, out_channels: int, embed_dim: int,
                 decoder_embed_dim: int, decoder_depth: int, decoder_num_heads: int,
                 mlp_ratio: float, norm_eps: float, weight_norm_pred: bool) -> None:
        super().__init__()
        self.embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.pos_embed = nn.Parameter(
            torch.zeros(1, num_patches + 1, decoder_embed_dim), requires_grad=False)
        self.blocks = nn.ModuleList([
            CrossAttentionBlock(decoder_embed_dim, decoder_num_heads, mlp_ratio, norm_eps=norm_eps)
            for _ in range(decoder_depth)
        ])
        self.norm = nn.LayerNorm(decoder_embed_dim, eps=norm_eps)
        linear = WeightNormLinear if weight_norm_pred else nn.Linear
        self.pred = linear(decoder_embed_dim, out_channels)

    def forward(self, embedded: torch.Tensor, context: torch.Tensor,
                ids_restore: torch.Tensor) -> torch.Tensor:
        """embedded: this segment's ``embed`` output (B, 1 + K, D), cls first; context
        (B, M, D); ids_restore (B, L). Returns the prediction (B, L, p * p * 3)."""
        x = unshuffle_with_mask_tokens(embedded, self.mask_token, ids_restore,
                                       num_extra_tokens=1)  # B, 1 + L, D
        x = x + self.pos_embed.to(x.dtype)
        for block in self.blocks:
            x = block(x, context)
        return self.pred(self.norm(x))[:, 1:]


@MODELS.register_module()
class MIRLMultiDecoder(BaseModule):
    """The ``S`` decoders of MIRL, as one neck.

    Args:
        num_segments (int): S, the number of encoder segments (even). Defaults to 6.
        num_patches (int): L, a square number. Defaults to 196.
        patch_size (int): Defaults to 16.
        in_chans (int): Defaults to 3.
        embed_dim (int): Encoder width C. Defaults to 384.
        decoder_embed_dim (int): Decoder width D (all decoders share it, since each decoder
            attends to the earlier ones' embeddings). Defaults to 384.
        decoder_depth (int): Cross blocks per decoder. Defaults to 1.
        decoder_num_heads (int): Defaults to 12.
        mlp_ratio (float): Defaults to 4.
        norm_eps (float): Defaults to 1e-6.
        weight_norm_pred (bool): Weight-normalised pixel heads with the gain fixed to 1, as the
            official code. Defaults to True.
        sincos_order (str): Channel order of the decoders' fixed sin-cos tables: ``'mae'``
            (column code first, the official MIRL ``get_2d_sincos_pos_embed``) or
            ``'mmpretrain'`` (row code first). Checkpoints carry their tables, so this only
            matters at initialisation. Defaults to ``'mae'``.
        init_cfg (dict, optional): mmengine init config.

    ``forward(low_feat, segment_feats, ids_restore)`` takes a
    :class:`~mmdbp.models.backbones.mirl_vit.MIRLEncoderOutput`'s fields and returns the S
    predictions, shallow to deep, each (B, L, p * p * in_chans).
    """

    def __init__(self,
                 num_segments: int = 6,
                 num_patches: int = 196,
                 patch_size: int = 16,
                 in_chans: int = 3,
                 embed_dim: int = 384,
                 decoder_embed_dim: int = 384,
                 decoder_depth: int = 1,
                 decoder_num_heads: int = 12,
                 mlp_ratio: float = 4.,
                 norm_eps: float = 1e-6,
                 weight_norm_pred: bool = True,
                 sincos_order: str = 'mae',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_segments < 2 or num_segments % 2:
            raise ValueError(
                f'MIRLMultiDecoder: num_segments={num_segments} cannot be paired outside-in; '
                f'use an even number >= 2 matching the encoder\'s segments.')
        if decoder_embed_dim % decoder_num_heads:
            raise ValueError(
                f'MIRLMultiDecoder: decoder_embed_dim ({decoder_embed_dim}) is not divisible by '
                f'decoder_num_heads ({decoder_num_heads}); change one of them (e.g. 512 / 16, '
                f'384 / 12).')
        side = int(round(num_patches**0.5))
        if side * side != num_patches:
            raise ValueError(f'MIRLMultiDecoder: num_patches must be a square number (img_size / '
                             f'patch_size squared), got {num_patches}.')
        if decoder_depth < 1:
            raise ValueError(f'MIRLMultiDecoder: decoder_depth must be >= 1, got {decoder_depth}.')
        self.sincos_order = check_sincos_order(sincos_order, 'MIRLMultiDecoder')
        self.num_segments = num_segments
        self.num_patches = num_patches
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.low_embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.decoders = nn.ModuleList([
            MIRLSegmentDecoder(num_patches, patch_size**2 * in_chans, embed_dim,
                               decoder_embed_dim, decoder_depth, decoder_num_heads, mlp_ratio,
                               norm_eps, weight_norm_pred) for _ in range(num_segments)
        ])

    def init_weights(self) -> None:
        super().init_weights()
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            return
        side = int(round(self.num_patches**0.5))
        for decoder in self.decoders:
            decoder.pos_embed.data.copy_(sincos_pos_embed_2d(
                side, decoder.pos_embed.shape[-1], cls_token=True, order=self.sincos_order))
            nn.init.normal_(decoder.mask_token, std=.02)
        init_linears_xavier_(self, layer_norm=True)

    def forward(self, low_feat: torch.Tensor, segment_feats: Sequence[torch.Tensor],
                ids_restore: torch.Tensor) -> List[torch.Tensor]:
        if len(segment_feats) != self.num_segments:
            raise ValueError(f'MIRLMultiDecoder has {self.num_segments} decoders but got '
                             f'{len(segment_feats)} segment outputs; set the neck\'s '
                             f'num_segments to the encoder\'s.')
        low = self.low_embed(low_feat)  # B, 1 + K, D
        earlier: List[torch.Tensor] = []
        preds = []
        for feat, decoder in zip(segment_feats, self.decoders):
            embedded = decoder.embed(feat)  # B, 1 + K, D
            context = torch.cat([*reversed(earlier), low], dim=1)  # B, (s + 1)(1 + K), D
            preds.append(decoder(embedded, context, ids_restore))
            earlier.append(embedded)
        return preds
