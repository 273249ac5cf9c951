"""DynamicViT's training objective as an mmpretrain classifier.

`Rao et al., NeurIPS 2021 <https://arxiv.org/abs/2106.02034>`_, Eq. 13 (DeiT setting of the
released code):

.. math::

    \\mathcal{L} = \\lambda_{cls} \\mathcal{L}_{cls}(y, \\hat y)
        + \\mathcal{L}_{ratio}
        + \\lambda_{KL}\\, \\mathrm{KL}(p_{teacher} \\,\\|\\, p_{student})
        + \\lambda_{distill} \\frac{1}{\\sum_{b,i} D_{b,i}} \\sum_{b,i} D_{b,i}
          \\lVert t_{b,i} - t'_{b,i} \\rVert^2 / C,

where ``L_cls`` is the head's loss (label smoothing / mixup soft targets as configured), ``L_ratio``
is :class:`~mmdbp.models.losses.TokenKeepRatioLoss`, ``p`` are class probabilities, ``t`` / ``t'``
the final (normalised) patch tokens of the student / dense teacher and ``D`` the student's final
keep decision (token distillation only on the kept tokens). Defaults: lambda_cls = 1, ratio weight
2, lambda_KL = lambda_distill = 0.5.

The teacher is any classifier config (e.g. the dense ``FastVisionTransformer`` or mmpretrain's
``VisionTransformer`` DeiT) loaded from ``teacher_ckpt`` in :meth:`init_weights`, frozen and always
in eval mode; its final tokens are read by a forward hook on ``teacher_token_layer``.
"""
import logging
from typing import List, Optional

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.structures import DataSample

from mmdbp.registry import MODELS


def has_pretrained_init(cfg) -> bool:
    """Whether a model config (or any part of it) has ``init_cfg=dict(type='Pretrained', ...)``."""
    if isinstance(cfg, dict):
        inits = cfg.get('init_cfg')
        inits = inits if isinstance(inits, (list, tuple)) else [inits]
        if any(isinstance(i, dict) and i.get('type') == 'Pretrained' for i in inits):
            return True
        return any(has_pretrained_init(v) for v in cfg.values())
    if isinstance(cfg, (list, tuple)):
        return any(has_pretrained_init(v) for v in cfg)
    return False


