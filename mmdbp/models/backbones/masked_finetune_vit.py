"""Masked fine-tuning: a ViT that sees only a random subset of its patches while it is trained.

`Shi & Wang, "Bridging the Gaps Between Token Pruning and Full Pre-training via Masked
Fine-tuning", arXiv 2310.17177 <https://arxiv.org/abs/2310.17177>`_.

A classifier pre-trained on full images is a poor initialisation for dynamic ViTs that drop tokens
(DynamicViT, EViT): it never computed on a subset of patches. Masked fine-tuning fine-tunes it on
images whose patch tokens are randomly *dropped* (as the MAE encoder does, so compute falls with
the mask ratio) and predicts the class from the kept tokens only (cls token, or mean of the kept
patch tokens). Evaluation uses the full image, and the weights stay a plain
:class:`FastVisionTransformer`'s, so the result initialises the pruning backbones directly.

The paper does not publish the mask ratio or its schedule; here it is a config choice: a fixed
ratio, a ``(low, high)`` range sampled uniformly once per batch, or a value scheduled by
:class:`~mmdbp.engine.hooks.TokenRatioScheduleHook` (``attr='backbone.mask_ratio'``).
"""
from typing import Sequence, Tuple, Union

import torch

from mmdbp.registry import MODELS
from ..utils.init_args import check_init_kwargs
from ..utils.masking import random_masking
from .vit import FastVisionTransformer


@MODELS.register_module()
class MaskedFinetuneViT(FastVisionTransformer):
    """:class:`FastVisionTransformer` that drops a random subset of patch tokens in training.

    Args:
        mask_ratio (float | Sequence[float]): Fraction of patch tokens dropped in training, in
            [0, 1); or ``(low, high)``: a ratio drawn uniformly per batch (the same for every
            image of the batch, so the batch stays rectangular). Defaults to 0.5.
        **kwargs: :class:`FastVisionTransformer` arguments. ``out_type`` must be
            ``'cls_token'`` (classify from the cls token), ``'avg_featmap'`` (mean of the kept
            patch tokens) or ``'raw'``; a full ``'featmap'`` does not exist for a masked input.

    Shapes: input (B, 3, H, W); in training the blocks process ``1 + int(L * (1 - r))`` tokens
    instead of ``1 + L``.
    """

    def __init__(self, mask_ratio: Union[float, Sequence[float]] = 0.5, **kwargs) -> None:
        kwargs.setdefault('out_type', 'cls_token')
        check_init_kwargs(self, kwargs)
        super().__init__(**kwargs)
        if self.out_type == 'featmap':
            raise ValueError('MaskedFinetuneViT drops patches in training, so it has no full '
                             'feature map: use out_type "cls_token", "avg_featmap" or "raw".')
        self.mask_ratio = mask_ratio
        self._check_ratio(mask_ratio)

    @staticmethod
    def _check_ratio(mask_ratio) -> None:
        ratios = [mask_ratio] if isinstance(mask_ratio, (int, float)) else list(mask_ratio)
        if not (len(ratios) in (1, 2) and all(0. <= r < 1. for r in ratios)
                and ratios == sorted(ratios)):
            raise ValueError(f'mask_ratio must be a float in [0, 1) or a range (low, high) with '
                             f'0 <= low <= high < 1, got {mask_ratio}.')

    def sample_mask_ratio(self) -> float:
        """The mask ratio of this training batch."""
        self._check_ratio(self.mask_ratio)
        if isinstance(self.mask_ratio, (int, float)):
            return float(self.mask_ratio)
        low, high = self.mask_ratio
        return low + (high - low) * torch.rand(()).item()

    def forward(self, img: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if not self.training:
            return super().forward(img)  # evaluation: the full image
        ratio = self.sample_mask_ratio()
        x, hw = self.embed(img)  # B, E + L, C (E extra tokens first)
        extra, patches = x[:, :self.num_extra_tokens], x[:, self.num_extra_tokens:]
        x = torch.cat([extra, random_masking(patches, ratio).tokens], dim=1)
        return self.forward_blocks(x, hw)
