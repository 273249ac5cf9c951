"""Every MIRL config parses, builds (the real-size ones on the meta device: shapes only), and
states the paper's recipe."""
import os.path as osp

import pytest
import torch
from config_helpers import ROOT, config_id, config_paths
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmdbp  # noqa: F401
from mmdbp.registry import MODELS

CONFIGS = [p for p in config_paths() if config_id(p).startswith('mirl' + osp.sep)]


@pytest.fixture
def on_meta_device(monkeypatch):
    """Instantiate without allocating (drop-path schedules need real linspace values)."""
    linspace = torch.linspace
    monkeypatch.setattr(torch, 'linspace', lambda *a, **k: linspace(*a, **{**k, 'device': 'cpu'}))
    with torch.device('meta'):
        yield


def test_all_configs_are_found():
    names = {osp.basename(c) for c in CONFIGS}
    for must in ('mirl_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k.py',
                 'mirl_vit-base-48-p16_8xb64-accum8-amp-coslr-800e_in1k.py',
                 'mirl_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k-10pct.py',
                 'mae_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k.py',
                 'vit-small-54-p16_16xb64-accum2-coslr-100e_in1k.py',
                 'mirl-vit-base-48_upernet_8xb2-amp-160k_ade20k-512x512.py'):
        assert must in names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.basename(p))
def test_config_builds(path, on_meta_device):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize('arch,ends', [('small-54', (8, 17, 26, 35, 44, 53)),
                                       ('base-48', (7, 15, 23, 31, 39, 47))])
def test_pretraining_recipe(arch, ends, on_meta_device):
    name = f'mirl_vit-{arch}-p16_8xb64-accum8-amp-coslr-300e_in1k.py'
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'mirl', name))
    # effective batch 4096 = 8 GPUs x 64 x 8 accumulated steps; lr = 1.5e-4 x 4096 / 256
    assert 8 * cfg.train_dataloader.batch_size * cfg.optim_wrapper.accumulative_counts == 4096
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(1.5e-4 * 4096 / 256)
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.param_scheduler[0].end == 40 and cfg.train_cfg.max_epochs == 300
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    assert model.backbone.segment_ends == ends
    assert model.backbone.mask_ratio == 0.75


def test_subset_config_wraps_the_imagenet_dataset():
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', 'mirl', 'mirl_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k-10pct.py'))
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'RandomSubsetDataset' and ds.fraction == 0.1
    assert ds.dataset.type == 'ImageNet' and ds.dataset.split == 'train'


def test_finetuning_decays_over_every_block(on_meta_device):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'mirl', 'benchmarks',
                                   'vit-small-54-p16_16xb64-accum2-coslr-100e_in1k.py'))
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    assert cfg.optim_wrapper.constructor == 'LearningRateDecayOptimWrapperConstructor'
    assert model.get_layer_depth('backbone.blocks.53.mlp.fc1.weight') == (54, 56)
    assert model.get_layer_depth('backbone.patch_embed.projection.weight') == (0, 56)
