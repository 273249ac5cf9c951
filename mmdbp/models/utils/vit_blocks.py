"""Plain ViT building blocks shared by every mmdbp ViT (MAE/DBP, MIRL, token pruning).

Written in timm's style: small modules whose ``forward`` reads top to bottom, attention through
:func:`torch.nn.functional.scaled_dot_product_attention` (flash / memory-efficient kernels on GPU),
and every projection a plain :class:`torch.nn.Linear` (``attn.qkv``, ``attn.proj``, ``mlp.fc1``,
``mlp.fc2``) so that DBP can select them by name.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def drop_path(x: torch.Tensor, drop_prob: float = 0., training: bool = False) -> torch.Tensor:
    """Stochastic depth: drop whole residual branches per sample, rescale the kept ones."""
    if drop_prob == 0. or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0], ) + (1, ) * (x.ndim - 1)
    keep = x.new_empty(shape).bernoulli_(keep_prob)
    return x * keep.div_(keep_prob)


class DropPath(nn.Module):
    """Module wrapper of :func:`drop_path`."""

    def __init__(self, drop_prob: float = 0.) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'


class Mlp(nn.Module):
    """fc1 -> GELU -> dropout -> fc2 -> dropout."""

    def __init__(self, in_features: int, hidden_features: Optional[int] = None,
                 out_features: Optional[int] = None, drop: float = 0.) -> None:
        super().__init__()
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, out_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Attention(nn.Module):
    """Multi-head self-attention, ``softmax(q k^T / sqrt(d) + mask) v``.

    Args:
        dim (int): Token width C.
        num_heads (int): Number of heads h; ``dim`` must be divisible by it. Defaults to 8.
        qkv_bias (bool): Bias in the fused qkv projection. Defaults to True.
        attn_drop (float): Dropout on attention probabilities. Defaults to 0.
        proj_drop (float): Dropout after the output projection. Defaults to 0.
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True,
                 attn_drop: float = 0., proj_drop: float = 0.) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'Attention: dim ({dim}) must be divisible by num_heads '
                             f'({num_heads}); change the width or the number of heads.')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def qkv_heads(self, x: torch.Tensor):
        """Project ``x`` (B, N, C) to q, k, v, each (B, h, N, d)."""
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, h, N, d) -> projected (B, N, C)."""
        B, _, N, _ = x.shape
        x = x.transpose(1, 2).reshape(B, N, self.num_heads * self.head_dim)
        return self.proj_drop(self.proj(x))

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: (B, N, C); attn_mask: bool (True = attend) or additive float, broadcastable to
        (B, h, N, N)."""
        q, k, v = self.qkv_heads(x)  # B, h, N, d
        x = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.attn_drop if self.training else 0.)
        return self.merge_heads(x)

    def forward_with_cls_attention(self, x: torch.Tensor,
                                   attn_mask: Optional[torch.Tensor] = None
                                   ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Fused-attention output plus the attention row of the first (cls) token.

        The output is :meth:`forward`'s (``scaled_dot_product_attention``, no N x N matrix on
        the fused kernels); the cls row ``softmax(q_0 k^T / sqrt(d) + mask_0)`` is recomputed
        from ``q_0`` and ``K``: O(N d) extra work instead of an O(N^2 d) explicit-softmax
        attention matrix. Used by EViT, which ranks tokens by it.

        Args:
            x: tokens (B, N, C), cls first.
            attn_mask: as in :meth:`forward`.

        Returns:
            tuple: output (B, N, C) and the cls row (B, h, N) before attention dropout, the
            softmax in at least fp32 then cast back to the input dtype. Differentiable.
        """
        q, k, v = self.qkv_heads(x)  # B, h, N, d
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.attn_drop if self.training else 0.)
        logits = (q[:, :, :1] * self.scale) @ k.transpose(-2, -1)  # B, h, 1, N
        if attn_mask is not None:  # the cls query's row of the mask
            mask = attn_mask[..., :1, :]
            if mask.dtype == torch.bool:
                logits = logits.masked_fill(~mask, float('-inf'))
            else:
                logits = logits + mask
        cls_attn = logits.softmax(dim=-1, dtype=torch.promote_types(logits.dtype, torch.float32))
        return self.merge_heads(out), cls_attn.to(q.dtype).squeeze(-2)


class CrossAttention(nn.Module):
    """Multi-head attention of queries ``x`` (B, N, C) over a context (B, M, C)."""

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True,
                 attn_drop: float = 0., proj_drop: float = 0.) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'CrossAttention: dim ({dim}) must be divisible by num_heads '
                             f'({num_heads}); change the width or the number of heads.')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        M = context.shape[1]
        q = self.q(x).reshape(B, N, self.num_heads, self.head_dim).transpose(1, 2)
        kv = self.kv(context).reshape(B, M, 2, self.num_heads, self.head_dim)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)  # B, h, M, d
        x = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.)
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))


class TransformerBlock(nn.Module):
    """Pre-norm ViT block: ``x + Attn(LN(x))`` then ``x + MLP(LN(x))``.

    Args:
        dim (int): Token width C.
        num_heads (int): Attention heads.
        mlp_ratio (float): Hidden width of the MLP as a multiple of ``dim``. Defaults to 4.
        mlp_hidden (int, optional): Explicit MLP hidden width (overrides ``mlp_ratio``).
        qkv_bias (bool): Defaults to True.
        drop (float): Dropout after projections. Defaults to 0.
        attn_drop (float): Attention dropout. Defaults to 0.
        drop_path (float): Stochastic depth rate. Defaults to 0.
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-6.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4., *,
                 mlp_hidden: Optional[int] = None, qkv_bias: bool = True, drop: float = 0.,
                 attn_drop: float = 0., drop_path: float = 0., norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, mlp_hidden or int(dim * mlp_ratio), drop=drop)

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), attn_mask))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x


class CrossAttentionBlock(nn.Module):
    """Decoder block with self- and cross-attention (MIRL's decoders).

    ``x + SelfAttn(LN(x))``; ``x + CrossAttn(LN(x), LN(context))``; ``x + MLP(LN(x))``.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4., *,
                 qkv_bias: bool = True, drop: float = 0., attn_drop: float = 0.,
                 drop_path: float = 0., norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.norm_q = nn.LayerNorm(dim, eps=norm_eps)
        self.norm_context = nn.LayerNorm(dim, eps=norm_eps)
        self.cross_attn = CrossAttention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        x = x + self.drop_path(self.cross_attn(self.norm_q(x), self.norm_context(context)))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x
