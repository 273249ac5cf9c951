"""Convert an official MIRL checkpoint (PaddlePaddle ``.pdparams`` / ``.pd``) to mmdbp.

The official release (russellllaputa/MIRL) is a Paddle pickle; it is read with pickle and numpy
only (no Paddle needed) through a restricted unpickler that builds numpy arrays and nothing else
(:mod:`mmdbp.models.utils.paddle_io`). Keys are renamed and Paddle's ``(in, out)`` Linear weights
transposed by :func:`mmdbp.models.utils.mirl_ckpt_convert.convert_official_mirl`; the stored
position tables are carried over, so the result computes the official function.

The output ``{'state_dict': ..., 'meta': ...}`` loads into mmdbp's MIRL model (``backbone``
``MIRLViT``, ``neck`` ``MIRLMultiDecoder`` with the official sizes, e.g.
``configs/mirl/mirl_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k.py``) with
``load_from=OUT``; for fine-tuning, pass it on to ``mirl_to_vit.py`` (``--num-heads 12``)::

    python tools/model_converters/mirl_official_to_mmdbp.py \\
        mirl_vit_small_depth54_300ep.pdparams checkpoints/mirl_vit-s54_official_mmdbp.pth
    python tools/model_converters/mirl_to_vit.py checkpoints/mirl_vit-s54_official_mmdbp.pth \\
        checkpoints/mirl_vit-s54_official_mmpretrain.pth --num-heads 12
"""
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmdbp.models.utils.convert_report import ConversionReport  # noqa: E402
from mmdbp.models.utils.mirl_ckpt_convert import convert_official_mirl  # noqa: E402
from mmdbp.models.utils.paddle_io import read_pdparams  # noqa: E402
from mmdbp.utils.tool_args import converter_parser, require_file, write_checkpoint  # noqa: E402


def convert_file(src: str, container: str = 'model'):
    """Read ``src`` and return ``(converted state dict, ConversionReport)``."""
    state = read_pdparams(src, container=container)
    report = ConversionReport('mirl_official_to_mmdbp',
                              {k: torch.from_numpy(v) for k, v in state.items()})
    out, left_out = convert_official_mirl(state)
    for key, reason in left_out.items():
        report.leave_out([key], reason)
    report.converted(k for k in state if k not in left_out)
    return out, report


def parse_args(argv=None):
    parser = converter_parser(
        'Convert an official MIRL Paddle checkpoint to an mmdbp MIRL checkpoint.',
        'official checkpoint (.pdparams / .pd)',
        trust_pickle=False)
    parser.add_argument('--container', default='model',
                        help="key of the state dict in a training checkpoint (default: 'model'; "
                             'a bare state dict is read as it is)')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    require_file(args.src, 'checkpoint', 'pass the path of an official MIRL .pdparams / .pd file')
    state_dict, report = convert_file(args.src, args.container)
    meta = dict(source=osp.basename(args.src), converted_from='official MIRL (PaddlePaddle)')
    write_checkpoint(dict(state_dict=state_dict, meta=meta), args.dst)
    print(report.summary(state_dict, args.dst))
    return state_dict


if __name__ == '__main__':
    main()
