"""Group Window Attention and the sparse Swin block built on it (GreenMIM).

`Green Hierarchical Vision Transformer for Masked Image Modeling
<https://arxiv.org/abs/2205.13515>`_, Sec. 3.1. Every window of a masked Swin stage holds a
different number of visible tokens; the windows are packed into G groups of S slots
(:mod:`.window_grouping`) and attention runs once over all groups:

.. math:: \\mathrm{Attn}(Q, K, V) = \\mathrm{softmax}\\big(Q K^\\top / \\sqrt{d} + B + A\\big) V,

where for slots i, j of a group ``A_ij = 0`` if both hold tokens of the same window and
``-inf`` otherwise (other windows, padding), and ``B_ij`` is Swin's relative position bias
gathered at the real coordinates of the two tokens. So each token attends exactly to the visible
tokens of its own window, as a per-window loop would, but in one batched call of
:func:`torch.nn.functional.scaled_dot_product_attention` with a float mask.

The projections run on the N real tokens only; just q, k, v are gathered into the G*S slots
and the attention output is scattered back before ``proj``.

Parameter names follow mmpretrain's ``SwinBlock`` (``norm1``, ``attn.w_msa.{qkv, proj,
relative_position_bias_table}``, ``norm2``, ``ffn.layers.0.0``, ``ffn.layers.1``), so a
GreenMIM encoder loads into mmpretrain's and mmseg's ``SwinTransformer`` without conversion;
all projections are plain :class:`torch.nn.Linear` (DBP selects them by name).
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model.weight_init import trunc_normal_

from .vit_blocks import DropPath
from .window_grouping import WindowGroups

__all__ = ['relative_position_index', 'GroupWindowAttention', 'GroupWindowMSA', 'SwinFFN',
           'GreenMIMSwinBlock']


def relative_position_index(window_size: int) -> torch.Tensor:
    """Swin's (M^2, M^2) index of every token pair of a full M x M window into the bias table:
    ``(dr + M - 1) * (2M - 1) + (dc + M - 1)`` with ``(dr, dc) = query - key``."""
    coords = torch.stack(torch.meshgrid(torch.arange(window_size), torch.arange(window_size),
                                        indexing='ij'), -1).reshape(-1, 2)
    rel = coords[:, None] - coords[None] + (window_size - 1)
    return rel[..., 0] * (2 * window_size - 1) + rel[..., 1]


class GroupWindowAttention(nn.Module):
    """Multi-head self-attention inside windows, computed over packed window groups.

    Args:
        embed_dims (int): Token width C.
        num_heads (int): Attention heads h.
        window_size (int): Window size M (the bias table has (2M-1)^2 rows).
        qkv_bias (bool): Bias in the qkv projection. Defaults to True.
        qk_scale (float, optional): Overrides ``head_dim ** -0.5``. Defaults to None.
        attn_drop (float): Dropout on attention probabilities. Defaults to 0.
        proj_drop (float): Dropout after ``proj``. Defaults to 0.
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: int, qkv_bias: bool = True,
                 qk_scale: Optional[float] = None, attn_drop: float = 0.,
                 proj_drop: float = 0.) -> None:
        super().__init__()
        if embed_dims % num_heads != 0:
            raise ValueError(f'GroupWindowAttention: embed_dims ({embed_dims}) must be divisible '
                             f'by num_heads ({num_heads}).')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.window_size = window_size
        self.scale = qk_scale or (embed_dims // num_heads)**-0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1)**2, num_heads))
        # Unused by the sparse path (pairs are indexed from coordinates); kept so that the state
        # dict matches mmpretrain's WindowMSA key for key.
        self.register_buffer('relative_position_index', relative_position_index(window_size))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def init_weights(self) -> None:
        trunc_normal_(self.relative_position_bias_table, std=.02)

    def attn_bias(self, groups: WindowGroups, dtype: torch.dtype) -> torch.Tensor:
        """Relative position bias plus the window mask, (1, G*h, S, S)."""
        G, S, h = groups.num_groups, groups.group_size, self.num_heads
        bias = self.relative_position_bias_table[groups.rel_pos_index]  # G, S, S, h
        bias = bias.permute(0, 3, 1, 2)  # G, h, S, S
        bias = bias.masked_fill(~groups.allowed, float('-inf'))
        return bias.reshape(1, G * h, S, S).to(dtype)

    def forward(self, x: torch.Tensor, groups: WindowGroups) -> torch.Tensor:
        """x: visible tokens (B, N, C) -> (B, N, C)."""
        B, N, C = x.shape
        G, S, h = groups.num_groups, groups.group_size, self.num_heads
        qkv = groups.group(self.qkv(x))  # b, G, S, 3C
        b = qkv.shape[0]
        qkv = qkv.reshape(b, G, S, 3, h, C // h).permute(3, 0, 1, 4, 2, 5)  # 3, b, G, h, S, d
        q, k, v = qkv.reshape(3, b, G * h, S, C // h).unbind(0)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=self.attn_bias(groups, q.dtype),
            dropout_p=self.attn_drop if self.training else 0., scale=self.scale)  # b, G*h, S, d
        out = out.reshape(b, G, h, S, C // h).transpose(2, 3)  # b, G, S, h, d
        out = groups.merge(out.reshape(b, G, S, C), B)  # B, N, C
        return self.proj_drop(self.proj(out))

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'window_size={self.window_size}')


class GroupWindowMSA(nn.Module):
    """Attention branch of a sparse Swin block: :class:`GroupWindowAttention` then stochastic
    depth. Mirrors mmpretrain's ``ShiftWindowMSA`` (whose windowing is done here by the
    precomputed :class:`WindowGroups`), hence the ``w_msa`` name."""

    def __init__(self, embed_dims: int, num_heads: int, window_size: int,
                 drop_path: float = 0., **kwargs) -> None:
        super().__init__()
        self.w_msa = GroupWindowAttention(embed_dims, num_heads, window_size, **kwargs)
        self.drop = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, groups: WindowGroups) -> torch.Tensor:
        return self.drop(self.w_msa(x, groups))


class SwinFFN(nn.Module):
    """Swin's MLP ``fc -> GELU -> fc`` with mmcv ``FFN``'s parameter layout (``layers.0.0``,
    ``layers.1``) but plain :class:`torch.nn.Linear` layers; adds the residual itself."""

    def __init__(self, embed_dims: int, hidden_dims: int, drop: float = 0.,
                 drop_path: float = 0.) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Sequential(nn.Linear(embed_dims, hidden_dims), nn.GELU(), nn.Dropout(drop)),
            nn.Linear(hidden_dims, embed_dims), nn.Dropout(drop))
        self.drop = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        return identity + self.drop(self.layers(x))


