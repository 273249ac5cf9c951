"""use_checked_loaders swaps the host loaders of a config for the checked drop-ins, so configs
that inherit an mmpretrain:: / mmseg:: pipeline name bad files too when run by tools/train.py."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from shared_helpers import train_with_fake_runner

from mmdbp.datasets.file_errors import DataFileError
from mmdbp.datasets.transforms import use_checked_loaders

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _types(ds):
    return [t['type'] for t in ds['pipeline']]


def test_swaps_host_loaders_in_wrapped_datasets_by_scope():
    pipe = [dict(type='LoadImageFromFile', to_float32=True), dict(type='LoadAnnotations'),
            dict(type='mmseg.LoadAnnotations'), dict(type='RandomFlip', prob=0.5)]
    cfg = Config(dict(
        default_scope='mmpretrain',
        train_dataloader=dict(dataset=dict(type='RandomSubsetDataset', num_samples=2,
                                           dataset=dict(type='ImageNet', pipeline=pipe))),
        val_dataloader=dict(dataset=dict(type='ConcatDataset', datasets=[
            dict(type='ImageNet', pipeline=pipe), dict(type='ImageNet', pipeline=pipe)])),
        test_dataloader=None))
    changed = use_checked_loaders(cfg)
    assert changed == [
        'train_dataloader.dataset.dataset.pipeline[0]: LoadImageFromFile -> LoadCheckedImageFromFile',
        'val_dataloader.dataset.datasets[0].pipeline[0]: LoadImageFromFile -> LoadCheckedImageFromFile',
        'val_dataloader.dataset.datasets[1].pipeline[0]: LoadImageFromFile -> LoadCheckedImageFromFile']
    # mmcv's box-loading LoadAnnotations (mmpretrain scope) and prefixed types stay
    expected = ['LoadCheckedImageFromFile', 'LoadAnnotations', 'mmseg.LoadAnnotations', 'RandomFlip']
    assert _types(cfg.train_dataloader.dataset.dataset) == expected
    assert cfg.train_dataloader.dataset.dataset.pipeline[0].to_float32 is True  # arguments kept

    seg = Config(dict(default_scope='mmseg', val_dataloader=dict(dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', reduce_zero_label=True)]))))
    assert len(use_checked_loaders(seg)) == 2
    assert _types(seg.val_dataloader.dataset) == ['LoadCheckedImageFromFile', 'LoadCheckedAnnotations']
    assert seg.val_dataloader.dataset.pipeline[1].reduce_zero_label is True
    assert use_checked_loaders(seg) == []  # idempotent


def _train_cfg(config, tmp_path, monkeypatch):
    """The config tools/train.py builds the runner from (runner and data-root check faked)."""
    train, built = train_with_fake_runner(monkeypatch, 'mmdbp_train_checked')
    train.main([osp.join(ROOT, config), '--work-dir', str(tmp_path)])
    return built['cfg']


def test_train_py_checks_a_pipeline_inherited_from_mmpretrain(tmp_path, monkeypatch, bad_demo_data):
    cfg = _train_cfg('configs/dbp_mae/dbp-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py', tmp_path,
                     monkeypatch)
    ds = cfg.train_dataloader.dataset
    assert _types(ds)[0] == 'LoadCheckedImageFromFile'
    from mmpretrain.registry import DATASETS
    ds.data_root = bad_demo_data['in1k']
    (path, (index, _)), = [min(bad_demo_data['bad']['in1k_train'].items(), key=lambda kv: kv[1][0])]
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        dataset = DATASETS.build(ds)
        with pytest.raises(DataFileError) as info:
            for i in range(index + 1):
                dataset[i]
    assert (osp.normpath(info.value.path), info.value.index) == (path, index)


def test_train_py_checks_a_pipeline_inherited_from_mmseg(tmp_path, monkeypatch):
    cfg = _train_cfg('configs/greenmim/benchmarks/'
                     'upernet_swin-base-w7_greenmim-800e-pre_8xb2-160k_ade20k-512x512.py',
                     tmp_path, monkeypatch)
    assert _types(cfg.train_dataloader.dataset)[:2] == ['LoadCheckedImageFromFile',
                                                       'LoadCheckedAnnotations']
    assert 'LoadCheckedAnnotations' in _types(cfg.val_dataloader.dataset)
