"""Unreadable images and annotations raise an error naming the file and the dataset index, at the
first bad sample, from mmdbp's dataset configs and from plain host configs; skip_bad_samples
skips them and logs each."""
import io
import logging
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from PIL import Image

import mmdbp  # noqa: F401  (registers the transforms)
from mmdbp.datasets.file_errors import (DataFileError, decode_problem, load_or_name,
                                        truncation_problem, unreadable_reason)


def _jpeg(size=32, seed=0) -> bytes:
    rgb = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format='JPEG', quality=90)
    return buf.getvalue()


def _png(size=32) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.arange(size * size, dtype=np.uint8).reshape(size, size), 'L').save(buf, 'PNG')
    return buf.getvalue()


def _write(path, data):
    with open(path, 'wb') as f:
        f.write(data)
    return str(path)


def test_unreadable_reason_per_kind_of_damage(tmp_path):
    jpeg, png = _jpeg(), _png()
    assert unreadable_reason(_write(tmp_path / 'ok.jpg', jpeg)) is None
    assert unreadable_reason(_write(tmp_path / 'ok.png', png)) is None
    # bytes after the end-of-image marker do not make a file bad
    assert unreadable_reason(_write(tmp_path / 'trailer.jpg', jpeg + b'\0' * 4096)) is None
    assert truncation_problem(jpeg + b'\0' * 4096) is None
    assert unreadable_reason(_write(tmp_path / 'empty.png', b'')) == 'empty file (0 bytes)'
    assert unreadable_reason(str(tmp_path / 'missing.jpg')) == 'file does not exist'
    assert 'truncated' in unreadable_reason(_write(tmp_path / 'cut.jpg', jpeg[:len(jpeg) // 2]))
    assert 'truncated' in unreadable_reason(_write(tmp_path / 'cut.png', png[:len(png) // 2]))
    assert truncation_problem(jpeg[:len(jpeg) // 2]) is not None
    assert truncation_problem(jpeg) is None and truncation_problem(png) is None
    garbage = bytes(range(256)) * 3
    assert 'neither Pillow nor OpenCV' in decode_problem(garbage)


def test_load_or_name_reraises_with_file_index_and_reason(tmp_path):
    path = _write(tmp_path / 'x.png', b'')

    def failing_load(results):
        raise AttributeError("'NoneType' object has no attribute 'squeeze'")

    results = dict(img_path=str(tmp_path / 'fine.jpg'), seg_map_path=path, sample_idx=41)
    _write(tmp_path / 'fine.jpg', _jpeg())
    with pytest.raises(DataFileError) as info:
        load_or_name(failing_load, results, ('img_path', 'seg_map_path'), what='LoadX')
    err = info.value
    # the good image is not blamed: the file with the problem is
    assert (err.path, err.index) == (path, 41)
    assert f"'{path}' (dataset index 41): empty file (0 bytes)" in str(err)
    assert 'LoadX failed with AttributeError' in str(err) and 'tools/check_data.py' in str(err)
    assert isinstance(err.__cause__, AttributeError)
    # the single-message constructor PyTorch's DataLoader uses to re-raise a worker's error
    assert str(DataFileError(str(err))) == str(err)


def _dataset(cfg_file, data_root, split, repo_root, *, skip=False, **loader):
    """The dataloader of a shipped demo dataset config over ``data_root``, in file order."""
    cfg = Config.fromfile(osp.join(repo_root, 'configs/_base_/datasets', cfg_file))
    dl = cfg[f'{split}_dataloader']
    dl.dataset.data_root = data_root
    for t in dl.dataset.pipeline:
        if t.type.startswith('LoadChecked'):
            t.skip_bad_samples = skip
    dl.sampler = dict(type='DefaultSampler', shuffle=False)
    dl.update(dict(dict(num_workers=0, persistent_workers=False), **loader))
    return cfg, dl


def _first_bad(bad):
    path, (index, _) = min(bad.items(), key=lambda kv: kv[1][0])
    return path, index


@pytest.mark.parametrize('cfg_file,scope,key,split', [
    ('demo_in1k_cls.py', 'mmpretrain', 'in1k', 'train'),
    ('demo_in1k_mae.py', 'mmpretrain', 'in1k', 'train'),
    ('demo_ade20k.py', 'mmseg', 'ade20k', 'train'),
    ('demo_ade20k.py', 'mmseg', 'ade20k', 'val'),
])
def test_error_at_first_bad_sample_names_file_and_index(cfg_file, scope, key, split, repo_root,
                                                        bad_demo_data):
    bad = bad_demo_data['bad'][f'{key}_{split}']
    path, index = _first_bad(bad)
    batch = 2
    cfg, dl = _dataset(cfg_file, bad_demo_data[key], split, repo_root, batch_size=batch)
    with DefaultScope.overwrite_default_scope(scope):
        loader = Runner.build_dataloader(dl)
        seen = 0
        with pytest.raises(DataFileError) as info:
            for _ in loader:
                seen += batch
    err = info.value
    assert osp.normpath(err.path) == path and err.index == index
    assert f"Cannot read '{err.path}' (dataset index {index})" in str(err)
    assert seen == index - index % batch  # every batch before the bad sample's batch went through


def test_error_from_dataloader_worker_keeps_file_and_index(repo_root, bad_demo_data):
    bad = bad_demo_data['bad']['ade20k_train']
    path, index = _first_bad(bad)
    cfg, dl = _dataset('demo_ade20k.py', bad_demo_data['ade20k'], 'train', repo_root, batch_size=4,
                       num_workers=1)
    with DefaultScope.overwrite_default_scope('mmseg'):
        loader = Runner.build_dataloader(dl)
        with pytest.raises(DataFileError, match=rf"(?s)Cannot read '[^']*{osp.basename(path)}' "
                           rf'\(dataset index {index}\)'):
            for _ in loader:
                pass


@pytest.mark.parametrize('cfg_file,scope,key', [('demo_in1k_cls.py', 'mmpretrain', 'in1k'),
                                                ('demo_ade20k.py', 'mmseg', 'ade20k')])
def test_skip_bad_samples_skips_and_logs_each(cfg_file, scope, key, repo_root, bad_demo_data):
    bad = bad_demo_data['bad'][f'{key}_train']
    cfg, dl = _dataset(cfg_file, bad_demo_data[key], 'train', repo_root, skip=True)
    logger = MMLogger.get_instance(f'skip_test_{key}', log_level='INFO')  # the current logger
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    np.random.seed(0)  # mmengine draws the replacement sample with numpy's global generator
    try:
        with DefaultScope.overwrite_default_scope(scope):
            from mmengine.registry import DATASETS
            dataset = DATASETS.build(dl.dataset)
            samples = [dataset[i] for i in range(len(dataset))]
    finally:
        logger.removeHandler(handler)
    assert all(s is not None and 'inputs' in s for s in samples)
    skipped = {}
    for r in records:
        msg = r.getMessage()
        if not msg.startswith('Skipped a bad sample: dataset index '):
            continue
        assert r.levelno == logging.WARNING
        index = int(msg.split('dataset index ')[1].split(',')[0])
        skipped[osp.normpath(msg.split("file '")[1].split("'")[0])] = index
    # each bad file is logged with its index; a random replacement may be a bad one again
    assert skipped == {p: i for p, (i, _) in bad.items()}


def test_truncated_jpeg_is_an_error_with_the_opencv_decoder(tmp_path):
    """OpenCV decodes a truncated JPEG with a grey remainder and no error; the loader refuses it."""
    from mmcv.transforms import LoadImageFromFile

    from mmdbp.datasets.transforms import LoadCheckedImageFromFile
    jpeg = _jpeg(64)
    path = _write(tmp_path / 'cut.jpg', jpeg[:len(jpeg) * 3 // 5])
    good = _write(tmp_path / 'ok.jpg', jpeg)
    host = LoadImageFromFile()(dict(img_path=good))
    ours = LoadCheckedImageFromFile()(dict(img_path=good, sample_idx=0))
    assert np.array_equal(host['img'], ours['img']) and host['img_shape'] == ours['img_shape']
    assert LoadImageFromFile()(dict(img_path=path))['img'].shape == (64, 64, 3)  # the host: no error
    with pytest.raises(DataFileError, match=r"'.*cut\.jpg' \(dataset index 7\): corrupt image: .*truncated"):
        LoadCheckedImageFromFile()(dict(img_path=path, sample_idx=7))
    assert LoadCheckedImageFromFile(ignore_empty=True, skip_bad_samples=False)(
        dict(img_path=str(tmp_path / 'nope.jpg'), sample_idx=1)) is None


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmseg'])
def test_plain_host_config_with_custom_imports(scope, bad_demo_data):
    """A host config that only adds custom_imports and the LoadChecked* names gets the error."""
    if scope == 'mmpretrain':
        from mmpretrain.registry import DATASETS
        bad = bad_demo_data['bad']['in1k_val']
        ds = dict(type='ImageNet', data_root=bad_demo_data['in1k'], split='val',
                  pipeline=[dict(type='LoadCheckedImageFromFile'), dict(type='PackInputs')])
    else:
        from mmseg.registry import DATASETS
        bad = bad_demo_data['bad']['ade20k_train']
        ds = dict(type='ADE20KDataset', data_root=bad_demo_data['ade20k'],
                  data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
                  pipeline=[dict(type='LoadCheckedImageFromFile'),
                            dict(type='LoadCheckedAnnotations', reduce_zero_label=True),
                            dict(type='PackSegInputs')])
    cfg = Config(dict(default_scope=scope, custom_imports=dict(imports=['mmdbp']), ds=ds))
    path, index = _first_bad(bad)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        dataset = DATASETS.build(cfg.ds)
        for i in range(index):
            assert dataset[i] is not None
        with pytest.raises(DataFileError) as info:
            dataset[index]
    assert osp.normpath(info.value.path) == path and info.value.index == index
