"""Train a model from an mmdbp (or any mmpretrain / mmseg) config.

Examples::

    python tools/train.py configs/demo/mae_vit-micro-p4_1xb32-300i_demo-in1k.py
    python tools/train.py CONFIG --work-dir work_dirs/x --resume            # resume the latest ckpt
    python tools/train.py CONFIG --resume work_dirs/x/iter_100.pth         # resume a given ckpt
    python tools/train.py CONFIG --amp --cfg-options train_cfg.max_iters=10
    bash tools/dist_train.sh CONFIG 8                                      # torchrun, 8 GPUs
    mim train mmdbp CONFIG                                                 # via openmim
"""
import argparse
import os.path as osp
import sys
from copy import deepcopy

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import print_log

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout's mmdbp first

from mmdbp.datasets.data_check import check_data_roots  # noqa: E402
from mmdbp.datasets.transforms import use_checked_loaders  # noqa: E402
from mmdbp.engine.hooks.atomic_checkpoint_hook import find_resumable_checkpoint  # noqa: E402
from mmdbp.utils import prepare_launcher  # noqa: E402
from mmdbp.utils.tool_args import (add_launcher_args, build_runner, require_checkpoint,  # noqa: E402
                                   require_config, set_local_rank, set_work_dir)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or, without a path, from the latest checkpoint '
        'in the work directory')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (needs a GPU)')
    parser.add_argument('--no-validate', action='store_true', help='skip evaluation during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual total batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--no-pin-memory', action='store_true', help='disable pin_memory in dataloaders')
    parser.add_argument('--no-persistent-workers', action='store_true',
                        help='disable persistent_workers in dataloaders')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs such as train_cfg.max_iters=10; lists as '
        'key="[a,b]" or key=a,b, nested tuples as key="[(a,b),(c,d)]" (quotes needed, no spaces)')
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    set_local_rank(args)
    return args


def merge_args(cfg: Config, args) -> Config:
    """Merge command-line arguments into the config."""
    import torch

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    set_work_dir(cfg, args.work_dir, args.config)

    if args.amp:
        if not torch.cuda.is_available():
            raise SystemExit('--amp needs a CUDA GPU (mmengine\'s AmpOptimWrapper); none was found. '
                             'Train without --amp on this machine.')
        # a wrapper of a wrapper (DBPOptimWrapper(optim_wrapper=...)) takes AMP in the inner one
        wrapper = cfg.optim_wrapper
        while isinstance(wrapper.get('optim_wrapper', None), dict):
            wrapper = wrapper.optim_wrapper
        if wrapper.get('type', 'OptimWrapper') in ('AmpOptimWrapper', 'AutocastOptimWrapper'):
            print(f'[train] mixed precision is already enabled in the config ({wrapper.type}).')
        else:
            wrapper.type = 'AmpOptimWrapper'
            wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        require_checkpoint(args.resume, '--resume: checkpoint')
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise SystemExit('--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=...)` in the config.')
        cfg.auto_scale_lr.enable = True

    # collate_fn is left to the config (mmpretrain configs name default_collate, mmseg ones rely on
    # mmengine's pseudo_collate since their images differ in size)
    defaults = ConfigDict(pin_memory=torch.cuda.is_available(), persistent_workers=True)
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(field, None) is not None:
            loader = deepcopy(defaults)
            loader.update(cfg[field])
            cfg[field] = loader

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    fix_dataloaders(cfg, args.no_pin_memory, args.no_persistent_workers)
    check_train_length(cfg)
    return cfg


