"""Official MIRL checkpoints (PaddlePaddle, russellllaputa/MIRL) -> mmdbp's MIRL layout.

The official ``models_mirl.MIRLViT`` names its modules with numbered attributes; mmdbp's
:class:`~mmdbp.models.backbones.MIRLViT` (``backbone``) and
:class:`~mmdbp.models.necks.MIRLMultiDecoder` (``neck``) hold the same weights in lists:

==================================  ================================================
official (Paddle)                   mmdbp
==================================  ================================================
cls_token, pos_embed                backbone.cls_token, backbone.pos_embed
patch_embed.proj                    backbone.patch_embed.projection
blocks.i.(norm1|attn|norm2|mlp)     backbone.blocks.i.(same names)
norm_low                            backbone.norm_low
norm0 .. norm{S-2}                  backbone.segment_norms.0 .. S-2
norm                                backbone.norm (the last segment's norm)
decoder_embed0_1                    neck.low_embed (projects low_feat)
decoder_embed{s}, mask_token{s}     neck.decoders.s.embed, neck.decoders.s.mask_token
decoder_pos_embed{s}                neck.decoders.s.pos_embed (the stored table is kept)
decoder_blocks{s}.j.norm1 / attn    neck.decoders.s.blocks.j.norm1 / attn
decoder_blocks{s}.j.norm2 / norm3   neck.decoders.s.blocks.j.norm_q / norm_context
decoder_blocks{s}.j.cross_attn      neck.decoders.s.blocks.j.cross_attn (q, kv, proj)
decoder_blocks{s}.j.norm4 / mlp     neck.decoders.s.blocks.j.norm2 / mlp
decoder_norm{s}                     neck.decoders.s.norm
decoder_pred{s}.weight_v / bias     neck.decoders.s.pred.weight / bias
==================================  ================================================

Paddle ``Linear`` weights are ``(in, out)`` and are transposed; every other tensor (conv
``(out, in, k, k)``, LayerNorm, tokens, tables) has torch's layout already. The weight-normalised
pixel heads store ``weight_g`` (shape ``(in,)``, Paddle's ``weight_norm(dim=0)`` on the
``(in, out)`` weight) and ``weight_v``; the official code fixes ``g = 1``, which is what mmdbp's
:class:`~mmdbp.models.utils.WeightNormLinear` (``norm_dim=0``) computes, so ``g`` is checked
and dropped. A fine-tuning checkpoint of the official ``models_vit`` (encoder + ``head`` /
``fc_norm``) converts with the same rules (``head`` -> ``head.fc`` for mmpretrain's
``LinearClsHead``).

The position tables are copied, not rebuilt: the official ``get_2d_sincos_pos_embed`` puts the
column code first (mmdbp's ``sincos_order='mae'``), and a copied table computes the official
function whatever order mmdbp would build.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Tuple

import numpy as np
import torch

from .paddle_io import paddle_linear_to_torch

__all__ = ['official_mirl_key', 'convert_official_mirl']

# (pattern, replacement), applied in order: the first match wins.
_RULES: List[Tuple[str, str]] = [
    (r'^(cls_token|pos_embed)$', r'backbone.\1'),
    (r'^patch_embed\.proj\.', 'backbone.patch_embed.projection.'),
    (r'^blocks\.(\d+)\.', r'backbone.blocks.\1.'),
    (r'^norm_low\.', 'backbone.norm_low.'),
    (r'^norm(\d+)\.', r'backbone.segment_norms.\1.'),
    (r'^norm\.', 'backbone.norm.'),
    (r'^fc_norm\.', 'backbone.norm_avg.'),  # fine-tuned models_vit with global pooling
    (r'^head\.', 'head.fc.'),  # fine-tuned models_vit classifier -> mmpretrain LinearClsHead
    (r'^decoder_embed0_1\.', 'neck.low_embed.'),
    (r'^decoder_embed(\d+)\.', r'neck.decoders.\1.embed.'),
    (r'^mask_token(\d+)$', r'neck.decoders.\1.mask_token'),
    (r'^decoder_pos_embed(\d+)$', r'neck.decoders.\1.pos_embed'),
    (r'^decoder_blocks(\d+)\.(\d+)\.norm2\.', r'neck.decoders.\1.blocks.\2.norm_q.'),
    (r'^decoder_blocks(\d+)\.(\d+)\.norm3\.', r'neck.decoders.\1.blocks.\2.norm_context.'),
    (r'^decoder_blocks(\d+)\.(\d+)\.norm4\.', r'neck.decoders.\1.blocks.\2.norm2.'),
    (r'^decoder_blocks(\d+)\.(\d+)\.', r'neck.decoders.\1.blocks.\2.'),
    (r'^decoder_norm(\d+)\.', r'neck.decoders.\1.norm.'),
    (r'^decoder_pred(\d+)\.weight_v$', r'neck.decoders.\1.pred.weight'),
    (r'^decoder_pred(\d+)\.', r'neck.decoders.\1.pred.'),
]


def official_mirl_key(key: str) -> str:
    """mmdbp name of one official MIRL key; raises KeyError for a key no rule knows."""
    for pattern, repl in _RULES:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    raise KeyError(key)


def _is_linear_weight(key: str, value: np.ndarray) -> bool:
    """Paddle ``Linear`` weights: the 2-D ``weight`` / ``weight_v`` tensors (LayerNorm weights
    are 1-D, the patch embedding's conv 4-D, tokens and tables 3-D)."""
    return value.ndim == 2 and key.endswith(('.weight', '.weight_v'))


def convert_official_mirl(state: Mapping[str, np.ndarray], g_atol: float = 1e-6
                          ) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Convert an official MIRL (Paddle) state dict to mmdbp's MIRL model layout.

    Args:
        state: ``{official name: numpy array}``, e.g. from
            :func:`mmdbp.models.utils.paddle_io.read_pdparams`.
        g_atol (float): tolerance of the check that the heads' weight-norm gains are 1.

    Returns:
        tuple: the converted ``{mmdbp name: float tensor}`` (``backbone.*``, ``neck.*`` and, for
        a fine-tuned model, ``head.fc.*``) and ``{official key: reason}`` of the tensors left
        out (the weight-norm gains).

    Raises:
        KeyError: keys that match no rule (an unknown layout), all named.
        ValueError: a weight-norm gain that is not 1 (mmdbp's heads fix it to 1).
    """
    out: Dict[str, torch.Tensor] = OrderedDict()
    left_out: Dict[str, str] = OrderedDict()
    unknown = []
    for key, value in state.items():
        value = np.asarray(value)
        if re.match(r'^decoder_pred\d+\.weight_g$', key):
            if not np.allclose(value, 1., rtol=0., atol=g_atol):
                raise ValueError(
                    f'{key} is not 1 (max |g - 1| = {np.abs(value - 1).max():.3g}): mmdbp\'s '
                    f'weight-normalised heads fix the gain to 1, as the official code; this '
                    f'checkpoint cannot be represented exactly.')
            left_out[key] = 'weight-norm gain, fixed to 1 in WeightNormLinear'
            continue
        try:
            new = official_mirl_key(key)
        except KeyError:
            unknown.append(key)
            continue
        if _is_linear_weight(key, value):
            value = paddle_linear_to_torch(value)
        out[new] = torch.from_numpy(np.ascontiguousarray(value)).float()
    if unknown:
        raise KeyError(f'{len(unknown)} key(s) of the Paddle checkpoint match no MIRL rule: '
                       f'{unknown[:20]}{" ..." if len(unknown) > 20 else ""}. Is it an official '
                       f'MIRL (models_mirl / models_vit) checkpoint?')
    return out, left_out
