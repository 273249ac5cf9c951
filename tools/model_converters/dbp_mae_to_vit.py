"""Fold a DBP-MAE checkpoint's decorrelation matrices into its weights and convert the encoder.

A checkpoint written while training with ``DBPOptimWrapper`` holds the folded weights ``W R`` in
``state_dict`` (the DBP layers fold R into their state dict, so the checkpoint already loads as
plain layers) and, for resuming, R and the unfolded W in ``optimizer['dbp']``. Checkpoints from
mmdbp before this layout (no ``optimizer['dbp']['state_dict_folded']``) hold the unfolded W in
``state_dict``. This tool

1. folds the latter, ``W <- W R`` (``mmdbp.models.utils.fold_dbp_checkpoint``), so the layers
   compute the same function as plain layers (nothing to fold for the former);
2. keeps the encoder (``backbone.``) and drops the decoder, head and optimizer state;
3. writes it in the layout of mmpretrain's ``VisionTransformer`` (``--target mmpretrain``),
   mmseg's ``VisionTransformer`` (``--target mmseg``) or mmdbp's ``FastVisionTransformer``
   (``--target mmdbp``).

Both encoder layouts are accepted: mmdbp's ``FastMAEViT`` (``blocks.i.attn.qkv``, ...) and
mmpretrain's own ``MAEViT`` (``layers.i.attn.qkv``, ...; DBP switched on in an unchanged
mmpretrain MAE config). A checkpoint without DBP state (the plain MAE baseline) is converted
without folding, so the same tool serves both arms of a comparison. It prints how many tensors it
read, wrote and left out (and which); a key in no known ViT layout is an error naming it. The
source is loaded with ``torch.load(weights_only=True)`` (``--trust-pickle`` or
``MMDBP_TRUST_PICKLE=1`` for a trusted legacy file).

``--full`` instead writes the whole folded model (decoder included) with its original keys and no
DBP state: a plain MAE checkpoint for ``tools/test.py``, ``load_from`` or continued training
without DBP.

Examples::

    # after python tools/train.py configs/dbp_mae/dbp-mae_vit-micro-p4_1xb32-300i_demo-in1k.py
    python tools/model_converters/dbp_mae_to_vit.py \\
        work_dirs/dbp-mae_vit-micro-p4_1xb32-300i_demo-in1k/iter_300.pth \\
        work_dirs/dbp-mae_vit-micro-p4_1xb32-300i_demo-in1k/vit_mmseg.pth --target mmseg
    python tools/model_converters/dbp_mae_to_vit.py \\
        work_dirs/dbp-mae_vit-micro-p4_1xb32-300i_demo-in1k/iter_300.pth \\
        work_dirs/dbp-mae_vit-micro-p4_1xb32-300i_demo-in1k/folded_full.pth --full
"""
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, Tuple

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmdbp.engine.checkpoint_compat import load_checkpoint_file  # noqa: E402
from mmdbp.models.utils.convert_report import (ConversionReport,  # noqa: E402
                                               UnconvertedKeysError, checkpoint_state_dict,
                                               convert_vit_encoder)
from mmdbp.models.utils.decorrelation import fold_dbp_checkpoint  # noqa: E402
from mmdbp.utils.tool_args import converter_parser, write_checkpoint  # noqa: E402


def convert_with_report(checkpoint: dict, target: str = 'mmseg', prefix: str = 'backbone.',
                        full: bool = False
                        ) -> Tuple[Dict[str, torch.Tensor], int, ConversionReport]:
    """The folded encoder in ``target``'s ViT layout (``full``: the whole folded model, same
    keys), the number of folded layers and the account of every tensor read
    (:class:`UnconvertedKeysError` for keys in no known layout)."""
    state, num_folded = fold_dbp_checkpoint(
        dict(checkpoint, state_dict=checkpoint_state_dict(checkpoint)))
    report = ConversionReport('dbp_mae_to_vit', state)
    if full:
        out = OrderedDict((k, state[k]) for k in report.read)
        report.converted(out)
    else:
        out = convert_vit_encoder(report, target, prefix)
    report.note(f'{num_folded} DBP layers folded (R from the optimizer state)' if num_folded
                else 'no DBP state: nothing to fold')
    return out, num_folded, report


def convert_dbp_mae(checkpoint: dict, target: str = 'mmseg',
                    prefix: str = 'backbone.') -> Tuple[Dict[str, torch.Tensor], int]:
    """Folded encoder in ``target``'s ViT layout, and the number of folded layers."""
    encoder, num_folded, _ = convert_with_report(checkpoint, target, prefix)
    return encoder, num_folded


def parse_args(argv=None):
    parser = converter_parser(
        'Fold DBP decorrelation matrices into an MAE checkpoint and convert its encoder',
        'DBP-MAE (or plain MAE) training checkpoint',
        'output checkpoint')
    parser.add_argument('--target', choices=['mmseg', 'mmpretrain', 'mmdbp'], default='mmseg',
                        help='whose ViT parameter names to write (default: mmseg)')
    parser.add_argument('--prefix', default='backbone.', help='prefix of the encoder weights')
    parser.add_argument('--full', action='store_true',
                        help='write the whole folded model (same keys, no DBP state) instead')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    checkpoint = load_checkpoint_file(args.src, args.trust_pickle)
    try:
        state, num_folded, report = convert_with_report(checkpoint, args.target, args.prefix,
                                                        args.full)
        summary = report.summary(state, args.dst)
    except UnconvertedKeysError as err:
        raise SystemExit(f'[dbp_mae_to_vit] {args.src}: {err}') from None
    meta = dict(source=osp.abspath(args.src), target='full' if args.full else args.target,
                dbp_folded_layers=num_folded)
    if isinstance(checkpoint.get('meta'), dict):
        meta.update({k: checkpoint['meta'][k] for k in ('iter', 'epoch') if k in checkpoint['meta']})
    write_checkpoint(dict(state_dict=state, meta=meta), args.dst)
    print(summary)


if __name__ == '__main__':
    main()
