"""EViT: keep the attentive tokens, fuse the inattentive ones.

`Liang et al., "Not All Patches are What You Need: Expediting Vision Transformers via Token
Reorganizations", ICLR 2022 <https://arxiv.org/abs/2202.07800>`_.

Inside each configured block (default 3, 6, 9 of 12), after the attention, the N - 1 non-cls
tokens are ranked by the attention the cls token pays them, averaged over heads,
``a_j = mean_h softmax(q_cls k^T / sqrt(d))_j``. The ``K = ceil(keep_rate * (N - 1))`` most
attended are kept (sorted by ``a``); with fusion the others are merged into one token

.. math::  x_{fused} = \\sum_{j \\notin \\text{top-}K} a_j\\, x_j

(the released code's attention-weighted sum; ``fuse_normalize=True`` divides by
``sum_j a_j`` for a weighted mean), appended after the kept tokens. The MLP then runs on the
reduced set. The fused token is an ordinary token for later stages (it may be kept or fused again).

The keep rate is parameter-free, so training and inference prune alike; during training
:class:`~mmdbp.engine.hooks.TokenRatioScheduleHook` anneals ``train_keep_rate`` (1 during warm-up,
then cosine down to ``keep_rate``), inference uses ``keep_rate``. With ``out_type='featmap'`` the
backbone returns full-resolution maps for dense heads (fused tokens are left out of the maps).
"""
import math
from typing import Optional, Sequence, Tuple

import torch

from mmdbp.registry import MODELS
from ..utils.init_args import check_init_kwargs, check_pruning_locs, check_rate
from ..utils.masking import gather_tokens
from ..utils.token_map import PrunedTokenMap
from ..utils.vit_blocks import TransformerBlock
from .vit import FastVisionTransformer


def num_attentive_kept(num_tokens: int, keep_rate: float) -> int:
    """Attentive tokens kept: ``math.ceil(keep_rate * (N - 1))`` exactly as the released code
    (``left_tokens`` in ``evit.py``; ``num_tokens`` = N - 1, the non-cls tokens, the fused token
    of an earlier stage included), with its float arithmetic: ``0.55 * 100`` is
    55.00000000000001 in floating point, so 56 tokens are kept, as by the official model.
    For ``keep_rate > 0`` and ``num_tokens >= 1`` this is at least 1 (the official asserts it)."""
    return math.ceil(keep_rate * num_tokens)


