"""GreenMIM: MAE-style masked image modelling for hierarchical Swin on visible patches only."""
from typing import Dict, List, Union

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from mmdbp.registry import MODELS


@MODELS.register_module()
class GreenMIM(BaseSelfSupervisor):
    """GreenMIM.

    `Green Hierarchical Vision Transformer for Masked Image Modeling
    <https://arxiv.org/abs/2205.13515>`_ (Huang et al., NeurIPS 2022).

    ``backbone`` (:class:`GreenMIMSwin`) masks units and encodes the visible ones, ``neck``
    (:class:`GreenMIMDecoder`) predicts the pixels of every unit, ``head``
    (:class:`GreenMIMHead`) takes the loss on the masked units. The data preprocessor is
    mmpretrain's ``SelfSupDataPreprocessor`` by default.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, **kwargs) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self._check_parts()

    def _check_parts(self) -> None:
        """Raise at build time, naming the setting to change, when the parts disagree."""
        enc, dec, head = self.backbone, self.neck, self.head
        unit_grid = getattr(enc, 'unit_grid', None)
        if unit_grid is None:
            raise TypeError('GreenMIM needs an encoder on visible mask units (e.g. '
                            f'type="GreenMIMSwin"), got {type(enc).__name__}.')
        problems = []
        if tuple(dec.grid_size) != tuple(unit_grid):
            problems.append(f'neck.grid_size={tuple(dec.grid_size)} but the backbone has a '
                            f'{tuple(unit_grid)} grid of mask units (img_size {enc.img_size} / '
                            f'unit {enc.unit_size} px)')
        if dec.unit_size != enc.unit_size or head.unit_size != enc.unit_size:
            problems.append(f'neck.unit_size={dec.unit_size} and head.unit_size={head.unit_size} '
                            f'must equal the backbone mask unit {enc.unit_size} px '
                            '(patch_size * 2^(num_stages - 1))')
        if dec.embed_dims != enc.num_features[-1]:
            problems.append(f'neck.embed_dims={dec.embed_dims} but the last backbone stage is '
                            f'{enc.num_features[-1]} wide')
        if dec.in_chans != head.in_chans:
            problems.append(f'neck.in_chans={dec.in_chans} but head.in_chans={head.in_chans}')
        if problems:
            raise ValueError('GreenMIM config mismatch: ' + '; '.join(problems) + '.')

    def extract_feat(self, inputs: torch.Tensor):
        """Unmasked multi-stage features, as mmpretrain's ``SwinTransformer``."""
        return self.backbone(inputs, mask=None)

    def loss(self, inputs: Union[torch.Tensor, List[torch.Tensor]],
             data_samples: List[DataSample], **kwargs) -> Dict[str, torch.Tensor]:
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        latent, mask = self.backbone(inputs)
        pred = self.neck(latent, mask)
        return dict(loss=self.head.loss(pred, inputs, mask))

    @torch.no_grad()
    def reconstruct(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Reconstruct images for visualisation (e.g. by ``ReconstructionVisHook``).

        Returns:
            dict of (B, C, H, W) images in the normalised input space: ``input``, ``masked``
            (masked units blanked), ``pred`` (the prediction of every unit, with each unit's
            input mean/std restored when the target is normalised) and ``pasted`` (visible
            input with predicted masked units); plus ``mask`` (B, 1, H, W), 1 = masked.
        """
        inputs = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        latent, mask = self.backbone(inputs)
        pred = self.neck(latent, mask).float()
        head = self.head
        if head.norm_pix:
            target = head.patchify(inputs.float())
            mean = target.mean(dim=-1, keepdim=True)
            std = (target.var(dim=-1, keepdim=True) + head.eps)**.5
            pred = pred * std + mean
        grid = self.backbone.unit_grid
        pred = head.unpatchify(pred, grid)
        m = mask.view(-1, 1, *grid).repeat_interleave(head.unit_size, 2)
        m = m.repeat_interleave(head.unit_size, 3)
        inputs = inputs.float()
        return dict(input=inputs, masked=inputs * (1 - m), pred=pred,
                    pasted=inputs * (1 - m) + pred * m, mask=m)
