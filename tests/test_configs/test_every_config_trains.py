"""Every shipped config trains: its own train dataloader (dataset, pipeline, sampler,
``collate_fn``) built by mmengine's ``Runner`` over generated data in its dataset's layout, one
batch, one ``train_step`` of the model and optim wrapper the config builds, and its validation /
test loop (where it has one) over the generated validation split (1-2 batches).

Configs are found by glob (``config_helpers.config_paths``), so a new config is covered without
editing this file. A ``Runner`` is built from each config (model, hooks, loops as in training;
the model's ``init_cfg`` checkpoints are not loaded: weights are initialised only by
``runner.train()``, which this test does not call), with these CPU-only substitutions:

* data: the leaf dataset's ``data_root`` is the generated ImageNet- or ADE20K-format set
  (``RandomSubsetDataset`` wrappers stay), batch 2, no worker processes;
* AMP: ``AmpOptimWrapper`` (fp16 loss scaling needs a GPU) becomes the fp32 ``OptimWrapper`` with
  the same optimizer, clipping and accumulation, also inside ``DBPOptimWrapper``;
* ``compile=True`` is not applied (the runner compiles only in ``train()``);
* the model shrinks only where its full size cannot run in the suite's time or memory, by the
  overrides in :data:`OVERRIDES` (each row says which keys and why).
"""
import math
import re
from typing import Dict, NamedTuple, Optional

import pytest
import torch
from config_helpers import (config_id, config_paths, fp32_optim_wrapper, point_data_at, set_key,
                            shrink_inputs, small_dataloader)
from mmengine.config import Config
from mmengine.runner import Runner

BATCH = 2  # the smallest batch BatchNorm (UPerNet's pooling branches) can train on
SMALL = 64  # px: the generated images' size; 4 x 4 patches of 16 px


class Override(NamedTuple):
    """Shrink the configs whose id (path under ``configs/``) matches ``pattern``.

    ``side``: train/val/test inputs of ``side`` px (pipelines, segmentor padding and sliding
    window; ``shrink_inputs``) or None to keep the config's inputs; ``keys``: dotted config keys
    set to the given values; ``why``: the reason."""
    pattern: str
    side: Optional[int]
    keys: Dict[str, object]
    why: str


def vit(dims: int, layers: int, heads: int) -> dict:
    """An arch dict: ``dims`` wide, ``layers`` blocks, MLP ratio 4."""
    return dict(embed_dims=dims, num_layers=layers, num_heads=heads, feedforward_channels=4 * dims)


DEPTH = 4  # blocks a real-size ViT keeps: its width, heads and every in_channels stay
VIT_S, VIT_B = vit(384, DEPTH, 6), vit(768, DEPTH, 12)
SWIN_MICRO = dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8])

# why the rows below shrink (measured on 2 busy cores with 64 px inputs alone: 3-23 s per
# ViT-B / UPerNet row, ~7 min for the file)
SMALL_INPUT = '224 / 512 px inputs -> 64 px (the generated images; 16 patches of 16 px)'
DEPTH_WHY = (f'ViT with 12-54 blocks: building it and its AdamW step dominate at 64 px (~2 s '
             f'for ViT-B); {DEPTH} blocks keep the width, heads and every in_channels')
PRUNE_WHY = 'token pruning after blocks 1, 2, 3 of the 4 (3, 6, 9 of 12)'
SEG_WHY = ("UPerNet: backbone outputs of blocks 0-3 of 4; the heads' 512 / 256 channels "
           '(36M parameters, most of the build time at 64 px) -> 64 / 32')
DECODER_WHY = 'MAE decoder: 8 blocks of 512 (25M parameters) -> 2'
DBP_WHY = ("DBP's R update costs d^3 per decorrelated layer (ViT-B's fc2: 3072^3, 5+ s per "
           'step): a 192-wide ViT (fc2 input 768)')
MIRL_WHY = 'ViT-S-54 / ViT-B-48 pre-training: 6 blocks, i.e. 6 MIRL segments of 1 block'
SWIN_WHY = ('Swin-B/L at 224 px take seconds per step; the windows (7, 14) must tile the '
            '56/28/14/7 stage maps, so the input stays 224 px and the Swin shrinks to 32 '
            'channels and 2 blocks per stage')
UPERNET_HEADS = {'model.decode_head.channels': 64, 'model.auxiliary_head.channels': 32}
UPERNET_HEADS_SWIN = dict(UPERNET_HEADS, **{'model.decode_head.in_channels': [32, 64, 128, 256],
                                            'model.auxiliary_head.in_channels': 128})

CLS_VIT = r'^(masked_finetune|dynamicvit|evit)/(maskft|dynamicvit|evit)_(maskft-)?(deit|vit)-'

