"""Decode every image and annotation of a config's datasets and list the unreadable ones.

Run it before a long training run: a corrupt, truncated, empty or missing file would otherwise stop
training when the sampler first reaches it (or, with ``skip_bad_samples=True``, be skipped then).
Each bad file is printed with the dataloader and dataset index naming it and the reason; the exit
code is 1 if any file is bad, 2 for a missing config or data root, 0 otherwise.

Examples::

    python tools/check_data.py configs/demo/mae_vit-micro-p4_1xb32-300i_demo-in1k.py
    python tools/check_data.py CONFIG --splits train --workers 16 --out bad_files.tsv
    python tools/check_data.py CONFIG --cfg-options train_dataloader.dataset.data_root=/data/in1k
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout's mmdbp first

from mmdbp.datasets.data_check import DataRootError, check_data_roots  # noqa: E402
from mmdbp.datasets.data_scan import scan_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Decode every file of a config\'s datasets; list the unreadable ones')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--splits', nargs='+', default=['train', 'val', 'test'],
                        help='dataloaders to check: train -> train_dataloader, ... (default: all)')
    parser.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1),
                        help='decoding processes (default: min(8, CPUs))')
    parser.add_argument('--out', help='also write the bad files to this file, tab-separated: '
                        'path, dataloader, dataset index, reason')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_dataloader.dataset.data_root=DIR')
    return parser.parse_args(argv)


def _fail(message: str) -> None:
    """Exit with status 2 and the message on one line."""
    print('check_data.py: error: ' + ' '.join(line.strip() for line in message.splitlines()),
          file=sys.stderr)
    raise SystemExit(2)


def main(argv=None) -> int:
    args = parse_args(argv)
    if '::' not in args.config and not osp.isfile(args.config):
        _fail(f"config '{args.config}' does not exist: pass the path of a config file, e.g. "
              'configs/demo/mae_vit-micro-p4_1xb32-300i_demo-in1k.py.')
    if args.workers < 1:
        _fail(f'--workers must be at least 1, got {args.workers}.')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    loaders = [f'{split}_dataloader' for split in args.splits]
    missing = [key for key in loaders if not cfg.get(key, None)]
    if len(missing) == len(loaders):
        _fail(f'the config has none of {", ".join(loaders)}; choose --splits among '
              f'{[k[:-len("_dataloader")] for k in cfg if k.endswith("_dataloader") and cfg[k]]}.')
    try:
        check_data_roots(cfg, loaders)
    except DataRootError as e:
        _fail(str(e))

    try:
        num_files, bad = scan_config(cfg, args.splits, args.workers)
    except (KeyError, TypeError, ValueError) as e:  # an incomplete or unknown dataset config
        _fail(f'cannot build the datasets of {", ".join(loaders)}: {type(e).__name__}: {e}')
    print(f'\nChecked {num_files} files of {", ".join(k for k in loaders if k not in missing)}: '
          f'{len(bad)} unreadable.')
    for item in bad:
        print(f'  {item}')
    if args.out:
        with open(args.out, 'w') as f:
            for item in bad:
                for where, index in item.samples:
                    f.write(f'{item.path}\t{where}\t{index}\t{item.reason}\n')
        print(f'Bad files written to {args.out}.')
    if bad:
        print('Replace or remove them (and their lines in the annotation files) before training, '
              'or set skip_bad_samples=True on the loading transforms of the training pipeline '
              '(LoadCheckedImageFromFile / LoadCheckedAnnotations; README.md, "Bad data files").')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