@MODELS.register_module()
class DynamicViTClassifier(ImageClassifier):
    """Image classifier trained with DynamicViT's loss (CE + keep ratio + teacher distillation).

    Args:
        backbone (dict): A backbone with ``forward_with_aux`` (:class:`~mmdbp.models.backbones.
            DynamicViT`).
        head (dict): An mmpretrain ``ClsHead`` subclass (e.g. ``VisionTransformerClsHead``,
            ``LinearClsHead``): its ``_get_loss`` gives the classification loss.
        neck (dict, optional): Defaults to None.
        teacher (dict, optional): Config of the dense teacher classifier (same input size and
            number of patches). Required when a distillation weight is non-zero.
        teacher_ckpt (str, optional): Checkpoint of the teacher, loaded in :meth:`init_weights`.
        teacher_token_layer (str): Submodule of the teacher whose output (B, E + L, C) holds its
            final tokens: ``'backbone.norm'`` for mmdbp's ViT, ``'backbone.ln1'`` for
            mmpretrain's. Defaults to ``'backbone.norm'``.
        teacher_num_extra_tokens (int): Leading non-patch tokens of the teacher. Defaults to 1.
        ratio_loss (dict): Keep-ratio loss config. Defaults to
            ``dict(type='TokenKeepRatioLoss', loss_weight=2.0)``.
        cls_weight (float): lambda_cls. Defaults to 1.0.
        distill_weight (float): lambda_KL on the logits. Defaults to 0.5.
        token_distill_weight (float): lambda_distill on the kept tokens (MSE). Defaults to 0.5.
        **kwargs: ``ImageClassifier`` arguments (``data_preprocessor``, ``train_cfg``,
            ``init_cfg``...).
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 neck: Optional[dict] = None,
                 teacher: Optional[dict] = None,
                 teacher_ckpt: Optional[str] = None,
                 teacher_token_layer: str = 'backbone.norm',
                 teacher_num_extra_tokens: int = 1,
                 ratio_loss: dict = dict(type='TokenKeepRatioLoss', loss_weight=2.0),
                 cls_weight: float = 1.0,
                 distill_weight: float = 0.5,
                 token_distill_weight: float = 0.5,
                 **kwargs) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        if not hasattr(self.backbone, 'forward_with_aux'):
            raise TypeError(f'DynamicViTClassifier needs a backbone with forward_with_aux '
                            f'(e.g. DynamicViT), got {type(self.backbone).__name__}.')
        if not hasattr(self.head, '_get_loss'):
            raise TypeError(f'DynamicViTClassifier needs an mmpretrain ClsHead (with _get_loss), '
                            f'got {type(self.head).__name__}.')
        # mmpretrain's registry: finds mmpretrain's classes and (via its root parent) mmdbp's
        self.ratio_loss = PRETRAIN_MODELS.build(ratio_loss)
        self.cls_weight = cls_weight
        self.distill_weight = distill_weight
        self.token_distill_weight = token_distill_weight
        self.teacher_ckpt = teacher_ckpt
        self.teacher_num_extra_tokens = teacher_num_extra_tokens
        self._teacher_tokens: Optional[torch.Tensor] = None
        if teacher is None:
            if distill_weight or token_distill_weight:
                raise ValueError('DynamicViTClassifier: distillation needs a teacher: set '
                                 'teacher=dict(type=..., ...) (and teacher_ckpt), or set '
                                 'distill_weight=0 and token_distill_weight=0.')
            self.teacher = None
            return
        if teacher_ckpt is None and not has_pretrained_init(teacher):
            print_log('DynamicViTClassifier: the teacher has neither teacher_ckpt nor a '
                      "Pretrained init_cfg, so it distils from random weights; set "
                      'teacher_ckpt=<dense checkpoint> (or distill_weight=0 and '
                      'token_distill_weight=0 to train without a teacher).',
                      logger='current', level=logging.WARNING)
        self.teacher = PRETRAIN_MODELS.build(teacher)
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        try:
            token_layer = self.teacher.get_submodule(teacher_token_layer)
        except AttributeError as e:
            raise ValueError(f'teacher_token_layer {teacher_token_layer!r} is not a submodule of '
                             f'the teacher ({type(self.teacher).__name__}); use e.g. '
                             f'"backbone.norm" (mmdbp ViT) or "backbone.ln1" (mmpretrain ViT).'
                             ) from e
        token_layer.register_forward_hook(self._keep_teacher_tokens)

    def _keep_teacher_tokens(self, module, args, output) -> None:
        self._teacher_tokens = output

    def init_weights(self) -> None:
        super().init_weights()
        if self.teacher is not None and self.teacher_ckpt is not None:
            from mmengine.runner import load_checkpoint
            load_checkpoint(self.teacher, self.teacher_ckpt, map_location='cpu',
                            revise_keys=[(r'^module\.', '')])

    def train(self, mode: bool = True):
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # frozen: no dropout, no drop path
        return self

    @torch.no_grad()
    def teacher_forward(self, inputs: torch.Tensor):
        """Teacher logits (B, K) and final patch tokens (B, L, C)."""
        self._teacher_tokens = None
        feats = self.teacher.extract_feat(inputs)
        logits = self.teacher.head(feats)
        if self._teacher_tokens is None:
            raise RuntimeError('The teacher_token_layer was not called in the teacher forward.')
        tokens = self._teacher_tokens[:, self.teacher_num_extra_tokens:]
        self._teacher_tokens = None
        return logits, tokens

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample]) -> dict:
        outs, aux = self.backbone.forward_with_aux(inputs)
        feats = self.neck(outs) if self.with_neck else outs
        cls_score = self.head(feats)
        head_losses = self.head._get_loss(cls_score, data_samples)
        losses = dict(loss_cls=self.cls_weight * head_losses.pop('loss'))
        losses.update(head_losses)  # accuracy, when the head computes it
        losses['loss_ratio'] = self.ratio_loss(aux['keep_decisions'], aux['keep_ratios'])
        if self.teacher is None:
            return losses
        t_logits, t_tokens = self.teacher_forward(inputs)
        losses['loss_distill'] = self.distill_weight * F.kl_div(
            F.log_softmax(cls_score.float(), dim=-1), F.log_softmax(t_logits.float(), dim=-1),
            reduction='batchmean', log_target=True)
        tokens, keep = aux['tokens'], aux['policy'] > 0.5  # B, L, C and B, L
        if t_tokens.shape != tokens.shape:
            raise ValueError(f'Teacher tokens {tuple(t_tokens.shape)} do not match the '
                             f"student's {tuple(tokens.shape)}: the teacher needs the same patch "
                             f'grid and width (check teacher_num_extra_tokens).')
        if keep.any():
            token_loss = F.mse_loss(tokens[keep].float(), t_tokens[keep].float())
        else:
            token_loss = tokens.sum() * 0.
        losses['loss_token_distill'] = self.token_distill_weight * token_loss
        return losses