#: The one table of shrinks: every row whose pattern matches a config's id (path under
#: ``configs/``) applies, in order.
OVERRIDES = [
    # MAE / DBP-MAE pre-training on ViT-B/16 and ViT-L/16 (mmdbp's FastMAEViT, mmpretrain's MAEViT)
    Override(r'^(mae|dbp_mae)/(dbp-)?mae_(fast-)?vit-(base|large)-p16_', SMALL,
             {'model.backbone.img_size': SMALL, 'model.neck.num_patches': 16,
              'model.neck.decoder_depth': 2}, SMALL_INPUT + '; ' + DECODER_WHY),
    Override(r'^(mae|dbp_mae)/(dbp-)?mae_(fast-)?vit-base-p16_', None,
             {'model.backbone.arch': VIT_B}, DEPTH_WHY),
    Override(r'^mae/mae_fast-vit-large-p16_', None, {'model.backbone.arch': vit(1024, 2, 16)},
             DEPTH_WHY + ' (ViT-L: 2 blocks of 1024, 5 GB of fp32 training state in full)'),
    Override(r'^dbp_mae/dbp-mae_(fast-)?vit-base-p16_', None,
             {'model.backbone.arch': vit(192, DEPTH, 3), 'model.neck.embed_dim': 192}, DBP_WHY),
    # MIRL / MAE pre-training and fine-tuning of ViT-S-54 / ViT-B-48
    Override(r'^mirl/(mirl|mae)_vit-(small-54|base-48)-p16_', SMALL,
             {'model.backbone.img_size': SMALL, 'model.neck.num_patches': 16}, SMALL_INPUT),
    Override(r'^mirl/(mirl|mae)_vit-small-54-p16_', None,
             {'model.backbone.arch': vit(384, 6, 12)}, MIRL_WHY),
    Override(r'^mirl/(mirl|mae)_vit-base-48-p16_', None,
             {'model.backbone.arch': vit(768, 6, 12)}, MIRL_WHY),
    Override(r'^mirl/mae_vit-(small-54|base-48)-p16_', None, {'model.neck.decoder_depth': 2},
             DECODER_WHY),
    Override(r'^mirl/benchmarks/vit-small-54-p16_', SMALL,
             {'model.backbone.img_size': SMALL, 'model.backbone.arch': vit(384, DEPTH, 12)},
             SMALL_INPUT + '; ' + DEPTH_WHY),
    Override(r'^mirl/benchmarks/vit-base-48-p16_', SMALL,
             {'model.backbone.img_size': SMALL, 'model.backbone.arch': vit(768, DEPTH, 12)},
             SMALL_INPUT + '; ' + DEPTH_WHY),
    Override(r'^mirl/benchmarks/mirl-vit-(small-54|base-48)_upernet', SMALL,
             {'model.backbone.img_size': (SMALL, SMALL), 'model.backbone.num_layers': DEPTH,
              'model.backbone.out_indices': (0, 1, 2, 3), **UPERNET_HEADS},
             SMALL_INPUT + '; ' + DEPTH_WHY + '; ' + SEG_WHY),
    # DeiT-S/B, ViT-B classification: masked fine-tuning, DynamicViT (and its teacher), EViT
    Override(CLS_VIT + 'small-p16_', SMALL,
             {'model.backbone.img_size': SMALL, 'model.backbone.arch': VIT_S},
             SMALL_INPUT + '; ' + DEPTH_WHY),
    Override(CLS_VIT + 'base-p16_', SMALL,
             {'model.backbone.img_size': SMALL, 'model.backbone.arch': VIT_B},
             SMALL_INPUT + '; ' + DEPTH_WHY),
    Override(r'^dynamicvit/dynamicvit_(maskft-)?deit-small', None,
             {'model.teacher.backbone.img_size': SMALL, 'model.teacher.backbone.arch': VIT_S},
             "the dense teacher as the student's backbone"),
    Override(r'^dynamicvit/dynamicvit_(maskft-)?deit-base', None,
             {'model.teacher.backbone.img_size': SMALL, 'model.teacher.backbone.arch': VIT_B},
             "the dense teacher as the student's backbone"),
    Override(r'^(dynamicvit|evit)/(dynamicvit|evit)_(maskft-)?deit-', None,
             {'model.backbone.pruning_locs': (1, 2, 3)}, PRUNE_WHY),
    # UPerNet at 512 px on mmdbp's dense and pruning ViTs and on mmseg's ViT
    Override(r'^(masked_finetune|dynamicvit|evit)/upernet_.*deit-small.*512x512', SMALL,
             {'model.backbone.img_size': SMALL, 'model.backbone.arch': VIT_S,
              'model.backbone.out_indices': (0, 1, 2, 3), **UPERNET_HEADS},
             SMALL_INPUT + '; ' + DEPTH_WHY + '; ' + SEG_WHY),
    Override(r'^(masked_finetune|dynamicvit|evit)/upernet_.*deit-base.*512x512', SMALL,
             {'model.backbone.img_size': SMALL, 'model.backbone.arch': VIT_B,
              'model.backbone.out_indices': (0, 1, 2, 3), **UPERNET_HEADS},
             SMALL_INPUT + '; ' + DEPTH_WHY + '; ' + SEG_WHY),
    Override(r'^(dynamicvit|evit)/upernet_.*512x512', None,
             {'model.backbone.pruning_locs': (1, 2, 3)}, PRUNE_WHY),
    Override(r'^dbp_mae/.*upernet.*512x512', SMALL,
             {'model.backbone.img_size': (SMALL, SMALL), 'model.backbone.num_layers': DEPTH,
              'model.backbone.out_indices': (0, 1, 2, 3), **UPERNET_HEADS},
             SMALL_INPUT + '; ' + DEPTH_WHY + '; ' + SEG_WHY),
    # Swin: GreenMIM pre-training, its ImageNet and UPerNet benchmarks
    Override(r'^greenmim/(dbp-)?greenmim_swin-(base|large)-', None,
             {'model.backbone.arch': SWIN_MICRO, 'model.neck.embed_dims': 256}, SWIN_WHY),
    Override(r'^greenmim/benchmarks/swin-(base|large)-', None,
             {'model.backbone.arch': SWIN_MICRO, 'model.head.in_channels': 256}, SWIN_WHY),
    Override(r'^greenmim/benchmarks/upernet_swin-(base|large)-', SMALL,
             {'model.backbone.embed_dims': 32, 'model.backbone.depths': [2, 2, 2, 2],
              'model.backbone.num_heads': [1, 2, 4, 8], **UPERNET_HEADS_SWIN},
             SMALL_INPUT + '; ' + SWIN_WHY.split(';')[0] + ': 32 channels, 2 blocks per stage; '
             + SEG_WHY),
]

