"""MIRL's pre-training head: normalised pixel target and the residual loss."""
from typing import Dict, Optional, Sequence

import torch
from mmpretrain.models.heads import MAEPretrainHead

from mmdbp.registry import MODELS
from ..losses.mirl_residual_loss import outside_in_pairs


@MODELS.register_module()
class MIRLPretrainHead(MAEPretrainHead):
    """Turns the S decoder predictions into MIRL's residual loss.

    Reuses mmpretrain's :class:`MAEPretrainHead` patchify / per-patch target normalisation
    (``t = (x - mean) / sqrt(var + 1e-6)`` over each patch's pixels, always on in MIRL) and
    hands the predictions to :class:`~mmdbp.models.losses.MIRLResidualLoss`.

    Args:
        loss (dict): Config of the residual loss. Defaults to ``dict(type='MIRLResidualLoss')``.
        norm_pix (bool): Per-patch normalised target. Defaults to True.
        patch_size (int): Defaults to 16.
        in_channels (int): Defaults to 3.

    ``loss`` returns ``{'loss': L, 'pair0_mse': MSE_0, ...}``. Only ``loss`` contains the word
    "loss", so mmengine's ``parse_losses`` back-propagates ``L`` once and logs each pair's MSE
    (``pair{k}`` = segments ``k`` and ``S-1-k``) beside it.
    """

    def __init__(self, loss: Optional[dict] = None, norm_pix: bool = True, patch_size: int = 16,
                 in_channels: int = 3) -> None:
        super().__init__(loss=loss or dict(type='MIRLResidualLoss'), norm_pix=norm_pix,
                         patch_size=patch_size, in_channels=in_channels)

    def loss(self, preds: Sequence[torch.Tensor], inputs: torch.Tensor,
             mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """preds: S predictions (B, L, p*p*C); inputs: images (B, C, H, W); mask (B, L)."""
        target = self.construct_target(inputs)
        loss, pair_mse = self.loss_module([p.float() for p in preds], target.float(), mask)
        losses = dict(loss=loss)
        for k, mse in enumerate(pair_mse):
            losses[f'pair{k}_mse'] = mse.detach()
        return losses

    @torch.no_grad()
    def reconstruct(self, preds: Sequence[torch.Tensor],
                    inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Images of every pair's main component, residual and their sum (B, C, H, W each).

        Predictions live in the normalised-patch space; they are mapped back with the target
        patches' own mean and std (as the official visualisation): ``main_k = p_k * std + mean``,
        ``residual_k = p_{S-1-k} * std + mean``, ``sum_k = (p_k + p_{S-1-k}) * std + mean``.
        """
        patches = self.patchify(inputs)
        mean = patches.mean(dim=-1, keepdim=True)
        std = (patches.var(dim=-1, keepdim=True) + 1.e-6)**.5
        if not self.norm_pix:
            mean, std = torch.zeros_like(mean), torch.ones_like(std)
        out = {}
        for k, (shallow, deep) in enumerate(outside_in_pairs(len(preds))):
            p_main, p_res = preds[shallow].float(), preds[deep].float()
            out[f'pair{k}_main'] = self.unpatchify(p_main * std + mean)
            out[f'pair{k}_residual'] = self.unpatchify(p_res * std + mean)
            out[f'pair{k}_sum'] = self.unpatchify((p_main + p_res) * std + mean)
        return out
