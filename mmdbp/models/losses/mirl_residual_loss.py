"""MIRL's residual reconstruction objective.

`Masked Image Residual Learning for Scaling Deeper Vision Transformers
<https://arxiv.org/abs/2309.14136>`_, Sec. 3. With S (even) decoder predictions
``p_0 .. p_{S-1}`` (shallow to deep) and the per-patch normalised target ``t``, the segments are
paired outside-in, ``(0, S-1), (1, S-2), ..., (S/2 - 1, S/2)``, and each pair's *sum* must
reconstruct the target: the shallow member learns the main component of the masked image and the
deep member its residual ``t - p_k``:

    MSE_k = sum_{b,i} m_{b,i} * mean_j (p_k + p_{S-1-k} - t)_{b,i,j}^2 / sum_{b,i} m_{b,i}
    L     = sum_k w_k MSE_k / sum_k w_k        (w_k = 1: the mean of the pair MSEs)

with ``m`` = 1 on masked patches only.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from mmdbp.registry import MODELS


def outside_in_pairs(num_segments: int) -> List[Tuple[int, int]]:
    """``(shallow, deep)`` index pairs: ``outside_in_pairs(6) == [(0, 5), (1, 4), (2, 3)]``."""
    if num_segments < 2 or num_segments % 2:
        raise ValueError(f'MIRL pairs segments outside-in and needs an even number of them '
                         f'(>= 2), got {num_segments}.')
    return [(k, num_segments - 1 - k) for k in range(num_segments // 2)]


@MODELS.register_module()
class MIRLResidualLoss(nn.Module):
    """Mean (optionally weighted) of the outside-in pairs' masked-patch MSEs.

    Args:
        pair_weights (Sequence[float], optional): One non-negative weight per pair (outermost
            pair first); ``L = sum w_k MSE_k / sum w_k``. None (default) weighs all pairs
            equally, as the paper.
        detach_shallow (bool): Stop the gradient of the residual objective into the shallow
            member of each pair (it then only receives gradients through the deeper decoders'
            cross-attention context). Off by default, as the released code.
    """

    def __init__(self, pair_weights: Optional[Sequence[float]] = None,
                 detach_shallow: bool = False) -> None:
        super().__init__()
        if pair_weights is not None:
            pair_weights = [float(w) for w in pair_weights]
            if any(w < 0 for w in pair_weights) or sum(pair_weights) <= 0:
                raise ValueError(f'MIRLResidualLoss: pair_weights must be non-negative with a '
                                 f'positive sum, got {pair_weights}.')
        self.pair_weights = pair_weights
        self.detach_shallow = detach_shallow

    def forward(self, preds: Sequence[torch.Tensor], target: torch.Tensor,
                mask: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """preds: S tensors (B, L, D) shallow to deep; target (B, L, D); mask (B, L), 1 = masked.

        Returns the total loss and the list of per-pair MSEs (outermost pair first).
        """
        pairs = outside_in_pairs(len(preds))
        weights = self.pair_weights or [1.] * len(pairs)
        if len(weights) != len(pairs):
            raise ValueError(f'MIRLResidualLoss: {len(weights)} pair_weights for {len(pairs)} '
                             f'pairs ({len(preds)} segments); give one weight per pair.')
        num_masked = mask.sum().clamp(min=1)
        pair_mse = []
        for shallow, deep in pairs:
            main = preds[shallow].detach() if self.detach_shallow else preds[shallow]
            err = (main + preds[deep] - target).pow(2).mean(dim=-1)  # B, L
            pair_mse.append((err * mask).sum() / num_masked)
        loss = sum(w * m for w, m in zip(weights, pair_mse)) / sum(weights)
        return loss, pair_mse