CONFIGS = config_paths()


def runnable_config(path: str, demo_data: dict, work_dir: str) -> Config:
    """The config with the CPU substitutions and the shrinks of :data:`OVERRIDES`."""
    cfg = Config.fromfile(path)
    name = config_id(path)
    for row in OVERRIDES:
        if re.search(row.pattern, name):
            if row.side is not None:
                shrink_inputs(cfg, row.side)
            for key, value in row.keys.items():
                set_key(cfg, key, value)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader):
            point_data_at(cfg[loader], demo_data)
            small_dataloader(cfg[loader], BATCH)
    cfg.optim_wrapper = fp32_optim_wrapper(cfg.optim_wrapper)
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    cfg.resume = False
    cfg.load_from = None
    return cfg


def assert_finite_losses(log_vars: dict, name: str) -> None:
    assert 'loss' in log_vars, f'{name}: train_step returned no loss ({sorted(log_vars)})'
    for key, value in log_vars.items():
        assert math.isfinite(float(value)), f'{name}: {key} = {value}'


def run_eval_loop(loop, name: str, stage: str) -> dict:
    """The config's val / test loop over the generated val split, with its evaluator."""
    metrics = loop.run()
    assert metrics, f'{name}: the {stage} evaluator reported nothing'
    for key, value in metrics.items():
        if isinstance(value, (int, float)):
            assert math.isfinite(value), f'{name}: {stage} {key} = {value}'
    return metrics


@pytest.mark.parametrize('path', CONFIGS, ids=config_id)
def test_config_trains_and_evaluates(path, config_demo_data, tmp_path):
    name = config_id(path)
    cfg = runnable_config(path, config_demo_data, str(tmp_path))
    torch.manual_seed(0)
    runner = Runner.from_cfg(cfg)
    # the hooks need the runner's before_run / before_train (EMA copies, timers, trackers), which
    # only runner.train() calls; this test drives the data, model, optim wrapper and loops
    runner._hooks = []
    batch = next(iter(runner.train_dataloader))  # the train loop's own dataloader
    optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    model = runner.model
    # a one-iteration run: accumulating wrappers update on it, as on the last iteration of a run
    optim_wrapper.initialize_count_status(model, 0, 1)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    model.train()
    log_vars = model.train_step(batch, optim_wrapper)
    assert_finite_losses(log_vars, name)
    changed = [n for n, p in model.named_parameters() if n in before and
               not torch.equal(p.detach(), before[n])]
    assert changed, f'{name}: the optimizer step changed no parameter'

    if runner.val_loop is not None:
        run_eval_loop(runner.val_loop, name, 'val')
    if runner.test_loop is not None and not (
            runner.val_loop is not None and cfg.test_dataloader == cfg.val_dataloader
            and cfg.test_evaluator == cfg.val_evaluator):
        run_eval_loop(runner.test_loop, name, 'test')


def test_every_override_row_shrinks_a_config():
    """A row that no config matches any more (a renamed config) would leave its model at full
    size unnoticed, or hide a typo."""
    names = [config_id(p) for p in CONFIGS]
    for row in OVERRIDES:
        assert any(re.search(row.pattern, n) for n in names), row.pattern
