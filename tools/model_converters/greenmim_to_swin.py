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

Every tensor read is converted or left out (decoder, head, mask token) with the reason printed; a
key that the host Swin has no place for is an error naming it. The source is loaded with
``torch.load(weights_only=True)`` (``--trust-pickle`` or ``MMDBP_TRUST_PICKLE=1`` for a trusted
legacy file).

The output holds ``state_dict`` with ``backbone.``-prefixed keys: use it in mmpretrain with
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')`` and in mmseg with
``init_cfg=dict(type='Pretrained', checkpoint=...)``. An mmdbp checkpoint with unchanged windows
needs no conversion at all (see ``configs/greenmim/README.md``).
"""
import os.path as osp
import re

import torch

from mmdbp.engine.checkpoint_compat import load_checkpoint_file
from mmdbp.models.utils.convert_report import (ConversionReport, UnconvertedKeysError,
                                               checkpoint_state_dict)
from mmdbp.models.utils.decorrelation import fold_dbp_checkpoint
from mmdbp.models.utils.greenmim_ckpt_convert import convert_greenmim_to_swin
from mmdbp.utils.tool_args import converter_parser, write_checkpoint

#: Parameter and buffer names of mmpretrain's / mmseg's ``SwinTransformer``: every converted key
#: must be one of them.
HOST_SWIN_KEY = re.compile(
    r'^(patch_embed\.(projection|norm)\.(weight|bias)'
    r'|stages\.\d+\.blocks\.\d+\.(norm1|norm2)\.(weight|bias)'
    r'|stages\.\d+\.blocks\.\d+\.attn\.w_msa\.(qkv|proj)\.(weight|bias)'
    r'|stages\.\d+\.blocks\.\d+\.attn\.w_msa\.relative_position_(bias_table|index)'
    r'|stages\.\d+\.blocks\.\d+\.ffn\.layers\.(0\.0|1)\.(weight|bias)'
    r'|stages\.\d+\.downsample\.(norm\.(weight|bias)|reduction\.weight)'
    r'|norm\d\.(weight|bias))$')


def parse_args(argv=None):
    parser = converter_parser(
        __doc__.split('\n\n')[0],
        'GreenMIM checkpoint (mmdbp or official)',
        'output path')
    parser.add_argument('--window-size', type=int, nargs='+', default=None,
                        help='target window (one value, or one per stage); default: keep')
    parser.add_argument('--src-format', choices=['auto', 'mmdbp', 'official'], default='auto')
    parser.add_argument('--merge-order', choices=['unfold', 'swin'], default='unfold',
                        help="GreenMIMSwin's merge_order of an mmdbp checkpoint")
    return parser.parse_args(argv)


def convert_with_report(ckpt, window=None, src_format: str = 'auto',
                        merge_order: str = 'unfold'):
    """Backbone weights for the host Swin and the account of every tensor read: the decoder,
    head and mask token are left out, a key that no host Swin has raises
    :class:`UnconvertedKeysError`."""
    state = checkpoint_state_dict(ckpt)
    num_dbp = 0
    if isinstance(ckpt, dict) and 'state_dict' in ckpt:  # mmdbp: plain layers for DBP runs
        state, num_dbp = fold_dbp_checkpoint(ckpt)
    report = ConversionReport('greenmim_to_swin', state)
    if src_format == 'auto':
        src_format = 'official' if any(
            k.startswith(('encoder.', 'layers.')) for k in report.read) else 'mmdbp'
    prefix = {'official': 'encoder.', 'mmdbp': 'backbone.'}.get(src_format, '')
    if any(k.startswith(prefix) for k in report.read):
        encoder = report.take_prefix(prefix, rest=f'not under {prefix!r}: decoder, head, mask '
                                     'token (pre-training only)')
        report.converted(encoder, prefix)
    else:  # a bare encoder state dict
        report.converted(report.read)
    weights = convert_greenmim_to_swin(state, window, src_format, merge_order)
    unknown = [k for k in weights if not HOST_SWIN_KEY.match(k)]
    if unknown:
        raise UnconvertedKeysError(unknown, 'converted Swin backbone', hint=(
            "They have no place in mmpretrain's / mmseg's SwinTransformer; is the source a "
            'GreenMIM Swin checkpoint (see --src-format)?'))
    if num_dbp:
        report.note(f'{num_dbp} DBP layers folded (R from the optimizer state)')
    if window is not None:
        report.note(f'relative position tables resized and indices rebuilt for window {window}')
    return weights, report


def main(argv=None):
    args = parse_args(argv)
    ckpt = load_checkpoint_file(args.src, args.trust_pickle)
    window = args.window_size
    if window is not None and len(window) == 1:
        window = window[0]
    try:
        weights, report = convert_with_report(ckpt, window, args.src_format, args.merge_order)
        summary = report.summary(weights, args.dst)
    except UnconvertedKeysError as err:
        raise SystemExit(f'[greenmim_to_swin] {args.src}: {err}') from None
    out = {'state_dict': {f'backbone.{k}': v for k, v in weights.items()},
           'meta': {'converted_from': osp.abspath(args.src), 'window_size': window}}
    write_checkpoint(out, args.dst)
    print(summary)


if __name__ == '__main__':
    main()
