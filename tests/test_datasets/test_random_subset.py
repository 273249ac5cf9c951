"""RandomSubsetDataset / select_subset: determinism, coverage, stratification, errors."""
import os.path as osp
from collections import Counter

import numpy as np
import pytest

from mmdbp.datasets.random_subset import RandomSubsetDataset, select_subset

IMAGENET_SPLIT = dict(type='ImageNet', split='train')
ADE_TRAIN = dict(type='ADE20KDataset',
                 data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'))


def test_select_subset_is_deterministic_sorted_and_sized():
    a = select_subset(1000, fraction=0.1, seed=7)
    assert a == select_subset(1000, fraction=0.1, seed=7)
    assert a != select_subset(1000, fraction=0.1, seed=8)
    assert len(a) == 100 and len(set(a)) == 100 and a == sorted(a) and 0 <= a[0] and a[-1] < 1000
    assert len(select_subset(7, fraction=0.5)) == 4  # round(3.5) -> 4
    assert len(select_subset(10, fraction=0.01)) == 1  # never empty
    assert select_subset(5, fraction=1.0) == [0, 1, 2, 3, 4]
    assert len(select_subset(50, num_samples=13, seed=1)) == 13


def test_select_subset_is_uniform_over_seeds():
    """Every index is drawn about fraction of the time over many seeds (and all are covered)."""
    counts = Counter(i for seed in range(400) for i in select_subset(40, fraction=0.25, seed=seed))
    assert set(counts) == set(range(40))
    freq = np.array([counts[i] for i in range(40)]) / 400
    assert np.all(np.abs(freq - 0.25) < 0.08)  # binomial sd ~0.022


def test_stratified_keeps_each_class_share():
    rng = np.random.default_rng(0)
    labels = rng.choice(5, size=997, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    for kwargs in (dict(fraction=0.1), dict(fraction=0.37), dict(num_samples=50)):
        keep = select_subset(len(labels), labels=labels, seed=3, **kwargs)
        total = len(keep)
        expected_total = round(kwargs['fraction'] * 997) if 'fraction' in kwargs else 50
        assert total == expected_total
        got = Counter(labels[keep].tolist())
        for c in range(5):
            exact = total * np.sum(labels == c) / len(labels)
            assert abs(got[c] - exact) < 1, (kwargs, c, got[c], exact)
    assert select_subset(len(labels), fraction=0.2, labels=labels, seed=3) == \
        select_subset(len(labels), fraction=0.2, labels=labels, seed=3)


@pytest.mark.parametrize('kwargs, match', [
    (dict(fraction=0.0), r'fraction.*\(0, 1\]'),
    (dict(fraction=1.5), r'fraction.*\(0, 1\]'),
    (dict(fraction=-0.2), r'fraction.*\(0, 1\]'),
    (dict(fraction='0.5'), r'fraction.*\(0, 1\]'),
    (dict(), 'exactly one of `fraction` and `num_samples`'),
    (dict(fraction=0.5, num_samples=3), 'exactly one of `fraction` and `num_samples`'),
    (dict(num_samples=0), 'positive integer'),
    (dict(num_samples=2.5), 'positive integer'),
    (dict(num_samples=11), 'more than the 10 samples'),
    (dict(fraction=0.5, seed=None), 'seed` must be a non-negative integer'),  # numpy: fresh entropy
    (dict(fraction=0.5, seed=-1), 'seed` must be a non-negative integer'),
    (dict(fraction=0.5, seed=1.5), 'seed` must be a non-negative integer'),
])
def test_select_subset_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        select_subset(10, **kwargs)


def test_label_count_mismatch():
    with pytest.raises(ValueError, match='one label per sample'):
        select_subset(10, fraction=0.5, labels=[0, 1])


def _build(cfg, scope):
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope(scope)
    return DATASETS.build(cfg)


def test_wrapper_on_mmpretrain_imagenet(demo_data):
    inner = dict(IMAGENET_SPLIT, data_root=demo_data['in1k'])
    cfg = dict(type='RandomSubsetDataset', dataset=inner, fraction=0.5, seed=1, stratify=True)
    subset, again = _build(cfg, 'mmpretrain'), _build(cfg, 'mmpretrain')  # e.g. two ranks
    full = _build(inner, 'mmpretrain')
    assert len(subset) == 12 and subset.subset_indices == again.subset_indices
    assert [full.get_data_info(i)['img_path'] for i in subset.subset_indices] == \
        [subset.get_data_info(i)['img_path'] for i in range(len(subset))]
    assert Counter(subset.get_cat_ids(i)[0] for i in range(len(subset))) == {c: 3 for c in range(4)}
    assert subset.metainfo == full.metainfo
    assert subset[-1]['gt_label'] == full[subset.subset_indices[-1]]['gt_label']


def test_wrapper_on_mmseg_ade20k_in_a_dataloader(demo_data):
    from mmengine.runner import Runner
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', reduce_zero_label=True),
                dict(type='PackSegInputs')]
    inner = dict(ADE_TRAIN, data_root=demo_data['ade20k'], pipeline=pipeline)
    cfg = dict(type='RandomSubsetDataset', dataset=inner, num_samples=5, seed=0)
    subset = _build(cfg, 'mmseg')
    full = _build(inner, 'mmseg')
    assert len(subset) == 5 and subset.metainfo['classes'] == full.metainfo['classes']
    loader = Runner.build_dataloader(dict(batch_size=2, num_workers=0, dataset=subset,
                                          sampler=dict(type='DefaultSampler', shuffle=False)))
    paths = [s.img_path for batch in loader for s in batch['data_samples']]
    assert paths == [full.get_data_info(i)['img_path'] for i in subset.subset_indices]


def test_wrapper_errors(demo_data):
    with pytest.raises(ValueError, match=r'fraction.*\(0, 1\]'):
        RandomSubsetDataset(dict(IMAGENET_SPLIT, data_root='/nonexistent'), fraction=2)  # before loading
    with pytest.raises(ValueError, match='more than the 24 samples'):
        _build(dict(type='RandomSubsetDataset', num_samples=25,
                    dataset=dict(IMAGENET_SPLIT, data_root=demo_data['in1k'])), 'mmpretrain')
    with pytest.raises(ValueError, match='stratify=True needs'):
        _build(dict(type='RandomSubsetDataset', fraction=0.5, stratify=True,
                    dataset=dict(ADE_TRAIN, data_root=demo_data['ade20k'])), 'mmseg')
    with pytest.raises(ValueError, match='seed` must be a non-negative integer'):
        RandomSubsetDataset(dict(IMAGENET_SPLIT, data_root='/nonexistent'), fraction=0.5, seed=None)
    with pytest.raises(TypeError, match='must be a dataset or a config dict'):
        RandomSubsetDataset([1, 2, 3], fraction=0.5)


def test_lazy_init(demo_data):
    subset = _build(dict(type='RandomSubsetDataset', fraction=0.25, lazy_init=True,
                         dataset=dict(IMAGENET_SPLIT, data_root=demo_data['in1k'], lazy_init=True)),
                    'mmpretrain')
    assert subset.subset_indices == []
    assert len(subset) == 6 and len(subset.subset_indices) == 6


def test_make_subset_matches_the_wrapper(demo_data, repo_root, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location('make_subset', osp.join(repo_root, 'tools/make_subset.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    # ImageNet layout: the written ann file lists exactly the wrapper's samples
    out = tool.main(['--layout', 'imagenet', '--data-root', demo_data['in1k'], '--split', 'train',
                     '--fraction', '0.5', '--seed', '2', '--stratify', '--out', str(tmp_path / 'in1k.txt')])
    from_file = _build(dict(IMAGENET_SPLIT, data_root=demo_data['in1k'], ann_file=out), 'mmpretrain')
    wrapped = _build(dict(type='RandomSubsetDataset', fraction=0.5, seed=2, stratify=True,
                          dataset=dict(IMAGENET_SPLIT, data_root=demo_data['in1k'])), 'mmpretrain')
    assert [from_file.get_data_info(i)['img_path'] for i in range(len(from_file))] == \
        [wrapped.get_data_info(i)['img_path'] for i in range(len(wrapped))]

    # ADE20K layout: default output under <root>/subsets, read back through ann_file
    out = tool.main(['--layout', 'ade20k', '--data-root', demo_data['ade20k'], '--split', 'training',
                     '--num-samples', '4', '--seed', '5'])
    assert out == osp.join(demo_data['ade20k'], 'subsets', 'training_4-seed5.txt')
    from_file = _build(dict(ADE_TRAIN, data_root=demo_data['ade20k'], ann_file='subsets/training_4-seed5.txt'),
                       'mmseg')
    wrapped = _build(dict(type='RandomSubsetDataset', num_samples=4, seed=5,
                          dataset=dict(ADE_TRAIN, data_root=demo_data['ade20k'])), 'mmseg')
    assert [(d['img_path'], d['seg_map_path']) for d in map(from_file.get_data_info, range(4))] == \
        [(wrapped.get_data_info(i)['img_path'], wrapped.get_data_info(i)['seg_map_path']) for i in range(4)]

    with pytest.raises(SystemExit, match='more than the 12 samples'):
        tool.main(['--layout', 'ade20k', '--data-root', demo_data['ade20k'], '--split', 'training',
                   '--num-samples', '13'])
    with pytest.raises(SystemExit, match=r'\(0, 1\]'):
        tool.main(['--layout', 'imagenet', '--data-root', demo_data['in1k'], '--split', 'train',
                   '--fraction', '1.5'])


def test_make_subset_stratify_on_an_unlabelled_list_names_the_line(repo_root, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location('make_subset', osp.join(repo_root, 'tools/make_subset.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    (tmp_path / 'meta').mkdir()
    (tmp_path / 'meta' / 'test.txt').write_text('a/1.JPEG 0\nb/2.JPEG\n')
    args = ['--layout', 'imagenet', '--data-root', str(tmp_path), '--split', 'test', '--fraction', '0.5']
    with pytest.raises(SystemExit, match=r"needs '<path> <label>' lines, but line 2 .* 'b/2.JPEG'"):
        tool.main(args + ['--stratify'])
    assert tool.main(args)  # without --stratify the list needs no labels
