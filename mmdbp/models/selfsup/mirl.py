"""MIRL: Masked Image Residual Learning (the algorithm that wires encoder, decoders and loss)."""
from typing import Dict, List, Optional, Union

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from mmdbp.registry import MODELS


@MODELS.register_module()
class MIRL(BaseSelfSupervisor):
    """`Masked Image Residual Learning for Scaling Deeper Vision Transformers
    <https://arxiv.org/abs/2309.14136>`_ (Huang, Fu, Bors, NeurIPS 2023).

    An mmpretrain self-supervisor in the style of its ``MAE``: ``backbone`` is a
    :class:`~mmdbp.models.backbones.MIRLViT` (MAE masking, one output per segment), ``neck`` a
    :class:`~mmdbp.models.necks.MIRLMultiDecoder` (one decoder per segment) and ``head`` a
    :class:`~mmdbp.models.heads.MIRLPretrainHead` (residual loss on the per-patch normalised
    target). Data preprocessing is mmpretrain's ``SelfSupDataPreprocessor`` (the default).

    The parts must agree on the number of segments, widths, patch size and number of patches;
    a mismatch raises at build time and says which setting to change.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, **kwargs) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self._check_parts()

    def _check_parts(self) -> None:
        enc, dec = self.backbone, self.neck
        num_segments = getattr(enc, 'num_segments', None)
        if num_segments is None:
            raise TypeError(f'MIRL needs a segmented encoder (e.g. type="MIRLViT"), got '
                            f'{type(enc).__name__}.')
        problems = []
        if dec.num_segments != num_segments:
            problems.append(f'neck.num_segments={dec.num_segments} but the backbone has '
                            f'{num_segments} segments (ends {list(enc.segment_ends)})')
        if dec.embed_dim != enc.embed_dims:
            problems.append(f'neck.embed_dim={dec.embed_dim} but the backbone width is '
                            f'{enc.embed_dims}')
        num_patches = enc.patch_resolution[0] * enc.patch_resolution[1]
        if dec.num_patches != num_patches:
            problems.append(f'neck.num_patches={dec.num_patches} but the backbone has '
                            f'{num_patches} patches (img_size / patch_size squared)')
        patch = enc.patch_embed.patch_size
        if dec.patch_size != patch or self.head.patch_size != patch:
            problems.append(f'neck.patch_size={dec.patch_size} and head.patch_size='
                            f'{self.head.patch_size} must equal the backbone patch_size={patch}')
        weights = getattr(self.head.loss_module, 'pair_weights', None)
        if weights is not None and len(weights) != num_segments // 2:
            problems.append(f'head.loss.pair_weights has {len(weights)} entries but there are '
                            f'{num_segments // 2} pairs')
        if problems:
            raise ValueError('MIRL config mismatch: ' + '; '.join(problems) + '.')

    def extract_feat(self, inputs: torch.Tensor):
        """Plain encoder features on all patches (no masking)."""
        return self.backbone(inputs, mask=None)

    @staticmethod
    def _images(inputs: Union[torch.Tensor, List[torch.Tensor]]) -> torch.Tensor:
        return inputs[0] if isinstance(inputs, (list, tuple)) else inputs

    def predict_segments(self, inputs: torch.Tensor):
        """Encoder + decoders: returns (S predictions (B, L, p*p*C), mask (B, L))."""
        enc = self.backbone(inputs)
        preds = self.neck(enc.low_feat, enc.segment_feats, enc.ids_restore)
        return preds, enc.mask

    def loss(self, inputs: torch.Tensor, data_samples: Optional[List[DataSample]] = None,
             **kwargs) -> Dict[str, torch.Tensor]:
        """``{'loss': L, 'pair0_mse': ..., ...}`` (see :class:`MIRLPretrainHead`)."""
        inputs = self._images(inputs)
        preds, mask = self.predict_segments(inputs)
        return self.head.loss(preds, inputs, mask)

    @torch.no_grad()
    def reconstruct(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Masked input, every pair's main component, residual and sum, as images.

        Returns a dict of (B, C, H, W) tensors in the preprocessed (normalised) pixel space:
        ``'input'``, ``'masked'`` (removed patches zeroed), ``'pair{k}_main'``,
        ``'pair{k}_residual'``, ``'pair{k}_sum'`` (visible patches pasted from the input in
        ``'pair{k}_sum_pasted'``) and the binary ``'mask'`` (B, 1, H, W), 1 = removed.
        """
        inputs = self._images(inputs)
        preds, mask = self.predict_segments(inputs)
        pairs = self.head.reconstruct(preds, inputs)
        p = self.head.patch_size
        mask_img = self.head.unpatchify(
            mask.unsqueeze(-1).expand(-1, -1, p * p * inputs.shape[1]).to(inputs.dtype))
        out = dict(input=inputs, masked=inputs * (1 - mask_img))
        for k in range(len(preds) // 2):
            for part in ('main', 'residual', 'sum'):
                out[f'pair{k}_{part}'] = pairs[f'pair{k}_{part}']
            out[f'pair{k}_sum_pasted'] = (inputs * (1 - mask_img) +
                                          pairs[f'pair{k}_sum'] * mask_img)
        out['mask'] = mask_img[:, :1]
        return out
