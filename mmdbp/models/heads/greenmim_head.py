"""GreenMIM's pixel reconstruction loss on masked units (MAE style, per-unit normalised)."""
from typing import Tuple

import torch
from mmengine.model import BaseModule

from mmdbp.registry import MODELS


@MODELS.register_module()
class GreenMIMHead(BaseModule):
    """Mean squared error of the predicted pixels of the masked units.

    With ``norm_pix`` (default, as MAE and GreenMIM) each unit's target is normalised by its
    own pixel statistics:

    .. math:: \\hat t_u = (t_u - \\mu_u) / \\sqrt{\\sigma_u^2 + \\epsilon},\\qquad
              \\mathcal{L} = \\frac{\\sum_u m_u \\lVert p_u - \\hat t_u \\rVert^2 / D}{\\sum_u m_u}

    over the D = unit_size^2 * C values of unit u (``sigma^2`` the unbiased variance, as MAE),
    m_u = 1 for masked units.

    Args:
        unit_size (int): Pixels per unit side. Defaults to 32.
        in_chans (int): Defaults to 3.
        norm_pix (bool): Normalise each unit's target. Defaults to True.
        eps (float): Defaults to 1e-6.
    """

    def __init__(self, unit_size: int = 32, in_chans: int = 3, norm_pix: bool = True,
                 eps: float = 1e-6, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.unit_size = unit_size
        self.in_chans = in_chans
        self.norm_pix = norm_pix
        self.eps = eps

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, L, p*p*C), units row-major, values ordered (row, col, channel)."""
        B, C, H, W = imgs.shape
        p = self.unit_size
        if H % p or W % p:
            raise ValueError(f'GreenMIMHead: image size ({H}, {W}) is not a multiple of '
                             f'unit_size {p}.')
        x = imgs.reshape(B, C, H // p, p, W // p, p)
        return torch.einsum('nchpwq->nhwpqc', x).reshape(B, (H // p) * (W // p), p * p * C)

    def unpatchify(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        """(B, L, p*p*C) -> (B, C, Hu*p, Wu*p)."""
        B = x.shape[0]
        p, C = self.unit_size, self.in_chans
        Hu, Wu = grid
        x = x.reshape(B, Hu, Wu, p, p, C)
        return torch.einsum('nhwpqc->nchpwq', x).reshape(B, C, Hu * p, Wu * p)

    def construct_target(self, imgs: torch.Tensor) -> torch.Tensor:
        target = self.patchify(imgs)
        if self.norm_pix:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + self.eps)**.5
        return target

    def loss(self, pred: torch.Tensor, imgs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """pred (B, L, D), imgs (B, C, H, W), mask (B, L) with 1 = masked -> scalar loss."""
        target = self.construct_target(imgs)
        per_unit = ((pred.float() - target.float())**2).mean(dim=-1)  # B, L
        mask = mask.float()
        return (per_unit * mask).sum() / mask.sum().clamp(min=1)
