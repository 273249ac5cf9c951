"""Turn a MIRL pre-training checkpoint into a plain ViT checkpoint for fine-tuning.

Drops everything but the encoder (the S decoders, the segment LayerNorms and the ``low_feat``
LayerNorm), reads a DBP run (``DBPOptimWrapper``) as plain layers (``W R``: saved folded, or
folded here for checkpoints from before mmdbp saved them folded) and renames the encoder to the
layout of mmpretrain's or mmseg's ``VisionTransformer`` (``mmdbp.models.utils.convert_vit``).
The architecture of the encoder is written into the checkpoint's ``meta['arch']`` and printed,
ready to paste as the custom ``arch`` dict of the host backbone, e.g. for ViT-S-54::

    backbone=dict(type='VisionTransformer', arch=dict(embed_dims=384, num_layers=54,
                  num_heads=12, feedforward_channels=1536), patch_size=16,
                  init_cfg=dict(type='Pretrained', checkpoint='mirl_vit-s54_mmpretrain.pth'))

For mmseg's ``VisionTransformer`` set ``patch_bias=True`` and ``norm_cfg=dict(type='LN',
eps=1e-6)`` (``mmdbp.models.utils.ckpt_convert.MMSEG_VIT_KWARGS``; mmseg's defaults differ).

Usage::

    python tools/model_converters/mirl_to_vit.py \\
        work_dirs/mirl_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k/epoch_300.pth \\
        mirl_vit-s54_mmpretrain.pth --target mmpretrain
    python tools/model_converters/mirl_to_vit.py \\
        work_dirs/mirl_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k/epoch_300.pth \\
        mirl_vit-s54_mmseg.pth --target mmseg

Every tensor read is converted or left out with the reason printed; a key in no known layout is
an error naming it. The source is loaded with ``torch.load(weights_only=True)``
(``--trust-pickle`` or ``MMDBP_TRUST_PICKLE=1`` for a trusted legacy file).

The number of heads is not visible in the weights; it is read from the config stored in the
checkpoint (mmengine saves it) or given with ``--num-heads``.
"""
import os.path as osp
from typing import Dict, Optional, Tuple

import torch
from mmengine.config import Config

from mmdbp.engine.checkpoint_compat import load_checkpoint_file
from mmdbp.models.backbones import FastVisionTransformer
from mmdbp.models.utils import convert_vit_to_mmdbp, extract_backbone
from mmdbp.models.utils.convert_report import (ConversionReport, UnconvertedKeysError,
                                               checkpoint_state_dict, convert_vit_encoder)
from mmdbp.models.utils.decorrelation import fold_dbp_checkpoint
from mmdbp.utils.tool_args import converter_parser, write_checkpoint


def encoder_arch(encoder: Dict[str, torch.Tensor], num_heads: int) -> dict:
    """mmpretrain arch dict of a FastVisionTransformer state dict."""
    blocks = {int(k.split('.')[1]) for k in encoder if k.startswith('blocks.')}
    if not blocks:
        raise KeyError('No encoder blocks ("backbone.blocks.*") in the checkpoint; is it a MIRL '
                       'pre-training checkpoint?')
    dim = encoder['patch_embed.projection.weight'].shape[0]
    if dim % num_heads:
        raise ValueError(f'num_heads={num_heads} does not divide the width {dim}; pass '
                         '--num-heads.')
    return dict(embed_dims=dim, num_layers=max(blocks) + 1, num_heads=num_heads,
                feedforward_channels=encoder['blocks.0.mlp.fc1.weight'].shape[0])


def heads_from_meta(meta: dict) -> Optional[int]:
    """Number of heads of the backbone in the config mmengine stored in ``meta['cfg']``."""
    text = meta.get('cfg') if isinstance(meta, dict) else None
    if not text:
        return None
    try:
        arch = Config.fromstring(text, '.py').model.backbone.get('arch', 'base')
        return FastVisionTransformer.parse_arch(arch)['num_heads']
    except Exception:  # a foreign or unparsable config: fall back to --num-heads
        return None


def convert_mirl_with_report(checkpoint: dict, target: str = 'mmpretrain',
                             num_heads: Optional[int] = None
                             ) -> Tuple[Dict[str, torch.Tensor], dict, int, ConversionReport]:
    """:func:`convert_mirl` and the account of every tensor read (decoders and MIRL-only norms
    left out; :class:`UnconvertedKeysError` for keys in no known layout)."""
    state, num_dbp = fold_dbp_checkpoint(
        dict(checkpoint, state_dict=checkpoint_state_dict(checkpoint)))
    heads = num_heads or heads_from_meta(checkpoint.get('meta', {}))
    if heads is None:
        raise ValueError('The checkpoint holds no readable config: pass --num-heads '
                         '(12 for ViT-S-54 / ViT-B-48).')
    arch = encoder_arch(convert_vit_to_mmdbp(extract_backbone(state, 'backbone.')), heads)
    report = ConversionReport('mirl_to_vit', state)
    out = convert_vit_encoder(report, target, 'backbone.')
    if num_dbp:
        report.note(f'{num_dbp} DBP layers folded (R from the optimizer state)')
    return out, arch, num_dbp, report


def convert_mirl(checkpoint: dict, target: str = 'mmpretrain',
                 num_heads: Optional[int] = None) -> Tuple[Dict[str, torch.Tensor], dict, int]:
    """Returns the converted (DBP-folded) encoder state dict, its arch dict and the number of
    DBP layers."""
    return convert_mirl_with_report(checkpoint, target, num_heads)[:3]


def parse_args(argv=None):
    parser = converter_parser(
        'Drop MIRL decoders and write an mmpretrain / mmseg ViT checkpoint.',
        'MIRL pre-training checkpoint (.pth)')
    parser.add_argument('--target', choices=['mmpretrain', 'mmseg'], default='mmpretrain',
                        help='layout of the output (default: mmpretrain)')
    parser.add_argument('--num-heads', type=int, default=None,
                        help='attention heads, if the checkpoint has no stored config')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    checkpoint = load_checkpoint_file(args.src, args.trust_pickle)
    try:
        state_dict, arch, folded, report = convert_mirl_with_report(checkpoint, args.target,
                                                                    args.num_heads)
        summary = report.summary(state_dict, args.dst)
    except UnconvertedKeysError as err:
        raise SystemExit(f'[mirl_to_vit] {args.src}: {err}') from None
    meta = dict(arch=arch, target=args.target, source=osp.basename(args.src),
                patch_size=state_dict['patch_embed.projection.weight'].shape[-1],
                dbp_folded_layers=folded)
    write_checkpoint(dict(state_dict=state_dict, meta=meta), args.dst)
    print(f'{summary}\n  {args.target} VisionTransformer arch={arch}, '
          f'patch_size={meta["patch_size"]}')
    return arch


if __name__ == '__main__':
    main()
