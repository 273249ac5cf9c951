"""A missing or malformed data root fails before training, naming the path and the fix."""
import os
import os.path as osp
import shutil

import pytest
from mmengine.config import Config

from mmdbp.datasets.data_check import DataRootError, check_data_roots


def _cfg(repo_root, name, root):
    cfg = Config.fromfile(osp.join(repo_root, 'configs/_base_/datasets', name))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            cfg[key].dataset.data_root = root
    return cfg


def test_good_demo_data_passes(repo_root, demo_data):
    check_data_roots(_cfg(repo_root, 'demo_in1k_cls.py', demo_data['in1k']))
    check_data_roots(_cfg(repo_root, 'demo_in1k_mae.py', demo_data['in1k']))
    check_data_roots(_cfg(repo_root, 'demo_ade20k.py', demo_data['ade20k']))


def test_missing_demo_root_names_path_and_generator(repo_root, tmp_path):
    missing = str(tmp_path / 'data' / 'demo_in1k')
    with pytest.raises(DataRootError, match=r"(?s)train_dataloader\.dataset \(ImageNet\): data root "
                       rf"'{missing}' does not exist.*python tools/make_demo_data\.py"):
        check_data_roots(_cfg(repo_root, 'demo_in1k_cls.py', missing))


def test_missing_real_root_points_to_data_preparation(repo_root, tmp_path):
    missing = str(tmp_path / 'ade' / 'ADEChallengeData2016')
    with pytest.raises(DataRootError, match=r'(?s)val_dataloader.*does not exist.*Data preparation'):
        check_data_roots(_cfg(repo_root, 'ade20k_512x512.py', missing))


def _copy(src, dst):
    shutil.copytree(src, dst)
    return str(dst)


def test_malformed_imagenet_layouts(repo_root, demo_data, tmp_path):
    root = _copy(demo_data['in1k'], tmp_path / 'demo_in1k')
    first = open(osp.join(root, 'meta', 'train.txt')).readline().split()[0]
    os.remove(osp.join(root, 'train', first))
    with pytest.raises(DataRootError, match=rf"lists '{first}', but .* does not exist"):
        check_data_roots(_cfg(repo_root, 'demo_in1k_cls.py', root))
    open(osp.join(root, 'meta', 'train.txt'), 'w').close()
    with pytest.raises(DataRootError, match=r"annotation file '.*meta/train.txt' is empty"):
        check_data_roots(_cfg(repo_root, 'demo_in1k_cls.py', root))
    shutil.rmtree(osp.join(root, 'val'))
    with pytest.raises(DataRootError, match=r"(?s)val_dataloader.*data_prefix folder '.*val' does not exist"):
        check_data_roots(_cfg(repo_root, 'demo_in1k_cls.py', root))


def test_malformed_ade20k_layouts(repo_root, demo_data, tmp_path):
    root = _copy(demo_data['ade20k'], tmp_path / 'demo_ade20k')
    os.remove(osp.join(root, 'annotations', 'training', 'ADE_train_00000001.png'))
    with pytest.raises(DataRootError, match=r"ADE_train_00000001.jpg' has no annotation"):
        check_data_roots(_cfg(repo_root, 'demo_ade20k.py', root))
    shutil.rmtree(osp.join(root, 'annotations', 'validation'))
    with pytest.raises(DataRootError, match=r"seg_map_path folder '.*annotations/validation' does not exist"):
        check_data_roots(_cfg(repo_root, 'demo_ade20k.py', root))
    for f in os.listdir(osp.join(root, 'images', 'training')):
        os.remove(osp.join(root, 'images', 'training', f))
    with pytest.raises(DataRootError, match=r"image folder '.*images/training' holds no '.jpg' files"):
        check_data_roots(_cfg(repo_root, 'demo_ade20k.py', root))


def test_wrapped_datasets_are_checked(tmp_path):
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='RandomSubsetDataset', fraction=0.1,
        dataset=dict(type='ConcatDataset', datasets=[
            dict(type='ImageNet', data_root=str(tmp_path), split='train'),
            dict(type='ImageNet', data_root=str(tmp_path / 'nope'), split='train')])))))
    with pytest.raises(DataRootError) as err:
        check_data_roots(cfg)
    msg = str(err.value)
    assert "train_dataloader.dataset.dataset.datasets[0] (ImageNet): data_prefix folder" in msg
    assert f"train_dataloader.dataset.dataset.datasets[1] (ImageNet): data root '{tmp_path / 'nope'}'" in msg
    check_data_roots(Config(dict(train_dataloader=None, val_dataloader=dict(dataset=dict(
        type='ImageNet', data_root='s3://bucket/imagenet', split='val')))))  # remote: not checked


def test_train_py_fails_before_building_the_runner(repo_root, tmp_path, monkeypatch):
    import importlib.util
    spec = importlib.util.spec_from_file_location('mmdbp_train', osp.join(repo_root, 'tools/train.py'))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)

    def no_runner(*args, **kwargs):
        raise AssertionError('the runner must not be built when the data is missing')

    monkeypatch.setattr(train, 'build_runner', no_runner)
    missing = str(tmp_path / 'demo_ade20k')
    cfg = osp.join(repo_root, 'configs/demo/upernet_vit-micro-p4_1xb8-400i_demo-ade20k-64x64.py')
    with pytest.raises(DataRootError, match=rf"(?s)'{missing}' does not exist.*make_demo_data"):
        train.main([cfg, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                    f'train_dataloader.dataset.data_root={missing}', f'val_dataloader.dataset.data_root={missing}'])


def test_demo_advice_is_a_command_that_works_from_the_current_directory(repo_root, tmp_path, monkeypatch):
    """`mim train mmdbp` and tools/train.py run from any folder and read relative data roots from
    there: the printed command must create the data where the config reads it."""
    import shlex
    import subprocess
    import sys
    work = tmp_path / 'my project'
    work.mkdir()
    monkeypatch.chdir(work)
    cfg = Config.fromfile(osp.join(repo_root, 'configs/_base_/datasets/demo_in1k_mae.py'))
    with pytest.raises(DataRootError) as err:
        check_data_roots(cfg)
    command = str(err.value).split('\n')[-2].strip()
    assert command.startswith('python ')
    subprocess.run([sys.executable] + shlex.split(command)[1:] + ['--only', 'cls', '--cls-train-per-class', '2',
                                                                  '--cls-val-per-class', '1'],
                   cwd=work, check=True, capture_output=True)
    check_data_roots(cfg)  # the data is now where the config reads it
