"""MIRL's segmented ViT encoder.

`Masked Image Residual Learning for Scaling Deeper Vision Transformers
<https://arxiv.org/abs/2309.14136>`_ (Huang, Fu, Bors, NeurIPS 2023) cuts the blocks of a deep
ViT into ``S`` segments ``Phi_1 .. Phi_S``. Every segment output goes (through its own
LayerNorm) to a light decoder; the shallow segments learn the masked image's main component and
the deep ones its residual (:class:`~mmdbp.models.heads.MIRLPretrainHead`).

The weights are those of :class:`~mmdbp.models.backbones.FastVisionTransformer` plus ``S - 1``
segment LayerNorms and the ``low_feat`` LayerNorm, which fine-tuning drops
(``tools/model_converters/mirl_to_vit.py``).
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from mmdbp.registry import MODELS
from .vit import FastMAEViT


class MIRLEncoderOutput(NamedTuple):
    """What :class:`MIRLViT` hands to the decoders (K visible patches, C encoder width).

    Attributes:
        low_feat: LayerNorm of the embedded visible tokens before any block, (B, 1 + K, C).
        segment_feats: one (B, 1 + K, C) tensor per segment, shallow to deep, each after its
            segment's LayerNorm (the last one is the encoder's final ``norm``).
        mask: (B, L), 1 for removed patches, 0 for visible ones (original patch order).
        ids_restore: (B, L), the permutation that puts ``[visible, removed]`` back in order.
    """
    low_feat: torch.Tensor
    segment_feats: Tuple[torch.Tensor, ...]
    mask: torch.Tensor
    ids_restore: torch.Tensor


def equal_segment_ends(num_layers: int, num_segments: int) -> List[int]:
    """0-based index of the last block of each of ``num_segments`` equal segments.

    ``equal_segment_ends(54, 6) == [8, 17, 26, 35, 44, 53]`` (the official ViT-S-54 split).
    """
    if num_segments < 1 or num_layers % num_segments:
        raise ValueError(
            f'MIRLViT: {num_layers} blocks cannot be cut into {num_segments} equal segments; '
            f'choose num_segments dividing {num_layers} or pass segment_ends explicitly.')
    size = num_layers // num_segments
    return [size * (i + 1) - 1 for i in range(num_segments)]


def check_segment_ends(segment_ends: Sequence[int], num_layers: int) -> List[int]:
    """Validate user segment ends; the final block always closes the last segment.

    Returns the ends with ``num_layers - 1`` appended when it was left out.
    """
    ends = [int(e) for e in segment_ends]
    bad = [e for e in ends if not 0 <= e < num_layers]
    if bad:
        raise ValueError(
            f'MIRLViT: segment_ends {bad} are out of range for {num_layers} blocks; every end is '
            f'the 0-based index of a segment\'s last block, in [0, {num_layers - 1}].')
    if any(b <= a for a, b in zip(ends, ends[1:])):
        raise ValueError(
            f'MIRLViT: segment_ends {ends} must be strictly increasing (each segment ends after '
            f'the previous one); sort them and remove duplicates.')
    if not ends or ends[-1] != num_layers - 1:
        ends.append(num_layers - 1)
    return ends


@MODELS.register_module()
class MIRLViT(FastMAEViT):
    """ViT encoder for MIRL pre-training: MAE masking plus per-segment outputs.

    Segment ``s`` is blocks ``ends[s-1] + 1 .. ends[s]``; its output ``h_s`` gets its own
    LayerNorm (the last segment's is the encoder's final ``norm``, so a fine-tuned encoder keeps
    MAE's weights layout). ``low_feat = LN_low(E x + pos)`` are the embedded visible tokens (and
    cls token) before any block: every decoder also attends to them.

    Args:
        arch (str | dict): ViT arch (``'small-54'``, ``'base-48'``, ``'base-24'``, ``'small'``,
            ...) or arch dict, as :class:`FastVisionTransformer`. Defaults to ``'small-54'``.
        num_segments (int): Number of equal segments, used when ``segment_ends`` is None. It
            must be even (the residual loss pairs segments outside-in). Defaults to 6.
        segment_ends (Sequence[int], optional): 0-based index of the last block of each segment,
            strictly increasing, e.g. ``[8, 17, 26, 35, 44]`` for ViT-S-54 (the final block
            always ends the last segment and may be left out). Overrides ``num_segments``.
        mask_ratio (float): Fraction of removed patches. Defaults to 0.75.
        sincos_order (str): Channel order of the fixed sin-cos position table. Defaults to
            ``'mae'``, the official MIRL table (``get_2d_sincos_pos_embed``: column code first).
        **kwargs: Other :class:`FastVisionTransformer` arguments (``img_size``, ``patch_size``,
            ``drop_path_rate``, ``norm_eps``, ...).

    ``forward(x)`` returns a :class:`MIRLEncoderOutput`; ``forward(x, mask=None)`` is the plain
    encoder on all patches (as :class:`FastVisionTransformer`).
    """

    def __init__(self,
                 arch: Union[str, dict] = 'small-54',
                 num_segments: int = 6,
                 segment_ends: Optional[Sequence[int]] = None,
                 mask_ratio: float = 0.75,
                 sincos_order: str = 'mae',
                 **kwargs) -> None:
        if not kwargs.get('final_norm', True):
            raise ValueError('MIRLViT needs final_norm=True: the final norm is the last '
                             "segment's LayerNorm.")
        if not kwargs.get('with_cls_token', True):
            # The decoders put mask tokens behind one leading extra token and drop it from the
            # prediction (as the official code): without a cls token the first visible patch
            # would be taken for it and every prediction misplaced, silently.
            raise ValueError('MIRLViT needs with_cls_token=True: the MIRL decoders carry the '
                             'cls token in front of the patches; remove with_cls_token=False.')
        super().__init__(arch=arch, mask_ratio=mask_ratio, sincos_order=sincos_order, **kwargs)
        if segment_ends is None:
            ends = equal_segment_ends(self.num_layers, num_segments)
        else:
            ends = check_segment_ends(segment_ends, self.num_layers)
        if len(ends) % 2:
            raise ValueError(
                f'MIRLViT: {len(ends)} segments (ends {ends}) cannot be paired outside-in by the '
                f'residual loss; use an even number of segments (e.g. num_segments=6).')
        self.segment_ends = tuple(ends)
        self.num_segments = len(ends)
        eps = self.norm.eps
        self.norm_low = nn.LayerNorm(self.embed_dims, eps=eps)
        self.segment_norms = nn.ModuleList(
            [nn.LayerNorm(self.embed_dims, eps=eps) for _ in range(self.num_segments - 1)])

    def forward(self, x: torch.Tensor, mask: Optional[bool] = True):
        if not mask:
            return super().forward(x, mask=None)
        x, mask, ids_restore = self.embed_visible(x)  # B, 1 + K, C
        x = self.drop_after_pos(x)
        low_feat = self.norm_low(x)

        norms = [*self.segment_norms, self.norm]
        feats, segment = [], 0
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == self.segment_ends[segment]:
                feats.append(norms[segment](x))
                segment += 1
        return MIRLEncoderOutput(low_feat, tuple(feats), mask, ids_restore)
