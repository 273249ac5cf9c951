"""Convert a GreenMIM checkpoint to backbone weights for mmpretrain's / mmseg's SwinTransformer.

Examples::

    # mmdbp GreenMIM Swin-B (window 7) -> UPerNet Swin-B with window 12
    python tools/model_converters/greenmim_to_swin.py \\
        work_dirs/greenmim_swin-base-w7_8xb256-amp-coslr-800e_in1k/epoch_800.pth \\
        checkpoints/greenmim_swin-b_w12.pth \\
        --window-size 12

    # official LayneH/GreenMIM Swin-L (window 14) checkpoint, keep its windows
    python tools/model_converters/greenmim_to_swin.py greenmim_swin_large_win14.pth out.pth

A DBP-GreenMIM checkpoint (``DBPOptimWrapper``) is read as plain layers (``W R``: saved folded,
or folded here for checkpoints from before mmdbp saved them folded).

The output holds ``state_dict`` with ``backbone.``-prefixed keys: use it in mmpretrain with
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')`` and in mmseg with
``init_cfg=dict(type='Pretrained', checkpoint=...)``. An mmdbp checkpoint with unchanged windows
needs no conversion at all (see ``configs/greenmim/README.md``).
"""
import argparse
import os
import os.path as osp

import torch

from mmdbp.models.utils.decorrelation import fold_dbp_checkpoint
from mmdbp.models.utils.greenmim_ckpt_convert import convert_greenmim_to_swin


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='GreenMIM checkpoint (mmdbp or official)')
    parser.add_argument('dst', help='output path')
    parser.add_argument('--window-size', type=int, nargs='+', default=None,
                        help='target window (one value, or one per stage); default: keep')
    parser.add_argument('--src-format', choices=['auto', 'mmdbp', 'official'], default='auto')
    parser.add_argument('--merge-order', choices=['unfold', 'swin'], default='unfold',
                        help="GreenMIMSwin's merge_order of an mmdbp checkpoint")
    return parser.parse_args()


def main():
    args = parse_args()
    ckpt = torch.load(args.src, map_location='cpu', weights_only=False)
    state_dict = ckpt
    for key in ('state_dict', 'model'):
        if isinstance(ckpt, dict) and key in ckpt:
            state_dict = ckpt[key]
            break
    window = args.window_size
    if window is not None and len(window) == 1:
        window = window[0]
    if isinstance(ckpt, dict) and 'state_dict' in ckpt:  # mmdbp: plain layers for DBP runs
        state_dict, num_dbp = fold_dbp_checkpoint(ckpt)
        if num_dbp:
            print(f'{num_dbp} DBP layers: decorrelation matrices folded into the weights')
    weights = convert_greenmim_to_swin(state_dict, window, args.src_format, args.merge_order)
    out = {'state_dict': {f'backbone.{k}': v for k, v in weights.items()},
           'meta': {'converted_from': osp.abspath(args.src), 'window_size': window}}
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(out, args.dst)
    print(f'Saved {len(weights)} backbone tensors to {args.dst}')


if __name__ == '__main__':
    main()
