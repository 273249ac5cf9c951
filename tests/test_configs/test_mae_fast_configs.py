"""configs/mae: the fast-path MAE configs mirror mmpretrain's MAE configs except for the model."""
import os.path as osp

import pytest
from config_helpers import ROOT
from mmengine.config import Config

from mmdbp.utils.benchmark import resolve_config_path

PAIRS = [('mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k.py',
          'mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'),
         ('mae_fast-vit-large-p16_8xb512-amp-coslr-300e_in1k.py',
          'mae/mae_vit-large-p16_8xb512-amp-coslr-300e_in1k.py')]


def _plain(x):
    return x.to_dict() if hasattr(x, 'to_dict') else x


@pytest.mark.parametrize('ours,theirs', PAIRS)
def test_fast_config_mirrors_mmpretrain(ours, theirs):
    a = Config.fromfile(osp.join(ROOT, 'configs/mae', ours))
    b = Config.fromfile(resolve_config_path('mmpretrain::' + theirs))
    ma, mb = a.model.to_dict(), b.model.to_dict()
    assert (ma['backbone'].pop('type'), mb['backbone'].pop('type')) == ('FastMAEViT', 'MAEViT')
    assert (ma['neck'].pop('type'), mb['neck'].pop('type')) == ('FastMAEDecoder',
                                                                 'MAEPretrainDecoder')
    assert ma == mb  # same arch, patch, mask ratio, decoder sizes, head, init
    for key in ('param_scheduler', 'train_cfg', 'auto_scale_lr', 'resume'):
        assert _plain(a[key]) == _plain(b[key]), key
    for key in ('seed', 'diff_rank_seed', 'deterministic'):
        assert a.randomness.get(key, False) == b.randomness.get(key, False), key
    ow_a, ow_b = a.optim_wrapper.to_dict(), b.optim_wrapper.to_dict()
    keys_a = ow_a.pop('paramwise_cfg')['custom_keys']
    keys_b = ow_b.pop('paramwise_cfg')['custom_keys']
    assert ow_a == ow_b  # AmpOptimWrapper, dynamic loss scale, the same AdamW
    # mmdbp's blocks name their norms norm1/norm2/norm ('norm'), mmpretrain's ln1/ln2 ('ln')
    assert keys_a.pop('norm') == keys_b['ln'] and keys_a == keys_b
    da, db = a.train_dataloader.to_dict(), b.train_dataloader.to_dict()
    assert da['batch_size'] == db['batch_size'] == 512
    # mmdbp decodes, crops, resizes and flips in one FastRandomResizedCrop (same augmentation,
    # see tests/test_datasets/test_fast_resized_crop.py) where mmpretrain has LoadImageFromFile +
    # RandomResizedCrop(backend='pillow') + RandomFlip; the same arguments, the rest identical
    fast, *rest_a = da['dataset']['pipeline']
    load, rrc, flip, *rest_b = db['dataset']['pipeline']
    assert load == dict(type='LoadImageFromFile') and rrc.pop('type') == 'RandomResizedCrop'
    assert fast.pop('type') == 'FastRandomResizedCrop' and rrc.pop('backend') == 'pillow'
    assert flip == dict(type='RandomFlip', prob=0.5) and fast.pop('flip_prob') == flip['prob']
    assert fast == rrc and rest_a == rest_b
    assert da['collate_fn'] == db['collate_fn'] and da['sampler'] == db['sampler']
    assert a.data_preprocessor == b.data_preprocessor


def test_gpu_recipe_only_changes_the_step():
    base = Config.fromfile(osp.join(ROOT, 'configs/mae', PAIRS[0][0]))
    gpu = Config.fromfile(osp.join(
        ROOT, 'configs/mae/mae_fast-vit-base-p16_8xb512-bf16-fused-compile-coslr-300e_in1k.py'))
    assert gpu.compile is True
    assert gpu.optim_wrapper.type == 'AutocastOptimWrapper'
    assert gpu.optim_wrapper.dtype == 'bfloat16'
    assert 'loss_scale' not in gpu.optim_wrapper
    opt = gpu.optim_wrapper.optimizer.to_dict()
    assert opt.pop('fused') is True and opt == base.optim_wrapper.optimizer.to_dict()
    assert gpu.optim_wrapper.paramwise_cfg == base.optim_wrapper.paramwise_cfg
    assert gpu.model == base.model and gpu.param_scheduler == base.param_scheduler
