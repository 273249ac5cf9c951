"""GreenMIM end to end: demo pre-training, then fine-tuning from its checkpoint with mmpretrain's
Swin (classification) and mmseg's Swin (UPerNet), a few iterations each."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmdbp  # noqa: F401
from mmdbp.registry import MODELS

PRETRAIN = 'configs/greenmim/greenmim_swin-micro-w4-p2_1xb32-300i_demo-in1k.py'
FINETUNE = ('configs/greenmim/benchmarks/'
            'swin-micro-w4-p2_greenmim-demo-pre_1xb32-100i_demo-in1k.py')
UPERNET = ('configs/greenmim/benchmarks/'
           'upernet_swin-micro-w4-p2_greenmim-demo-pre_1xb8-200i_demo-ade20k-64x64.py')


def small_run_cfg(path, repo_root, work_dir, data_root, max_iters, batch_size):
    cfg = Config.fromfile(osp.join(repo_root, path))
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.update(batch_size=batch_size, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_cfg.max_iters = max_iters
    if 'val_interval' in cfg.train_cfg:
        cfg.train_cfg.val_interval = max_iters + 1  # no evaluation in this smoke run
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = max_iters
    cfg.log_processor = dict(by_epoch=False, window_size=1)
    cfg.param_scheduler = []  # constant lr
    return cfg


@pytest.fixture(scope='module')
def pretrained(repo_root, demo_data, tmp_path_factory):
    """A 6-iteration demo pre-training; returns its work dir and losses."""
    work_dir = tmp_path_factory.mktemp('greenmim_pretrain')
    cfg = small_run_cfg(PRETRAIN, repo_root, work_dir, demo_data['in1k'], 6, 8)
    cfg.custom_hooks[0].interval = 6
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    return work_dir, [float(x) for x in losses]


def test_demo_pretraining_runs_and_learns(pretrained):
    work_dir, losses = pretrained
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]  # fixed seed, constant lr: the loss falls
    assert osp.isfile(work_dir / 'iter_6.pth')
    assert osp.isfile(work_dir / 'reconstructions' / 'iter_6.png')


def assert_backbone_loaded(model, ckpt_path):
    state = torch.load(ckpt_path, map_location='cpu', weights_only=False)['state_dict']
    encoder = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    ours = model.backbone.state_dict()
    assert encoder, 'no encoder weights in the checkpoint'
    for k, v in encoder.items():
        if k in ours:
            torch.testing.assert_close(ours[k], v, msg=k)
    # every encoder weight the host backbone has came from the checkpoint
    assert set(encoder) >= {k for k in ours if not k.startswith(('norm0', 'norm1', 'norm2'))}


def test_finetune_with_mmpretrain_swin(pretrained, repo_root, demo_data, tmp_path):
    work_dir, _ = pretrained
    ckpt = str(work_dir / 'iter_6.pth')
    cfg = small_run_cfg(FINETUNE, repo_root, tmp_path, demo_data['in1k'], 2, 4)
    cfg.model.backbone.init_cfg.checkpoint = ckpt
    cfg.model.head.num_classes = 4
    cfg.train_dataloader.dataset.metainfo = None
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert type(model.backbone).__module__.startswith('mmpretrain')
    assert_backbone_loaded(model, ckpt)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert all(torch.isfinite(torch.tensor(runner.message_hub.get_scalar('train/loss').data[0])))


def test_finetune_with_mmseg_swin_upernet(pretrained, repo_root, demo_data, tmp_path):
    work_dir, _ = pretrained
    ckpt = str(work_dir / 'iter_6.pth')
    cfg = small_run_cfg(UPERNET, repo_root, tmp_path, demo_data['ade20k'], 2, 2)
    cfg.model.backbone.init_cfg.checkpoint = ckpt
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook', draw=False)
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert type(model.backbone).__module__.startswith('mmseg')
    assert_backbone_loaded(model, ckpt)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert all(torch.isfinite(torch.tensor(runner.message_hub.get_scalar('train/loss').data[0])))


def test_dbp_greenmim_runs_and_converter_folds(repo_root, demo_data, tmp_path):
    """DBP switched on by config for GreenMIM; greenmim_to_swin folds R into the weights."""
    from mmdbp.models.utils import fold_dbp_checkpoint
    from mmdbp.models.utils.greenmim_ckpt_convert import convert_greenmim_to_swin
    cfg = small_run_cfg('configs/greenmim/dbp-greenmim_swin-micro-w4-p2_1xb32-300i_demo-in1k.py',
                        repo_root, tmp_path, demo_data['in1k'], 1, 2)
    cfg.custom_hooks = []
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert all(torch.isfinite(torch.tensor(runner.message_hub.get_scalar('train/loss').data[0])))
    ckpt = torch.load(str(tmp_path / 'iter_1.pth'), map_location='cpu', weights_only=False)
    R = ckpt['optimizer']['dbp']['R']
    names = set(R)
    # every kind of encoder linear is decorrelated, nothing outside the encoder stages
    for part in ('attn.w_msa.qkv', 'attn.w_msa.proj', 'ffn.layers.0.0', 'ffn.layers.1',
                 'downsample.reduction'):
        assert any(n.endswith(part) for n in names), part
    assert all(n.startswith('backbone.stages.') for n in names)
    weights = convert_greenmim_to_swin(fold_dbp_checkpoint(ckpt)[0])
    name = 'backbone.stages.0.blocks.0.attn.w_msa.qkv'
    W = ckpt['optimizer']['dbp']['weights'][name]  # unfolded, kept for resuming
    torch.testing.assert_close(weights['stages.0.blocks.0.attn.w_msa.qkv.weight'],
                               W @ R[name].to(W.dtype))


def _tiny_greenmim(**overrides):
    parts = dict(
        backbone=dict(type='GreenMIMSwin', arch=dict(embed_dims=8, depths=[1, 1], num_heads=[1, 1]),
                      img_size=32, patch_size=4, window_size=2),
        neck=dict(type='GreenMIMDecoder', grid_size=4, unit_size=8, embed_dims=16,
                  decoder_embed_dims=8, decoder_num_heads=1),
        head=dict(type='GreenMIMHead', unit_size=8))
    for part, kwargs in overrides.items():
        parts[part].update(kwargs)
    return dict(type='GreenMIM', **parts)


def test_parts_agree_builds():
    init_default_scope('mmpretrain')
    model = MODELS.build(_tiny_greenmim())
    # unit = patch 4 * 2^(2 stages - 1) = 8 px -> a 4x4 grid, last stage 2 * 8 = 16 wide
    assert model.backbone.unit_grid == (4, 4) and model.backbone.unit_size == 8
    loss = model.loss(torch.randn(2, 3, 32, 32), [])['loss']
    assert torch.isfinite(loss)


@pytest.mark.parametrize('overrides, match', [
    (dict(neck=dict(grid_size=7)), r'neck.grid_size=\(7, 7\) but the backbone has a \(4, 4\)'),
    (dict(neck=dict(unit_size=32)), r'neck.unit_size=32 .* mask unit 8 px'),
    (dict(head=dict(unit_size=16)), r'head.unit_size=16 must equal the backbone mask unit 8'),
    (dict(neck=dict(embed_dims=8)), r'neck.embed_dims=8 but the last backbone stage is 16'),
    (dict(head=dict(in_chans=1)), r'neck.in_chans=3 but head.in_chans=1'),
])
def test_mismatched_parts_fail_at_build(overrides, match):
    init_default_scope('mmpretrain')
    with pytest.raises(ValueError, match='GreenMIM config mismatch: ' + '.*' + match):
        MODELS.build(_tiny_greenmim(**overrides))
