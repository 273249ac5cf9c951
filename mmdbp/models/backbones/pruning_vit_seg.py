"""Token-pruning ViTs as mmseg backbones (UPerNet on ADE20K).

:class:`DynamicViTSeg` and :class:`EViTSeg` are :class:`~mmdbp.models.backbones.DynamicViT` and
:class:`~mmdbp.models.backbones.EViT` with mmseg's ViT defaults: multi-level full-resolution feature
maps (``out_type='featmap'``, ``out_indices=(2, 5, 8, 11)``) for ``MultiLevelNeck`` + ``UPerHead``,
512 px position embedding, and inputs whose size is not a multiple of the patch size zero-padded at
the bottom / right as mmseg's ``VisionTransformer`` does (``patch_pad='corner'``), so whole-image
inference works on any size; the maps then cover ``ceil(H / p) x ceil(W / p)`` patches and the
decode head resizes its logits back to the input, as with mmseg's ViT.

Pruned tokens keep the feature they had when they were pruned; kept tokens are scattered back to
their grid positions at every output level; EViT's fused token is left out of the maps (see
:class:`~mmdbp.models.utils.token_map.PrunedTokenMap`). DynamicViT's keep-ratio loss in
segmentation training is added by :class:`~mmdbp.models.segmentors.TokenPruningEncoderDecoder`.
"""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F

from mmdbp.registry import MODELS
from .dynamic_vit import DynamicViT
from .evit import EViT


def pad_to_patch_multiple(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Zero-pad (B, C, H, W) at the bottom / right to multiples of ``patch_size``."""
    H, W = x.shape[-2:]
    pad_h, pad_w = -H % patch_size, -W % patch_size
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x


class SegBackboneMixin:
    """mmseg defaults and corner padding for a token-pruning ViT (put it before the ViT class).

    ``img_size`` 512 and ``out_type='featmap'`` unless given; ``out_indices`` (2, 5, 8, 11);
    :meth:`embed` zero-pads the input to a multiple of the patch size first.
    """

    def __init__(self, out_indices: Sequence[int] = (2, 5, 8, 11), **kwargs) -> None:
        kwargs.setdefault('img_size', 512)
        kwargs.setdefault('out_type', 'featmap')
        super().__init__(out_indices=out_indices, **kwargs)

    def embed(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        return super().embed(pad_to_patch_multiple(x, self.patch_embed.patch_size))


@MODELS.register_module()
class DynamicViTSeg(SegBackboneMixin, DynamicViT):
    """:class:`DynamicViT` for mmseg: full-resolution multi-level maps, corner padding.

    Args:
        img_size (int): Defaults to 512.
        out_type (str): Defaults to ``'featmap'``.
        out_indices (Sequence[int]): Defaults to (2, 5, 8, 11).
        **kwargs: :class:`DynamicViT` arguments (``keep_ratio``, ``pruning_locs``, ``arch``...).
    """


@MODELS.register_module()
class EViTSeg(SegBackboneMixin, EViT):
    """:class:`EViT` for mmseg: full-resolution multi-level maps, corner padding.

    Args:
        img_size (int): Defaults to 512.
        out_type (str): Defaults to ``'featmap'``.
        out_indices (Sequence[int]): Defaults to (2, 5, 8, 11).
        **kwargs: :class:`EViT` arguments (``keep_rate``, ``pruning_locs``, ``fuse_token``...).
    """