class GreenMIMSwinBlock(nn.Module):
    """Swin block on visible tokens: ``x + GWA(LN(x))``, then ``x + MLP(LN(x))``.

    Args:
        embed_dims (int): Token width C.
        num_heads (int): Attention heads.
        window_size (int): Window size M of this stage.
        ffn_ratio (float): MLP hidden width / C. Defaults to 4.
        drop_path (float): Stochastic depth rate. Defaults to 0.
        qkv_bias (bool): Defaults to True.
        attn_drop (float): Defaults to 0.
        drop (float): Dropout after projections. Defaults to 0.
        norm_cfg (dict): Norm layers. Defaults to ``dict(type='LN')`` (as mmpretrain's Swin).
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: int,
                 ffn_ratio: float = 4., drop_path: float = 0., qkv_bias: bool = True,
                 attn_drop: float = 0., drop: float = 0.,
                 norm_cfg: dict = dict(type='LN')) -> None:
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = GroupWindowMSA(embed_dims, num_heads, window_size, drop_path=drop_path,
                                   qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = SwinFFN(embed_dims, int(embed_dims * ffn_ratio), drop, drop_path)

    def forward(self, x: torch.Tensor, groups: WindowGroups) -> torch.Tensor:
        """x: (B, N, C) visible tokens of the stage; groups: this block's window packing."""
        x = x + self.attn(self.norm1(x), groups)
        return self.ffn(self.norm2(x), identity=x)
