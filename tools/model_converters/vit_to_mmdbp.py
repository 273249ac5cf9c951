"""Convert a ViT / DeiT classifier checkpoint to an mmdbp classifier checkpoint.

Sources: the official DeiT / timm checkpoints (``{'model': {...}}``, ``blocks.i.*``,
``patch_embed.proj``, ``head``), mmpretrain classifiers (``backbone.layers.i.*``,
``head.layers.head``) and MAE pre-training checkpoints (``backbone.*``), and mmseg ViT
backbones. The output ``{'state_dict': ..., 'meta': ...}`` has ``backbone.*`` in
:class:`~mmdbp.models.backbones.FastVisionTransformer`'s names (which ``MaskedFinetuneViT``,
``DynamicViT`` and ``EViT`` share) and, when the source has a classifier, ``head.*`` in the
layout of ``--head`` (mmpretrain's ``VisionTransformerClsHead`` or ``LinearClsHead``). Use it as ``load_from``
or ``init_cfg=dict(type='Pretrained', checkpoint=OUT)`` of the classifier, or with
``prefix='backbone.'`` for the backbone alone.

mmpretrain and mmseg checkpoints also load without conversion (``FastVisionTransformer`` renames
their keys when loading); this tool is needed for the official DeiT / timm files.

Example::

    python tools/model_converters/vit_to_mmdbp.py deit_small_patch16_224-cd65a155.pth \\
        checkpoints/deit-small_mmdbp.pth
"""
import argparse
import os
import os.path as osp
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmdbp.models.utils.ckpt_convert import convert_vit_to_mmdbp  # noqa: E402

HEAD_NAMES = {'VisionTransformerClsHead': 'head.layers.head.', 'LinearClsHead': 'head.fc.'}
_DROP = ('dist_token', 'head_dist.', 'pre_logits.')  # distilled DeiT extras (unsupported)


def convert_checkpoint(ckpt: dict, head: str = 'VisionTransformerClsHead') -> dict:
    """Return the converted state dict (``backbone.*`` and ``head.*`` keys)."""
    state = ckpt
    for key in ('state_dict', 'model', 'module'):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v)
                        for k, v in state.items())
    if any(k.startswith('backbone.') for k in state):  # mmpretrain / mmdbp classifier or MAE
        backbone = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
        heads = {k: v for k, v in state.items() if k.startswith('head.')}
    else:  # timm / official DeiT / a bare backbone
        backbone = {k: v for k, v in state.items()
                    if not k.startswith(('head.', 'head_dist.')) and not k.startswith(_DROP)}
        heads = {HEAD_NAMES[head] + k[len('head.'):]: v for k, v in state.items()
                 if k.startswith('head.')}
    if not backbone:
        raise ValueError('No ViT backbone weights found in the checkpoint.')
    out = OrderedDict(('backbone.' + k, v) for k, v in convert_vit_to_mmdbp(backbone).items())
    out.update(heads)
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Convert a ViT / DeiT checkpoint to mmdbp')
    parser.add_argument('src', help='source checkpoint (timm / DeiT / mmpretrain / mmseg)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--head', choices=sorted(HEAD_NAMES), default='VisionTransformerClsHead',
                        help='mmpretrain head whose names a timm / DeiT "head" gets')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    ckpt = torch.load(args.src, map_location='cpu', weights_only=False)
    state = convert_checkpoint(ckpt, args.head)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save({'state_dict': state, 'meta': dict(source=osp.abspath(args.src))}, args.dst)
    print(f'Saved {len(state)} tensors to {args.dst}')


if __name__ == '__main__':
    main()
