"""The embedded demo data: determinism, layout, labels, and that the host datasets read it."""
import filecmp
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmdbp.datasets.demo_data import (CLASSES, SEG_CLASSES, class_names, draw_class_image,
                                      make_demo_ade20k, make_demo_in1k)


def _all_files(root):
    return sorted(osp.relpath(osp.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def _same_tree(a, b):
    files = _all_files(a)
    if files != _all_files(b):
        return False
    match, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    return not mismatch and not errors


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    for name, seed in (('a', 3), ('b', 3), ('c', 4)):
        make_demo_in1k(str(tmp_path / name / 'in1k'), num_classes=3, train_per_class=2, val_per_class=1, seed=seed)
        make_demo_ade20k(str(tmp_path / name / 'ade'), num_train=3, num_val=1, seed=seed)
    assert _same_tree(tmp_path / 'a', tmp_path / 'b')
    for sub in ('in1k', 'ade'):
        files = [f for f in _all_files(tmp_path / 'a' / sub) if f.endswith(('.JPEG', '.jpg', '.png'))]
        _, mismatch, _ = filecmp.cmpfiles(tmp_path / 'a' / sub, tmp_path / 'c' / sub, files, shallow=False)
        assert len(mismatch) == len(files), f'{sub}: some images do not depend on the seed'


def test_growing_a_split_keeps_its_images(tmp_path):
    make_demo_ade20k(str(tmp_path / 'small'), num_train=2, num_val=1, seed=0)
    make_demo_ade20k(str(tmp_path / 'large'), num_train=5, num_val=2, seed=0)
    for rel in _all_files(tmp_path / 'small'):
        assert filecmp.cmp(tmp_path / 'small' / rel, tmp_path / 'large' / rel, shallow=False), rel


def test_imagenet_layout_and_meta_files(demo_data):
    root = demo_data['in1k']
    names = class_names(4)
    assert sorted(os.listdir(osp.join(root, 'train'))) == names
    with open(osp.join(root, 'meta', 'classes.txt')) as f:
        assert f.read().split() == names
    for split, per_class in (('train', 6), ('val', 2)):
        with open(osp.join(root, 'meta', f'{split}.txt')) as f:
            lines = f.read().splitlines()
        assert len(lines) == 4 * per_class
        for line in lines:
            path, label = line.split(' ')
            assert path.split('/')[0] == names[int(label)]  # label = index of the class folder
            with Image.open(osp.join(root, split, path)) as img:
                assert img.size == (64, 64) and img.mode == 'RGB'


def test_mmpretrain_imagenet_reads_the_demo_set(demo_data):
    from mmengine.registry import init_default_scope
    from mmpretrain.datasets import ImageNet
    init_default_scope('mmpretrain')
    train = ImageNet(data_root=demo_data['in1k'], split='train', pipeline=[dict(type='LoadImageFromFile')])
    val = ImageNet(data_root=demo_data['in1k'], split='val')
    assert len(train) == 24 and len(val) == 8
    assert sorted(train.get_gt_labels().tolist()) == sorted([c for c in range(4) for _ in range(6)])
    sample = train[0]
    assert sample['img'].shape == (64, 64, 3) and sample['gt_label'] == 0


def test_demo_cls_config_class_names_match_generator(repo_root):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(repo_root, 'configs/_base_/datasets/demo_in1k_cls.py'))
    assert list(cfg.metainfo['classes']) == class_names(len(CLASSES))
    assert cfg.data_preprocessor['num_classes'] == len(CLASSES)


def test_ade20k_labels_are_raw_ade_ids(demo_data):
    from mmseg.datasets import ADE20KDataset
    classes = ADE20KDataset.METAINFO['classes']
    for name, raw_id in SEG_CLASSES.items():  # raw id k (1-based) is class k - 1 after reduce_zero_label
        assert classes[raw_id - 1].strip() == name
    seen = set()
    ann_dir = osp.join(demo_data['ade20k'], 'annotations', 'training')
    for f in sorted(os.listdir(ann_dir)):
        ann = np.array(Image.open(osp.join(ann_dir, f)))
        assert ann.shape == (64, 64) and ann.dtype == np.uint8
        seen |= set(np.unique(ann).tolist())
    assert seen <= {0, *SEG_CLASSES.values()}
    assert len(seen - {0}) >= 5  # a handful of classes actually present
    assert 0 in seen  # some ignore pixels


def test_mmseg_ade20k_dataset_reads_the_demo_set(demo_data):
    from mmengine.registry import init_default_scope
    from mmseg.datasets import ADE20KDataset
    init_default_scope('mmseg')  # mmseg's LoadAnnotations
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', reduce_zero_label=True)]
    train = ADE20KDataset(data_root=demo_data['ade20k'], pipeline=pipeline,
                          data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'))
    val = ADE20KDataset(data_root=demo_data['ade20k'],
                        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'))
    assert len(train) == 12 and len(val) == 4
    sample = train[0]
    raw = np.array(Image.open(sample['seg_map_path']))
    expected = np.where(raw == 0, 255, raw.astype(int) - 1)  # reduce_zero_label, done by hand
    assert sample['img'].shape == (64, 64, 3)
    np.testing.assert_array_equal(sample['gt_seg_map'], expected)


def test_classes_are_learnable_from_simple_features():
    """A nearest-centroid classifier on coarse colour histograms beats chance (10%) by far."""
    rng = np.random.default_rng(0)

    def feature(img):
        hsv = np.array(Image.fromarray(img).convert('HSV')).reshape(-1, 3).astype(float)
        sat = hsv[hsv[:, 1] > 120]  # the shape's colours; the background is muted
        hist = np.histogram(sat[:, 0], bins=20, range=(0, 256))[0]
        return hist / max(hist.sum(), 1)

    train = [(feature(draw_class_image(c, rng)), c) for c in range(10) for _ in range(8)]
    centroids = np.stack([np.mean([f for f, c in train if c == k], axis=0) for k in range(10)])
    test = [(feature(draw_class_image(c, rng)), c) for c in range(10) for _ in range(5)]
    acc = np.mean([np.argmin(((centroids - f)**2).sum(1)) == c for f, c in test])
    assert acc > 0.6


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='num_classes must be in'):
        make_demo_in1k(str(tmp_path), num_classes=11)
    with pytest.raises(ValueError, match='train_per_class must be >= 1'):
        make_demo_in1k(str(tmp_path), train_per_class=0)
    with pytest.raises(ValueError, match='num_val must be >= 1'):
        make_demo_ade20k(str(tmp_path), num_val=0)


def test_make_demo_data_cli(tmp_path, repo_root):
    import importlib.util
    spec = importlib.util.spec_from_file_location('make_demo_data', osp.join(repo_root, 'tools/make_demo_data.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main(['--out', str(tmp_path), '--only', 'cls', '--num-classes', '2', '--cls-train-per-class', '3',
               '--cls-val-per-class', '1', '--img-size', '32'])
    assert not osp.exists(tmp_path / 'demo_ade20k')
    with Image.open(tmp_path / 'demo_in1k' / 'train' / class_names(2)[1] / f'{class_names(2)[1]}_00002.JPEG') as img:
        assert img.size == (32, 32)


def test_regenerating_fewer_scenes_leaves_exactly_that_many(tmp_path):
    """mmseg lists the whole image folder: a second, smaller run must not leave the first run's
    extra scenes behind (the tool would report 2 scenes while the dataset reads 5)."""
    from mmengine.registry import init_default_scope
    from mmseg.datasets import ADE20KDataset
    root = str(tmp_path / 'ade')
    make_demo_ade20k(root, num_train=5, num_val=3, seed=0)
    keep = tmp_path / 'ade' / 'images' / 'training' / 'notes.txt'
    keep.write_text('not a demo file')
    make_demo_ade20k(root, num_train=2, num_val=1, seed=0)
    init_default_scope('mmseg')
    for folder, num in (('training', 2), ('validation', 1)):
        ds = ADE20KDataset(data_root=root, reduce_zero_label=True,
                           data_prefix=dict(img_path=f'images/{folder}', seg_map_path=f'annotations/{folder}'))
        assert len(ds) == num
        assert len(os.listdir(tmp_path / 'ade' / 'annotations' / folder)) == num
    assert keep.exists()  # only the generator's own files are removed
