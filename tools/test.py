"""Evaluate a checkpoint with the test dataloader / evaluator of a config.

Examples::

    python tools/test.py CONFIG CHECKPOINT                      # prints the metrics
    python tools/test.py CONFIG CHECKPOINT --out metrics.json   # and writes them as JSON
    python tools/test.py CONFIG CHECKPOINT --show-dir vis       # paint predictions (work_dir/<time>/vis)
    bash tools/dist_test.sh CONFIG CHECKPOINT 8                 # torchrun, 8 GPUs
    mim test mmdbp CONFIG --checkpoint CHECKPOINT               # via openmim
"""
import argparse
import json
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction
from mmengine.dist import get_rank

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout's mmdbp first

from mmdbp.datasets.data_check import check_data_roots  # noqa: E402
from mmdbp.datasets.transforms import use_checked_loaders  # noqa: E402
from mmdbp.utils import prepare_launcher  # noqa: E402
from mmdbp.utils.tool_args import (add_launcher_args, build_runner, require_checkpoint,  # noqa: E402
                                   require_config, set_local_rank, set_work_dir)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    parser.add_argument('--show-dir', help='save painted predictions to work_dir/<timestamp>/<show-dir>')
    parser.add_argument('--show', action='store_true', help='show painted predictions in a window')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds between shown images')
    parser.add_argument('--interval', type=int, default=1, help='paint every n-th image')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation (tta_model, tta_pipeline)')
    parser.add_argument('--no-pin-memory', action='store_true', help='disable pin_memory in dataloaders')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs such as test_dataloader.batch_size=1')
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    set_local_rank(args)
    return args


def enable_visualization(cfg: Config, args) -> None:
    """Turn on the (mmpretrain or mmseg) visualization hook of the config."""
    hook = cfg.default_hooks.get('visualization', None)
    if hook is None:
        raise SystemExit('--show/--show-dir need a `visualization` entry in default_hooks '
                         "(e.g. dict(type='VisualizationHook') or dict(type='SegVisualizationHook')).")
    if hook.get('type') == 'VisualizationHook':  # mmpretrain
        hook.enable = True
        hook.interval = args.interval
        if args.show_dir:
            hook.out_dir = args.show_dir
    else:  # mmseg's SegVisualizationHook and the like
        hook.draw = True
        hook.interval = args.interval
        if args.show_dir:
            cfg.visualizer.save_dir = args.show_dir
    if args.show:
        hook.show = True
        hook.wait_time = args.wait_time


def main(argv=None):
    args = parse_args(argv)
    require_config(args.config)
    require_checkpoint(args.checkpoint)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    missing = [key for key in ('test_dataloader', 'test_evaluator', 'test_cfg') if cfg.get(key, None) is None]
    if missing:
        raise SystemExit(f'{args.config} has no {", ".join(missing)}: it cannot be tested (a '
                         'pre-training config validates during training, e.g. val/val_loss in its '
                         'logs). Test the fine-tuning config that uses its checkpoint, or add '
                         'test_dataloader, test_evaluator and test_cfg.')

    set_work_dir(cfg, args.work_dir, args.config)
    cfg.load_from = args.checkpoint
    cfg.resume = False

    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise SystemExit('--tta needs `tta_model` and `tta_pipeline` in the config.')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    loader = cfg.test_dataloader
    if args.no_pin_memory or not torch.cuda.is_available():
        loader.pin_memory = False
    if loader.get('num_workers', 0) == 0:
        loader.persistent_workers = False

    use_checked_loaders(cfg, ('test_dataloader', ))  # errors that name the unreadable file
    check_data_roots(cfg, ('test_dataloader', ))
    prepare_launcher(cfg, args.launcher)
    metrics = build_runner(cfg).test()

    if args.out and get_rank() == 0:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump({k: float(v) if hasattr(v, '__float__') else v for k, v in metrics.items()}, f,
                      indent=2)
        print(f'[test] metrics written to {args.out}')


if __name__ == '__main__':
    main()
