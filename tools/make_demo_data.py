"""Generate mmdbp's embedded demo data sets (no download needed).

Writes, deterministically from ``--seed``:

* ``<out>/demo_in1k``: ImageNet-format classification set (``train/``, ``val/`` class folders,
  ``meta/train.txt``, ``meta/val.txt``, ``meta/classes.txt``), read by mmpretrain's ``ImageNet``;
* ``<out>/demo_ade20k``: ADE20K-format segmentation set (``images/{training,validation}/*.jpg``,
  ``annotations/{training,validation}/*.png``, raw labels 0..150, 0 = ignore), read by mmseg's
  ``ADE20KDataset`` with ``reduce_zero_label=True``.

Example::

    python tools/make_demo_data.py                      # data/demo_in1k + data/demo_ade20k
    python tools/make_demo_data.py --cls-train-per-class 100 --seg-train 500 --out data
"""
import argparse
import importlib.util
import os.path as osp
import shutil
import time


def _load_generator():
    """mmdbp.datasets.demo_data needs only numpy and PIL: in a checkout, load the file alone
    (importing the mmdbp package would import torch and the OpenMMLab stack, seconds for nothing)."""
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'mmdbp', 'datasets', 'demo_data.py')
    if osp.isfile(path):
        spec = importlib.util.spec_from_file_location('mmdbp_demo_data', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    from mmdbp.datasets import demo_data  # installed package (e.g. tools/ under mmdbp/.mim)
    return demo_data


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Generate the mmdbp demo data sets')
    parser.add_argument('--out', default='data', help='parent folder of demo_in1k/ and demo_ade20k/')
    parser.add_argument('--seed', type=int, default=0, help='seed of every random draw')
    parser.add_argument('--only', choices=['cls', 'seg'], help='write only one of the two sets')
    parser.add_argument('--img-size', type=int, default=64, help='side of the square images (px)')
    parser.add_argument('--num-classes', type=int, default=10, help='classification classes (2..10)')
    parser.add_argument('--cls-train-per-class', type=int, default=20, help='training images per class')
    parser.add_argument('--cls-val-per-class', type=int, default=5, help='validation images per class')
    parser.add_argument('--seg-train', type=int, default=100, help='segmentation training scenes')
    parser.add_argument('--seg-val', type=int, default=20, help='segmentation validation scenes')
    parser.add_argument('--force', action='store_true', help='delete existing demo folders first')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    gen = _load_generator()
    make_demo_in1k, make_demo_ade20k = gen.make_demo_in1k, gen.make_demo_ade20k
    jobs = []
    if args.only in (None, 'cls'):
        jobs.append(('demo_in1k', lambda root: make_demo_in1k(
            root, args.num_classes, args.cls_train_per_class, args.cls_val_per_class, args.img_size, args.seed)))
    if args.only in (None, 'seg'):
        jobs.append(('demo_ade20k', lambda root: make_demo_ade20k(
            root, args.seg_train, args.seg_val, args.img_size, args.seed)))
    for name, make in jobs:
        root = osp.join(args.out, name)
        if args.force and osp.isdir(root):
            shutil.rmtree(root)
        start = time.time()
        counts = make(root)
        print(f'[make_demo_data] {root}: {counts["train"]} train / {counts["val"]} val images '
              f'({args.img_size}x{args.img_size}, seed {args.seed}) in {time.time() - start:.1f}s')


if __name__ == '__main__':
    main()
