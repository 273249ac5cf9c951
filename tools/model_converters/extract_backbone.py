"""Turn an mmdbp pre-training checkpoint into a ViT backbone checkpoint for mmseg or mmpretrain.

Keeps the ``backbone.`` weights of the training checkpoint (drops the decoder, head and
optimizer state), renames them from
mmdbp's timm-style ViT names to the target library's ``VisionTransformer`` names
(:mod:`mmdbp.models.utils.ckpt_convert`), and saves ``{'state_dict': ..., 'meta': ...}``.

Every tensor of the source is converted or left out for a reason the tool prints (decoder,
head, ...); a key in no layout it knows (mmdbp's, mmpretrain's ``VisionTransformer`` /
``MAEViT``, e.g. a checkpoint of ``mim train mmpretrain`` with mmpretrain's own MAE, mmseg's, timm /
official DeiT and MAE releases) is an error naming it, and nothing is written. The source is
loaded with ``torch.load(weights_only=True)``; ``--trust-pickle`` (or ``MMDBP_TRUST_PICKLE=1``)
loads a trusted legacy file that pickles other objects.

Use the output as ``init_cfg=dict(type='Pretrained', checkpoint=OUT)`` of mmseg's / mmpretrain's
``VisionTransformer`` (``--target mmdbp`` keeps mmdbp's names for ``FastVisionTransformer``).

Example::

    # after python tools/train.py configs/demo/mae_vit-micro-p4_1xb32-300i_demo-in1k.py
    python tools/model_converters/extract_backbone.py \\
        work_dirs/mae_vit-micro-p4_1xb32-300i_demo-in1k/iter_300.pth \\
        work_dirs/mae_vit-micro-p4_1xb32-300i_demo-in1k/vit_mmseg.pth --target mmseg
"""
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmdbp.engine.checkpoint_compat import load_checkpoint_file  # noqa: E402
from mmdbp.models.utils.convert_report import (ConversionReport,  # noqa: E402
                                               UnconvertedKeysError, checkpoint_state_dict,
                                               convert_vit_encoder)
from mmdbp.utils.tool_args import converter_parser, write_checkpoint  # noqa: E402


def parse_args(argv=None):
    parser = converter_parser(
        'Extract and rename the ViT backbone of a checkpoint',
        'training checkpoint (mmengine .pth with state_dict)',
        'output backbone checkpoint')
    parser.add_argument('--target', choices=['mmseg', 'mmpretrain', 'mmdbp'], default='mmseg',
                        help='whose ViT parameter names to write')
    parser.add_argument('--prefix', default='backbone.', help='prefix of the backbone weights')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    ckpt = load_checkpoint_file(args.src, args.trust_pickle)
    report = ConversionReport('extract_backbone', checkpoint_state_dict(ckpt))
    try:
        backbone = convert_vit_encoder(report, args.target, args.prefix)
        summary = report.summary(backbone, args.dst)
    except UnconvertedKeysError as err:
        raise SystemExit(f'[extract_backbone] {args.src}: {err}') from None
    meta = dict(source=osp.abspath(args.src), target=args.target)
    if isinstance(ckpt.get('meta'), dict):
        meta.update({k: ckpt['meta'][k] for k in ('iter', 'epoch') if k in ckpt['meta']})
    write_checkpoint(dict(state_dict=backbone, meta=meta), args.dst)
    print(summary)


if __name__ == '__main__':
    main()
