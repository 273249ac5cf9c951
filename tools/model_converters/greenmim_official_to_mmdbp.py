"""Convert an official GreenMIM pre-training checkpoint (LayneH/GreenMIM) to mmdbp's GreenMIM.

The official checkpoint (``{'model': ...}``) holds the Swin encoder (``encoder.*``) and the
MAE-style decoder. :func:`mmdbp.models.utils.greenmim_ckpt_convert.convert_official_greenmim_model`
renames the encoder to ``backbone.*`` (mmpretrain's Swin names, patch merging permuted to the
unfold order) and the decoder to ``neck.*``; the stored decoder position table is carried over,
so the result computes the official function. Load it with ``load_from=OUT`` into a GreenMIM
config (they use the official LayerNorm eps 1e-6); for fine-tuning, ``greenmim_to_swin.py``
reads the official checkpoint directly.

Example::

    python tools/model_converters/greenmim_official_to_mmdbp.py \\
        greenmim_swin_base_800ep.pth checkpoints/greenmim_swin-b_official_mmdbp.pth

The source is loaded with ``torch.load(weights_only=True)``; the ``args`` (an
``argparse.Namespace``) that a training checkpoint pickles beside ``'model'`` are allowed, any
other object is refused unless ``--trust-pickle`` (or ``MMDBP_TRUST_PICKLE=1``) is given.
"""
import argparse
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmdbp.engine.checkpoint_compat import load_checkpoint_file  # noqa: E402
from mmdbp.models.utils.convert_report import (ConversionReport,  # noqa: E402
                                               checkpoint_state_dict)
from mmdbp.models.utils.greenmim_ckpt_convert import (  # noqa: E402
    convert_official_greenmim_model)
from mmdbp.utils.tool_args import converter_parser, write_checkpoint  # noqa: E402


def convert_checkpoint(ckpt, num_stages: int = 4):
    """Return ``(converted state dict, ConversionReport)`` for a loaded official checkpoint."""
    state = checkpoint_state_dict(ckpt)
    report = ConversionReport('greenmim_official_to_mmdbp', state)
    out = convert_official_greenmim_model(state, num_stages)
    report.converted(state)
    return out, report


def parse_args(argv=None):
    parser = converter_parser(
        'Convert an official GreenMIM checkpoint to an mmdbp GreenMIM checkpoint.',
        'official checkpoint (.pth)')
    parser.add_argument('--num-stages', type=int, default=4, help='Swin stages (default 4)')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    ckpt = load_checkpoint_file(args.src, trust_pickle=args.trust_pickle)
    state_dict, report = convert_checkpoint(ckpt, args.num_stages)
    write_checkpoint(dict(state_dict=state_dict,
                          meta=dict(source=osp.basename(args.src),
                                    converted_from='official GreenMIM (LayneH/GreenMIM)')),
                     args.dst)
    print(report.summary(state_dict, args.dst))
    return state_dict


if __name__ == '__main__':
    main()
