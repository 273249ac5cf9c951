"""DynamicViT's keep-ratio loss: pull the fraction of kept tokens to the target of each stage.

`Rao et al., NeurIPS 2021 <https://arxiv.org/abs/2106.02034>`_, Eq. 12:

.. math::

    \\mathcal{L}_{ratio} = \\frac{1}{S} \\sum_{s=1}^{S} \\frac{1}{B} \\sum_{b=1}^{B}
        \\Big(\\rho_s - \\frac{1}{L} \\sum_{i=1}^{L} D^{s}_{b,i}\\Big)^2,

with D^s the hard (straight-through Gumbel) keep decisions of stage s and rho_s its target ratio.
"""
from typing import Sequence

import torch
import torch.nn as nn

from mmdbp.registry import MODELS


@MODELS.register_module()
class TokenKeepRatioLoss(nn.Module):
    """Squared gap between the kept fraction and the target ratio, averaged over stages.

    Args:
        loss_weight (float): Defaults to 2.0 (DeiT-S in the paper; 5.0 for DeiT-B).
    """

    def __init__(self, loss_weight: float = 2.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, keep_decisions: Sequence[torch.Tensor],
                keep_ratios: Sequence[float]) -> torch.Tensor:
        """keep_decisions: one (B, L) tensor per stage; keep_ratios: the target of each stage."""
        if len(keep_decisions) != len(keep_ratios):
            raise ValueError(f'Got {len(keep_decisions)} keep decisions for '
                             f'{len(keep_ratios)} target ratios.')
        if not keep_decisions:
            raise ValueError('TokenKeepRatioLoss needs at least one pruning stage.')
        loss = sum(((d.float().mean(dim=1) - r)**2).mean()
                   for d, r in zip(keep_decisions, keep_ratios))
        return self.loss_weight * loss / len(keep_decisions)
