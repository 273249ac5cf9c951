"""Convert mmdbp ViT weights to the layouts of mmpretrain's and mmseg's ``VisionTransformer``.

mmdbp's :class:`~mmdbp.models.backbones.FastVisionTransformer` uses timm-style names
(``blocks.i.norm1``, ``attn.qkv``, ``mlp.fc1``, final ``norm``). The host backbones name them

====================  ==========================  ===========================================
mmdbp                 mmpretrain ViT              mmseg ViT
====================  ==========================  ===========================================
blocks.i.norm1        layers.i.ln1                layers.i.ln1
blocks.i.attn.qkv     layers.i.attn.qkv           layers.i.attn.attn.in_proj_{weight,bias}
blocks.i.attn.proj    layers.i.attn.proj          layers.i.attn.attn.out_proj
blocks.i.norm2        layers.i.ln2                layers.i.ln2
blocks.i.mlp.fc1      layers.i.ffn.layers.0.0     layers.i.ffn.layers.0.0
blocks.i.mlp.fc2      layers.i.ffn.layers.1       layers.i.ffn.layers.1
norm                  ln1                         ln1
norm_avg              ln2 (avg_featmap)           (none)
====================  ==========================  ===========================================

``patch_embed.projection``, ``cls_token`` and ``pos_embed`` keep their names. mmseg's ViT always
holds a cls token and a cls slot in ``pos_embed`` (it drops the token after adding positions when
``with_cls_token=False``), so a backbone built with ``with_cls_token=False`` gets a zero
``cls_token`` and a zero cls row in ``pos_embed`` for that target; they do not affect its output.

Host settings needed to load the result with ``strict=True`` and get the same outputs:

- mmpretrain ``VisionTransformer``: the same arch (mmpretrain's ``'small'`` is a different net,
  768 wide and 8 deep: use ``'deit-small'`` or pass ``FastVisionTransformer.arch_settings`` as the
  arch dict), ``patch_size``, ``img_size``, ``final_norm``, ``out_type`` and ``with_cls_token``;
  mmpretrain's default LN eps is already 1e-6.
- mmseg ``VisionTransformer``: ``embed_dims``, ``num_layers``, ``num_heads``, ``mlp_ratio``,
  ``patch_bias=True`` (mmseg's default is False), ``norm_cfg=dict(type='LN', eps=1e-6)``
  (mmseg's default eps is 1e-5) and the same ``final_norm``.
"""
import re
from collections import OrderedDict
from typing import Dict, Mapping

import torch

_COMMON = [
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
    (r'^norm\.', r'ln1.'),
]
_RULES = {
    'mmpretrain': _COMMON + [
        (r'^blocks\.(\d+)\.attn\.qkv\.', r'layers.\1.attn.qkv.'),
        (r'^blocks\.(\d+)\.attn\.proj\.', r'layers.\1.attn.proj.'),
        (r'^norm_avg\.', r'ln2.'),
    ],
    'mmseg': _COMMON + [
        (r'^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$', r'layers.\1.attn.attn.in_proj_\2'),
        (r'^blocks\.(\d+)\.attn\.proj\.', r'layers.\1.attn.attn.out_proj.'),
    ],
}
_KEEP = ('patch_embed.projection.', 'cls_token', 'pos_embed')

#: Arguments of mmseg's ``VisionTransformer`` that make it the same network as mmdbp's ViT.
MMSEG_VIT_KWARGS = dict(patch_bias=True, norm_cfg=dict(type='LN', eps=1e-6), final_norm=True)


def extract_backbone(state_dict: Mapping[str, torch.Tensor],
                     prefix: str = 'backbone.') -> Dict[str, torch.Tensor]:
    """Keys under ``prefix`` with the prefix removed (everything else, e.g. decoders, dropped)."""
    return OrderedDict((k[len(prefix):], v) for k, v in state_dict.items() if k.startswith(prefix))


def convert_vit(state_dict: Mapping[str, torch.Tensor], target: str = 'mmpretrain',
                drop_unknown: bool = True) -> Dict[str, torch.Tensor]:
    """Rename a :class:`FastVisionTransformer` state dict for ``target`` (``'mmpretrain'`` or
    ``'mmseg'``). Keys without a rule (e.g. ``norm_avg`` for mmseg) are dropped when ``drop_unknown``,
    otherwise a ``KeyError`` names them."""
    if target not in _RULES:
        raise ValueError(f'target must be one of {sorted(_RULES)}, got {target!r}.')
    out, unknown = OrderedDict(), []
    for key, value in state_dict.items():
        if key.startswith(_KEEP):
            out[key] = value
            continue
        for pattern, repl in _RULES[target]:
            new, n = re.subn(pattern, repl, key)
            if n:
                out[new] = value
                break
        else:
            unknown.append(key)
    if unknown and not drop_unknown:
        raise KeyError(f'No {target} name for these ViT keys: {unknown}')
    if target == 'mmseg' and 'cls_token' not in out and 'pos_embed' in out:
        pos = out['pos_embed']  # 1, L, C without a cls slot
        out['cls_token'] = pos.new_zeros(1, 1, pos.shape[-1])
        out['pos_embed'] = torch.cat([pos.new_zeros(1, 1, pos.shape[-1]), pos], dim=1)
    return out


# The other direction: mmpretrain / mmseg / timm (official DeiT) ViT layouts -> mmdbp. No mmdbp
# key matches any of these patterns, so converting an mmdbp state dict is the identity.
_TO_MMDBP = [
    (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
    (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^layers\.(\d+)\.attn\.qkv\.', r'blocks.\1.attn.qkv.'),
    (r'^layers\.(\d+)\.attn\.proj\.', r'blocks.\1.attn.proj.'),
    (r'^layers\.(\d+)\.attn\.attn\.in_proj_(weight|bias)$', r'blocks.\1.attn.qkv.\2'),
    (r'^layers\.(\d+)\.attn\.attn\.out_proj\.', r'blocks.\1.attn.proj.'),
    (r'^ln1\.', r'norm.'),
    (r'^ln2\.', r'norm_avg.'),
    (r'^patch_embed\.proj\.', r'patch_embed.projection.'),  # timm / official DeiT
    (r'^fc_norm\.', r'norm_avg.'),  # timm global-pool norm
    # official DynamicViT (raoyongming/DynamicViT, ``models/dyvit.py``): its ``PredictorLG``
    # modules have the layout of mmdbp's ``TokenKeepPredictor`` (in_conv: LayerNorm, Linear,
    # GELU; out_conv: Linear, GELU, Linear, GELU, Linear, LogSoftmax), only the list is named
    # ``score_predictor`` instead of ``predictors``
    (r'^score_predictor\.(\d+)\.', r'predictors.\1.'),
]


def vit_key_to_mmdbp(key: str) -> str:
    """Name of one mmpretrain / mmseg / timm ViT backbone key in mmdbp's layout (unchanged when
    it has no rule, e.g. it is already an mmdbp key)."""
    for pattern, repl in _TO_MMDBP:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    return key


def convert_vit_to_mmdbp(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename a ViT backbone state dict in mmpretrain's (``VisionTransformer``, ``MAEViT``, DeiT),
    mmseg's or timm's / official DeiT's layout to :class:`FastVisionTransformer`'s (official
    DynamicViT ``score_predictor.i.*`` become :class:`DynamicViT`'s ``predictors.i.*``; official
    EViT checkpoints are timm ViTs and need no other rule). Keys without
    a rule (``cls_token``, ``pos_embed``, an already converted key, a classifier ``head``) keep
    their names."""
    return OrderedDict((vit_key_to_mmdbp(k), v) for k, v in state_dict.items())
