"""DynamicViT: a ViT that learns which patch tokens to drop.

`Rao et al., "DynamicViT: Efficient Vision Transformers with Dynamic Token Sparsification",
NeurIPS 2021 <https://arxiv.org/abs/2106.02034>`_.

Before each configured block (default 3, 6, 9 of 12) a light prediction module scores every live
patch token from its own feature and a global feature averaged over the live tokens. With keep
ratio rho, stage s keeps ``int(L * rho^s)`` of the L patch tokens (the cls token is never pruned).

- **Training**: hard Gumbel-softmax keep decisions ``D_s = GumbelSoftmax(pi_s)[:, :, keep] *
  D_{s-1}`` (straight-through), and attention masked by ``D_s`` (see
  :mod:`~mmdbp.models.utils.policy_attention`), so the batch keeps its shape.
- **Inference**: the top ``int(L * rho^s)`` tokens by keep score are gathered and the later blocks
  really run on fewer tokens.

The objective (CE + keep-ratio loss + distillation from the dense teacher) lives in
:class:`~mmdbp.models.classifiers.DynamicViTClassifier`; :meth:`DynamicViT.forward_with_aux`
returns what it needs. With ``out_type='featmap'`` the backbone returns full-resolution maps for
dense heads (pruned tokens keep the feature they had when pruned, see
:class:`~mmdbp.models.utils.token_map.PrunedTokenMap`).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_

from mmdbp.registry import MODELS
from ..utils.init_args import check_init_kwargs, check_pruning_locs, check_rate
from ..utils.masking import gather_tokens
from ..utils.policy_attention import block_forward_with_policy
from ..utils.token_map import PrunedTokenMap
from .vit import FastVisionTransformer


class TokenKeepPredictor(nn.Module):
    """DynamicViT's prediction module: per-token keep / drop log-probabilities.

    ``z = GELU(Linear(LN(x)))`` is split into a local half and a global half; the global half is
    averaged over the live tokens (weighted by the current keep decision ``D``):

    .. math::

        z^{g} = \\frac{\\sum_j D_j z^{g}_j}{\\sum_j D_j}, \\qquad
        \\pi = \\mathrm{LogSoftmax}(\\mathrm{MLP}([z^{l}_i; z^{g}])) \\in \\mathbb{R}^{N \\times 2},

    with ``MLP = Linear(C, C/2) - GELU - Linear(C/2, C/4) - GELU - Linear(C/4, 2)``. Column 0 is
    "keep", column 1 "drop".

    Args:
        embed_dims (int): Token width C (even).
    """

    def __init__(self, embed_dims: int) -> None:
        super().__init__()
        if embed_dims % 4:
            raise ValueError(
                f'TokenKeepPredictor needs embed_dims divisible by 4, got {embed_dims}.')
        self.in_conv = nn.Sequential(
            nn.LayerNorm(embed_dims), nn.Linear(embed_dims, embed_dims), nn.GELU())
        self.out_conv = nn.Sequential(
            nn.Linear(embed_dims, embed_dims // 2), nn.GELU(),
            nn.Linear(embed_dims // 2, embed_dims // 4), nn.GELU(),
            nn.Linear(embed_dims // 4, 2), nn.LogSoftmax(dim=-1))

    def forward(self, x: torch.Tensor, policy: torch.Tensor) -> torch.Tensor:
        """x: live patch tokens (B, N, C); policy: keep decision (B, N, 1). Returns (B, N, 2)."""
        x = self.in_conv(x)
        local_x, global_x = x.chunk(2, dim=-1)  # B, N, C/2 each
        global_x = (global_x * policy).sum(dim=1, keepdim=True) / policy.sum(
            dim=1, keepdim=True).clamp_min(1e-6)
        x = torch.cat([local_x, global_x.expand_as(local_x)], dim=-1)
        return self.out_conv(x)


def num_tokens_kept(num_patches: int, ratio: float) -> int:
    """Patch tokens kept at inference: ``int(L * ratio)`` with the released code's float
    arithmetic (``int(init_n * token_ratio[i])`` in ``models/dyvit.py``), so the counts equal the
    official ones for every (L, ratio), round-off included (``0.7 * 90`` is 62.99999999999999 in
    floating point: 62 tokens, as the official model).

    Deviation (guard): where the official count is 0 (``L * ratio < 1``) one token is kept; the
    official model would run the later blocks on the cls token alone and divide by zero in the
    next prediction module's global average.
    """
    return max(1, int(num_patches * ratio))


@MODELS.register_module()
class DynamicViT(FastVisionTransformer):
    """DynamicViT backbone on :class:`FastVisionTransformer` (same weights and arch zoo, so plain
    DeiT / ViT / masked-fine-tuned checkpoints load directly; the prediction modules are new).

    Args:
        keep_ratio (float): rho; stage s keeps ``rho^s`` of the patch tokens. Defaults to 0.7.
        pruning_locs (Sequence[int]): Blocks before which a prediction module prunes (0-based,
            strictly increasing). Defaults to (3, 6, 9).
        keep_ratios (Sequence[float], optional): Explicit per-stage ratios of the original
            number of patches (non-increasing, in (0, 1]); overrides ``keep_ratio``.
        **kwargs: :class:`FastVisionTransformer` arguments (``arch``, ``img_size``,
            ``patch_size``, ``out_indices``, ``out_type``, ``drop_path_rate``, ``init_cfg``...).
            ``out_type='featmap'`` returns full-resolution maps (B, C, H/p, W/p).

    Shapes: input (B, 3, H, W) with H, W multiples of the patch size; outputs as
    :class:`FastVisionTransformer`.
    """

    def __init__(self,
                 keep_ratio: float = 0.7,
                 pruning_locs: Sequence[int] = (3, 6, 9),
                 keep_ratios: Optional[Sequence[float]] = None,
                 **kwargs) -> None:
        check_init_kwargs(self, kwargs)
        super().__init__(**kwargs)
        if not self.with_cls_token:
            raise ValueError('DynamicViT needs the cls token (with_cls_token=True).')
        pruning_locs = check_pruning_locs(pruning_locs, self.num_layers)
        if keep_ratios is None:
            check_rate('keep_ratio', keep_ratio)
            keep_ratios = [keep_ratio**(s + 1) for s in range(len(pruning_locs))]
        keep_ratios = tuple(float(r) for r in keep_ratios)
        if len(keep_ratios) != len(pruning_locs):
            raise ValueError(f'keep_ratios ({len(keep_ratios)} values) must give one ratio per '
                             f'pruning location ({len(pruning_locs)}).')
        if any(not 0. < r <= 1. for r in keep_ratios) or any(
                b > a for a, b in zip(keep_ratios, keep_ratios[1:])):
            raise ValueError(f'keep_ratios must be non-increasing values in (0, 1], got '
                             f'{keep_ratios}.')
        self.keep_ratio = keep_ratio
        self.pruning_locs = pruning_locs
        self.keep_ratios = keep_ratios
        self._stage_of_block = {loc: s for s, loc in enumerate(pruning_locs)}
        self.predictors = nn.ModuleList(
            [TokenKeepPredictor(self.embed_dims) for _ in pruning_locs])
        for m in self.predictors.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return self.forward_with_aux(x)[0]

    def forward_with_aux(self, img: torch.Tensor) -> Tuple[Tuple[torch.Tensor, ...], Dict]:
        """Forward that also returns what the training objective needs.

        Returns:
            tuple: ``(outs, aux)``; ``outs`` as :meth:`forward`, ``aux`` a dict with
            ``keep_decisions`` (list of (B, L) hard decisions, training only),
            ``keep_ratios`` (target per stage), ``tokens`` (final normalised patch tokens
            (B, L, C) in training, (B, K, C) at inference) and ``policy`` (final keep decision
            (B, L) in training, None at inference).
        """
        x, hw = self.embed(img)
        B, L = x.shape[0], x.shape[1] - 1
        dense_maps = self.out_type == 'featmap'
        token_map = PrunedTokenMap(B, L, x.device) if dense_maps and not self.training else None
        prev = x.new_ones(B, L, 1)  # live tokens
        policy = None  # (B, 1 + L, 1) in training once a stage has pruned
        stale = None  # training: features of pruned tokens at the time they were pruned
        decisions: List[torch.Tensor] = []
        outs = []
        for i, block in enumerate(self.blocks):
            stage = self._stage_of_block.get(i)
            if stage is not None:
                patches = x[:, 1:]
                log_probs = self.predictors[stage](patches, prev)  # B, N, 2
                if self.training:
                    if dense_maps:
                        stale = patches * prev if stale is None else (
                            patches * prev + stale * (1 - prev))
                    keep = F.gumbel_softmax(log_probs.float(), hard=True)[..., :1]
                    keep = keep.to(x.dtype) * prev  # nested: pruned tokens stay pruned
                    decisions.append(keep.squeeze(-1))
                    prev = keep
                    policy = torch.cat([keep.new_ones(B, 1, 1), keep], dim=1)
                else:
                    num_keep = num_tokens_kept(L, self.keep_ratios[stage])
                    keep_idx = torch.argsort(log_probs[..., 0], dim=1,
                                             descending=True)[:, :num_keep]
                    if token_map is not None:
                        token_map.record(patches)
                        token_map.keep(keep_idx)
                    x = torch.cat([x[:, :1], gather_tokens(patches, keep_idx)], dim=1)
                    prev = x.new_ones(B, num_keep, 1)
            x = block(x) if policy is None else block_forward_with_policy(block, x, policy)
            last = i == self.num_layers - 1
            if last:
                x = self.norm(x)
            if i in self.out_indices:
                outs.append(self._format(x, hw, prev, stale, token_map, last))
        aux = dict(keep_decisions=decisions, keep_ratios=self.keep_ratios, tokens=x[:, 1:],
                   policy=prev.squeeze(-1) if self.training else None)
        return tuple(outs), aux

    def _format(self, x: torch.Tensor, hw: Tuple[int, int], prev: torch.Tensor,
                stale: Optional[torch.Tensor], token_map: Optional[PrunedTokenMap],
                last: bool) -> torch.Tensor:
        """Output of one level, with the pruned tokens accounted for."""
        if self.out_type in ('raw', 'cls_token'):
            return self.format_output(x, hw)
        patches = x[:, 1:]
        if self.out_type == 'avg_featmap':
            pooled = (patches * prev).sum(dim=1) / prev.sum(dim=1).clamp_min(1e-6)
            return self.norm_avg(pooled)
        # featmap: full resolution, pruned tokens filled with their last feature
        norm = self.norm if last else None
        if token_map is not None:
            patches = token_map.render(patches, norm)
        elif stale is not None:
            stale = norm(stale) if norm is not None else stale
            patches = patches * prev + stale * (1 - prev)
        return patches.reshape(x.shape[0], *hw, -1).permute(0, 3, 1, 2)