def check_train_length(cfg: Config) -> None:
    """An epoch-based loop takes max_epochs, an iteration-based one max_iters: name the right key
    when the other one is set (e.g. `--cfg-options train_cfg.max_iters=2` on an epoch config)."""
    train_cfg = cfg.get('train_cfg', None)
    if not train_cfg:
        return
    loop = train_cfg.get('type', None) or (
        'EpochBasedTrainLoop' if train_cfg.get('by_epoch', False) else 'IterBasedTrainLoop')
    keys = {'EpochBasedTrainLoop': ('max_epochs', 'max_iters'),
            'IterBasedTrainLoop': ('max_iters', 'max_epochs')}.get(loop)
    if keys and keys[1] in train_cfg:
        takes, other = keys
        raise SystemExit(f'train_cfg.{other} does not apply: this config trains with {loop}, '
                         f'whose length is train_cfg.{takes} (now {train_cfg.get(takes)}). Use '
                         f'--cfg-options train_cfg.{takes}=N (val_interval and the checkpoint '
                         f'interval count in the same unit).')


def fix_dataloaders(cfg: Config, no_pin_memory: bool = False, no_persistent_workers: bool = False) -> None:
    """Apply --no-pin-memory / --no-persistent-workers; persistent workers need num_workers > 0."""
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(field, None)
        if loader is None:
            continue
        if no_pin_memory:
            loader.pin_memory = False
        if no_persistent_workers or loader.get('num_workers', 0) == 0:
            loader.persistent_workers = False


def use_atomic_checkpoints(cfg: Config) -> None:
    """Save checkpoints with mmdbp's ``AtomicCheckpointHook`` where the config names mmengine's
    ``CheckpointHook`` (same arguments and files; written through a temporary file and renamed,
    old ones deleted only after the new one is complete)."""
    hooks = cfg.get('default_hooks', None)
    checkpoint = hooks.get('checkpoint', None) if hooks else None
    if checkpoint is None:
        if hooks is None or 'checkpoint' not in hooks:  # mmengine's default hook, made atomic
            cfg.setdefault('default_hooks', ConfigDict())['checkpoint'] = ConfigDict(
                type='AtomicCheckpointHook', interval=1)
    elif isinstance(checkpoint, dict) and checkpoint.get('type', None) in (
            'CheckpointHook', 'mmengine.CheckpointHook'):
        checkpoint['type'] = 'AtomicCheckpointHook'


def drop_switched_off_hooks(cfg: Config) -> None:
    """Remove ``default_hooks`` entries set to None that mmengine does not know (it removes its
    own, e.g. ``checkpoint=None``, but asserts on others), so ``--cfg-options
    default_hooks.exact_resume=None`` switches off a hook mmdbp's runtime bases add."""
    hooks = cfg.get('default_hooks', None)
    mmengine_names = ('runtime_info', 'timer', 'sampler_seed', 'logger', 'param_scheduler',
                      'checkpoint')
    for name in [k for k, v in (hooks or {}).items() if v is None and k not in mmengine_names]:
        hooks.pop(name)


def resolve_resume(cfg: Config, resume) -> None:
    """``--resume`` without a path: resume from the newest checkpoint in the work dir that
    loads (a truncated or damaged newest one, or an empty or garbled ``last_checkpoint``, is
    skipped with a warning naming it); start from scratch when there is none."""
    if resume != 'auto':
        return
    path = find_resumable_checkpoint(cfg.work_dir)
    if path is not None:
        print_log(f'Auto resumed from the latest checkpoint {path}.', logger='current')
        cfg.load_from = path
    elif osp.isfile(osp.join(cfg.work_dir, 'last_checkpoint')):
        cfg.resume = False  # a last_checkpoint that names nothing usable: nothing to resume


def main(argv=None):
    args = parse_args(argv)
    require_config(args.config)
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)
    use_atomic_checkpoints(cfg)
    drop_switched_off_hooks(cfg)
    resolve_resume(cfg, args.resume)
    use_checked_loaders(cfg)  # host loaders -> ones whose errors name the file and index
    check_data_roots(cfg, ('train_dataloader', 'val_dataloader'))
    prepare_launcher(cfg, args.launcher)

    build_runner(cfg).train()


if __name__ == '__main__':
    main()