def reorganize_tokens(x: torch.Tensor, cls_attn: torch.Tensor, num_keep: int,
                      fuse_token: bool = True, fuse_normalize: bool = False
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``num_keep`` most attended non-cls tokens and fuse the rest.

    Args:
        x: tokens (B, 1 + N, C), cls first.
        cls_attn: attention of the cls token to the N other tokens, (B, N).
        num_keep: K.
        fuse_token: append the fused token.
        fuse_normalize: divide the fused token by the total attention of the fused tokens.

    Returns:
        tuple: new tokens (B, 1 + K (+1), C) and the kept indices (B, K) into the N tokens,
        in descending attention.
    """
    keep_idx = torch.topk(cls_attn, num_keep, dim=1, largest=True, sorted=True).indices
    patches = x[:, 1:]
    parts = [x[:, :1], gather_tokens(patches, keep_idx)]
    if fuse_token:
        # sum over the dropped tokens as one (B, 1, N) x (B, N, C) product with the kept
        # tokens' weights zeroed: no gather of the N - K dropped tokens
        weights = cls_attn.scatter(1, keep_idx, 0.).unsqueeze(1)  # B, 1, N
        fused = torch.bmm(weights.to(patches.dtype), patches)  # B, 1, C
        if fuse_normalize:
            fused = fused / weights.sum(dim=-1, keepdim=True).clamp_min(1e-12).to(fused.dtype)
        parts.append(fused)
    return torch.cat(parts, dim=1), keep_idx


@MODELS.register_module()
class EViT(FastVisionTransformer):
    """EViT backbone on :class:`FastVisionTransformer` (same weights and arch zoo; no new
    parameters, so plain DeiT / ViT / masked-fine-tuned checkpoints are all it needs).

    Args:
        keep_rate (float): Fraction of the non-cls tokens kept at each pruning block at
            inference (and in training unless a schedule sets ``train_keep_rate``).
            Defaults to 0.7.
        pruning_locs (Sequence[int]): Blocks that reorganise tokens (0-based, strictly
            increasing). Defaults to (3, 6, 9).
        fuse_token (bool): Fuse the inattentive tokens into one extra token. Defaults to True.
        fuse_normalize (bool): Weighted mean instead of the released code's weighted sum.
            Defaults to False.
        **kwargs: :class:`FastVisionTransformer` arguments. ``out_type='featmap'`` returns
            full-resolution maps (B, C, H/p, W/p).

    Attributes:
        train_keep_rate (float | None): Keep rate used in training; set by
            :class:`~mmdbp.engine.hooks.TokenRatioScheduleHook`. None means ``keep_rate``.
    """

    def __init__(self,
                 keep_rate: float = 0.7,
                 pruning_locs: Sequence[int] = (3, 6, 9),
                 fuse_token: bool = True,
                 fuse_normalize: bool = False,
                 **kwargs) -> None:
        check_init_kwargs(self, kwargs)
        super().__init__(**kwargs)
        if not self.with_cls_token:
            raise ValueError('EViT ranks tokens by cls attention: it needs with_cls_token=True.')
        check_rate('keep_rate', keep_rate)
        pruning_locs = check_pruning_locs(pruning_locs, self.num_layers)
        self.keep_rate = keep_rate
        self.pruning_locs = pruning_locs
        self.fuse_token = fuse_token
        self.fuse_normalize = fuse_normalize
        self.train_keep_rate: Optional[float] = None

    @property
    def current_keep_rate(self) -> float:
        """The keep rate of this forward pass (training schedule or ``keep_rate``)."""
        if self.training and self.train_keep_rate is not None:
            return self.train_keep_rate
        return self.keep_rate

    def forward(self, img: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x, hw = self.embed(img)
        B, L = x.shape[0], x.shape[1] - 1
        token_map = PrunedTokenMap(B, L, x.device) if self.out_type == 'featmap' else None
        keep_rate = self.current_keep_rate
        outs = []
        for i, block in enumerate(self.blocks):
            if i in self.pruning_locs:
                x = self._reorganizing_block(block, x, keep_rate, token_map)
            else:
                x = block(x)
            last = i == self.num_layers - 1
            if last:
                x = self.norm(x)
            if i in self.out_indices:
                outs.append(self._format(x, hw, token_map, last))
        return tuple(outs)

    def _reorganizing_block(self, block: TransformerBlock, x: torch.Tensor, keep_rate: float,
                            token_map: Optional[PrunedTokenMap]) -> torch.Tensor:
        """``x + Attn(LN(x))``, keep top-K by cls attention (+ fused token), ``x + MLP(LN(x))``.

        The attention runs fused (``scaled_dot_product_attention``); only the cls row of the
        attention probabilities is computed on the side (O(N d), see
        :meth:`~mmdbp.models.utils.vit_blocks.Attention.forward_with_cls_attention`). It stays in
        the autograd graph, so in training the fused token's weights pass gradients to q and k
        exactly as through an explicit attention matrix.
        """
        num_tokens = x.shape[1] - 1
        num_keep = num_attentive_kept(num_tokens, keep_rate)
        if num_keep >= num_tokens:  # nothing to prune: a plain block
            return block(x)
        out, cls_row = block.attn.forward_with_cls_attention(block.norm1(x))  # cls_row: B, h, N
        x = x + block.drop_path(out)
        cls_attn = cls_row[:, :, 1:].mean(dim=1)  # B, N - 1
        if token_map is not None:
            token_map.record(x[:, 1:])
        x, keep_idx = reorganize_tokens(x, cls_attn, num_keep, self.fuse_token,
                                        self.fuse_normalize)
        if token_map is not None:
            token_map.keep(keep_idx)
            if self.fuse_token:
                token_map.append_unplaced(1)
        return x + block.drop_path(block.mlp(block.norm2(x)))

    def _format(self, x: torch.Tensor, hw: Tuple[int, int],
                token_map: Optional[PrunedTokenMap], last: bool) -> torch.Tensor:
        if self.out_type != 'featmap':
            return self.format_output(x, hw)
        patches = token_map.render(x[:, 1:], self.norm if last else None)
        return patches.reshape(x.shape[0], *hw, -1).permute(0, 3, 1, 2)
