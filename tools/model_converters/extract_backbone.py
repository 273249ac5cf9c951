"""Turn an mmdbp pre-training checkpoint into a ViT backbone checkpoint for mmseg or mmpretrain.

Keeps the ``backbone.`` weights of the training checkpoint (drops the decoder, head and
optimizer state), renames them from
mmdbp's timm-style ViT names to the target library's ``VisionTransformer`` names
(:mod:`mmdbp.models.utils.ckpt_convert`), and saves ``{'state_dict': ..., 'meta': ...}``.

Use the output as ``init_cfg=dict(type='Pretrained', checkpoint=OUT)`` of mmseg's / mmpretrain's
``VisionTransformer`` (``--target mmdbp`` keeps mmdbp's names for ``FastVisionTransformer``).

Example::

    # after python tools/train.py configs/demo/mae_vit-micro-p4_1xb32-300i_demo-in1k.py
    python tools/model_converters/extract_backbone.py \\
        work_dirs/mae_vit-micro-p4_1xb32-300i_demo-in1k/iter_300.pth \\
        work_dirs/mae_vit-micro-p4_1xb32-300i_demo-in1k/vit_mmseg.pth --target mmseg
"""
import argparse
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmdbp.models.utils.ckpt_convert import convert_vit, extract_backbone  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Extract and rename the ViT backbone of a checkpoint')
    parser.add_argument('src', help='training checkpoint (mmengine .pth with state_dict)')
    parser.add_argument('dst', help='output backbone checkpoint')
    parser.add_argument('--target', choices=['mmseg', 'mmpretrain', 'mmdbp'], default='mmseg',
                        help='whose ViT parameter names to write')
    parser.add_argument('--prefix', default='backbone.', help='prefix of the backbone weights')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    ckpt = torch.load(args.src, map_location='cpu', weights_only=False)
    state = ckpt.get('state_dict', ckpt)
    backbone = extract_backbone(state, args.prefix)
    if not backbone:
        raise SystemExit(f"'{args.src}' has no weights under '{args.prefix}'; is it a training "
                         'checkpoint? (see --prefix)')
    if args.target != 'mmdbp':
        backbone = convert_vit(backbone, target=args.target)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    meta = dict(source=osp.abspath(args.src), target=args.target)
    if isinstance(ckpt.get('meta'), dict):
        meta.update({k: ckpt['meta'][k] for k in ('iter', 'epoch') if k in ckpt['meta']})
    torch.save(dict(state_dict=backbone, meta=meta), args.dst)
    print(f'[extract_backbone] {len(backbone)} tensors ({args.target} names) -> {args.dst}')


if __name__ == '__main__':
    main()
