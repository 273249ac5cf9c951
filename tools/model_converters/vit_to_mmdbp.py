"""Convert a ViT / DeiT classifier checkpoint to an mmdbp classifier checkpoint.

Sources: the official DeiT / timm checkpoints (``{'model': {...}}``, ``blocks.i.*``,
``patch_embed.proj``, ``head``), the official EViT (the same layout) and DynamicViT checkpoints
(plus ``score_predictor.i.*``, which become ``DynamicViT``'s ``predictors.i.*``), mmpretrain
classifiers (``backbone.layers.i.*``,
``head.layers.head``) and MAE pre-training checkpoints (``backbone.*``), and mmseg ViT
backbones. The output ``{'state_dict': ..., 'meta': ...}`` has ``backbone.*`` in
:class:`~mmdbp.models.backbones.FastVisionTransformer`'s names (which ``MaskedFinetuneViT``,
``DynamicViT`` and ``EViT`` share) and, when the source has a classifier, ``head.*`` in the
layout of ``--head`` (mmpretrain's ``VisionTransformerClsHead`` or ``LinearClsHead``). Use it as ``load_from``
or ``init_cfg=dict(type='Pretrained', checkpoint=OUT)`` of the classifier, or with
``prefix='backbone.'`` for the backbone alone.

Every tensor read is written or left out with the reason printed (an mmseg checkpoint's
decode heads, distilled DeiT extras); a key in no known layout is an error naming it. The source
is loaded with ``torch.load(weights_only=True)`` (``--trust-pickle`` or ``MMDBP_TRUST_PICKLE=1``
for a trusted legacy file).

mmpretrain and mmseg checkpoints also load without conversion (``FastVisionTransformer`` renames
their keys when loading); this tool is needed for the official DeiT / timm files.

Example::

    python tools/model_converters/vit_to_mmdbp.py deit_small_patch16_224-cd65a155.pth \\
        checkpoints/deit-small_mmdbp.pth
"""
import os.path as osp
import sys
from collections import OrderedDict
from typing import Tuple

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmdbp.engine.checkpoint_compat import load_checkpoint_file  # noqa: E402
from mmdbp.models.utils.convert_report import (ConversionReport,  # noqa: E402
                                               UnconvertedKeysError, checkpoint_state_dict,
                                               convert_vit_encoder)
from mmdbp.utils.tool_args import converter_parser, write_checkpoint  # noqa: E402

HEAD_NAMES = {'VisionTransformerClsHead': 'head.layers.head.', 'LinearClsHead': 'head.fc.'}
_DROP = ('dist_token', 'head_dist.', 'pre_logits.')  # distilled DeiT extras (unsupported)


def convert_with_report(ckpt: dict, head: str = 'VisionTransformerClsHead'
                        ) -> Tuple['OrderedDict[str, torch.Tensor]', ConversionReport]:
    """The converted state dict (``backbone.*`` and ``head.*`` keys) and the account of every
    tensor read (:class:`UnconvertedKeysError` for keys in no known layout)."""
    state = checkpoint_state_dict(ckpt)
    while any(isinstance(state.get(k), dict) for k in ('state_dict', 'model', 'module')):
        state = checkpoint_state_dict(state)
    state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v)
                        for k, v in state.items())
    report = ConversionReport('vit_to_mmdbp', state)
    if any(k.startswith('backbone.') for k in report.read):  # mmpretrain / mmdbp classifier, MAE
        heads = OrderedDict((k, state[k]) for k in report.read if k.startswith('head.'))
    else:  # timm / official DeiT / a bare backbone
        report.leave_out([k for k in report.read if k.startswith(_DROP)],
                         'distilled DeiT extras (unsupported)')
        heads = OrderedDict((HEAD_NAMES[head] + k[len('head.'):], state[k]) for k in report.read
                            if k.startswith('head.'))
    head_src = [k for k in report.read if k.startswith('head.')]
    backbone = convert_vit_encoder(report, 'mmdbp', 'backbone.', skip=head_src)
    report.converted(head_src)
    out = OrderedDict(('backbone.' + k, v) for k, v in backbone.items())
    out.update(heads)
    return out, report


def convert_checkpoint(ckpt: dict, head: str = 'VisionTransformerClsHead') -> dict:
    """Return the converted state dict (``backbone.*`` and ``head.*`` keys)."""
    return convert_with_report(ckpt, head)[0]


def parse_args(argv=None):
    parser = converter_parser(
        'Convert a ViT / DeiT checkpoint to mmdbp',
        'source checkpoint (timm / DeiT / mmpretrain / mmseg)',
        'output checkpoint')
    parser.add_argument('--head', choices=sorted(HEAD_NAMES), default='VisionTransformerClsHead',
                        help='mmpretrain head whose names a timm / DeiT "head" gets')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    ckpt = load_checkpoint_file(args.src, args.trust_pickle)
    try:
        state, report = convert_with_report(ckpt, args.head)
        summary = report.summary(state, args.dst)
    except UnconvertedKeysError as err:
        raise SystemExit(f'[vit_to_mmdbp] {args.src}: {err}') from None
    write_checkpoint({'state_dict': state, 'meta': dict(source=osp.abspath(args.src))}, args.dst)
    print(summary)


if __name__ == '__main__':
    main()
