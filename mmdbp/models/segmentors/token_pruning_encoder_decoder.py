"""mmseg ``EncoderDecoder`` whose backbone prunes tokens with learned keep decisions.

A learned pruner (:class:`~mmdbp.models.backbones.DynamicViTSeg`) needs DynamicViT's keep-ratio
loss next to the segmentation losses, or its prediction modules drift to keeping every token (the
decode loss alone prefers more tokens). This segmentor reads the keep decisions from the backbone's
``forward_with_aux`` in training and adds
:class:`~mmdbp.models.losses.TokenKeepRatioLoss`; everything else (inference, sliding window, heads)
is mmseg's ``EncoderDecoder``. Backbones without ``forward_with_aux`` train as usual.
"""
from typing import Optional

import torch
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS as SEG_MODELS
from mmseg.utils import SampleList

from mmdbp.registry import MODELS


@MODELS.register_module()
class TokenPruningEncoderDecoder(EncoderDecoder):
    """``EncoderDecoder`` + the keep-ratio loss of a learned token pruner.

    Args:
        ratio_loss (dict, optional): Config of the keep-ratio loss. Defaults to
            ``dict(type='TokenKeepRatioLoss', loss_weight=2.0)``; None disables it.
        **kwargs: mmseg ``EncoderDecoder`` arguments (``backbone``, ``decode_head``, ``neck``,
            ``auxiliary_head``, ``train_cfg``, ``test_cfg``, ``data_preprocessor``...).
    """

    def __init__(self, ratio_loss: Optional[dict] = dict(type='TokenKeepRatioLoss',
                                                          loss_weight=2.0),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.ratio_loss = SEG_MODELS.build(ratio_loss) if ratio_loss is not None else None

    def loss(self, inputs: torch.Tensor, data_samples: SampleList) -> dict:
        if not hasattr(self.backbone, 'forward_with_aux'):
            return super().loss(inputs, data_samples)
        outs, aux = self.backbone.forward_with_aux(inputs)
        x = self.neck(outs) if self.with_neck else outs
        losses = dict()
        losses.update(self._decode_head_forward_train(x, data_samples))
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        if self.ratio_loss is not None and aux.get('keep_decisions'):
            losses['loss_ratio'] = self.ratio_loss(aux['keep_decisions'], aux['keep_ratios'])
        return losses
