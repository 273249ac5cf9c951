"""Write the annotation file of a seeded random subset of ImageNet or ADE20K.

The subset is the one :class:`mmdbp.datasets.RandomSubsetDataset` draws with the same
``fraction``/``num_samples``, ``seed`` and ``stratify`` (both use ``select_subset``), written in the
layout the host datasets read, so a config can point ``ann_file`` at it:

* ``--layout imagenet``: reads ``<root>/meta/<split>.txt`` ("<path> <label>" per line) and writes the
  kept lines to ``<root>/meta/<split>_<tag>.txt``; use it with
  ``dict(type='ImageNet', data_root=<root>, split='<split>', ann_file='meta/<split>_<tag>.txt')``.
* ``--layout ade20k``: lists ``<root>/images/<split>/*.jpg`` (sorted, as mmseg does) and writes the
  kept image names without suffix to ``<root>/subsets/<split>_<tag>.txt``; use it with
  ``dict(type='ADE20KDataset', data_root=<root>, ann_file='subsets/<split>_<tag>.txt',
  data_prefix=dict(img_path='images/<split>', seg_map_path='annotations/<split>'))``.

``<tag>`` is e.g. ``10pct-seed0`` or ``500-seed0`` (``-strat`` when stratified).

Examples::

    python tools/make_subset.py --layout imagenet --data-root data/imagenet --split train \\
        --fraction 0.1 --seed 0 --stratify
    python tools/make_subset.py --layout ade20k --data-root data/ade/ADEChallengeData2016 \\
        --split training --fraction 0.1 --seed 0
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout, too

from mmdbp.datasets.random_subset import select_subset  # noqa: E402
from mmdbp.utils.tool_args import require_dir  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Write a random-subset annotation file')
    parser.add_argument('--layout', choices=['imagenet', 'ade20k'], required=True)
    parser.add_argument('--data-root', required=True, help='e.g. data/imagenet or data/ade/ADEChallengeData2016')
    parser.add_argument('--split', required=True, help="imagenet: 'train'/'val'; ade20k: 'training'/'validation'")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--fraction', type=float, help='fraction of the samples to keep, in (0, 1]')
    group.add_argument('--num-samples', type=int, help='number of samples to keep')
    parser.add_argument('--seed', type=int, default=0, help='seed of the draw')
    parser.add_argument('--stratify', action='store_true', help='keep every class\'s share (imagenet only)')
    parser.add_argument('--img-suffix', default='.jpg', help='ade20k image suffix')
    parser.add_argument('--out', help='output file (default: see above)')
    return parser.parse_args(argv)


def _tag(args) -> str:
    size = f'{args.fraction * 100:g}pct' if args.fraction is not None else str(args.num_samples)
    return f'{size}-seed{args.seed}' + ('-strat' if args.stratify else '')


def imagenet_subset(args):
    ann = osp.join(args.data_root, 'meta', f'{args.split}.txt')
    if not osp.isfile(ann):
        raise SystemExit(f"'{ann}' not found: the ImageNet layout needs meta/{args.split}.txt "
                         '("<path> <label>" per line), see README.md "Data preparation".')
    with open(ann) as f:
        lines = [line.rstrip('\n') for line in f if line.strip()]
    labels = None
    if args.stratify:
        labels = []
        for number, line in enumerate(lines, 1):
            label = line.rsplit(' ', 1)[-1] if ' ' in line else ''
            if not label.lstrip('-').isdigit():
                raise SystemExit(f"make_subset: --stratify needs '<path> <label>' lines, but line {number} "
                                 f"of '{ann}' is {line!r}; drop --stratify for an unlabelled list.")
            labels.append(int(label))
    keep = select_subset(len(lines), args.fraction, args.num_samples, args.seed, labels)
    out = args.out or osp.join(args.data_root, 'meta', f'{args.split}_{_tag(args)}.txt')
    return out, [lines[i] for i in keep], len(lines)


def ade20k_subset(args):
    if args.stratify:
        raise SystemExit('--stratify needs one class label per sample; ADE20K images have many.')
    img_dir = osp.join(args.data_root, 'images', args.split)
    if not osp.isdir(img_dir):
        raise SystemExit(f"'{img_dir}' not found: the ADE20K layout is <root>/images/{{training,validation}}, "
                         'see README.md "Data preparation".')
    names = []
    for root, _, files in os.walk(img_dir):
        for name in files:
            if name.endswith(args.img_suffix):
                names.append(osp.relpath(osp.join(root, name), img_dir)[:-len(args.img_suffix)])
    names.sort()
    keep = select_subset(len(names), args.fraction, args.num_samples, args.seed)
    out = args.out or osp.join(args.data_root, 'subsets', f'{args.split}_{_tag(args)}.txt')
    return out, [names[i] for i in keep], len(names)


def main(argv=None):
    args = parse_args(argv)
    require_dir(args.data_root, '--data-root', 'pass the root of the data set (README, "Data '
                'preparation"; `python tools/make_demo_data.py` writes the demo sets)')
    try:
        out, lines, total = (imagenet_subset if args.layout == 'imagenet' else ade20k_subset)(args)
    except ValueError as e:  # bad fraction / num_samples
        raise SystemExit(f'make_subset: {e}')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'[make_subset] {len(lines)} of {total} samples ({args.layout}, {args.split}, seed {args.seed}) '
          f'-> {out}')
    return out


if __name__ == '__main__':
    main()
