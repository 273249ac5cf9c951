"""tools/check_data.py lists exactly the unreadable files of a config's datasets, with the dataset
index training would name, exits non-zero if there are any, and says in one line what is missing."""
import importlib.util
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _tool():
    spec = importlib.util.spec_from_file_location('check_data_tool', osp.join(ROOT, 'tools/check_data.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(out):
    rows = {}
    with open(out) as f:
        for line in f:
            path, where, index, reason = line.rstrip('\n').split('\t')
            rows.setdefault(osp.normpath(path), set()).add((where, int(index)))
    return rows


@pytest.mark.parametrize('cfg_file,key,workers', [('demo_in1k_cls.py', 'in1k', 2),
                                                  ('demo_ade20k.py', 'ade20k', 1)])
def test_lists_exactly_the_corrupted_files(cfg_file, key, workers, bad_demo_data, tmp_path, capsys):
    config = osp.join(ROOT, 'configs/_base_/datasets', cfg_file)
    root = bad_demo_data[key]
    out = str(tmp_path / 'bad.tsv')
    opts = [f'{s}_dataloader.dataset.data_root={root}' for s in ('train', 'val', 'test')]
    rc = _tool().main([config, '--workers', str(workers), '--out', out, '--cfg-options', *opts])
    assert rc == 1
    expected = {}
    for split, loader in (('train', 'train_dataloader'), ('val', 'val_dataloader')):
        for path, (index, _) in bad_demo_data['bad'][f'{key}_{split}'].items():
            expected[path] = {(f'{loader}.dataset', index)}
    assert _read(out) == expected  # test_dataloader is val_dataloader: listed once
    printed = capsys.readouterr().out
    assert f'{len(expected)} unreadable' in printed
    for path in expected:
        assert path in printed


def test_only_the_samples_of_a_subset_are_checked(bad_demo_data, tmp_path):
    """A RandomSubsetDataset's unused samples are not read; the index is the wrapped dataset's."""
    from mmengine.config import Config

    from mmdbp.datasets import select_subset
    from mmdbp.datasets.data_scan import scan_config
    bad = bad_demo_data['bad']['in1k_train']
    cfg = Config(dict(default_scope='mmpretrain', train_dataloader=dict(dataset=dict(
        type='RandomSubsetDataset', num_samples=12, seed=3,
        dataset=dict(type='ImageNet', data_root=bad_demo_data['in1k'], split='train',
                     pipeline=[dict(type='LoadCheckedImageFromFile')])))))
    kept = set(select_subset(24, num_samples=12, seed=3))
    num_files, found = scan_config(cfg, ['train'], workers=1)
    assert num_files == 12
    assert {osp.normpath(b.path): b.samples for b in found} == {
        p: [('train_dataloader.dataset.dataset', i)] for p, (i, _) in bad.items() if i in kept}


def test_clean_data_exits_zero(demo_data, capsys):
    config = osp.join(ROOT, 'configs/_base_/datasets/demo_ade20k.py')
    opts = [f'{s}_dataloader.dataset.data_root={demo_data["ade20k"]}' for s in ('train', 'val')]
    assert _tool().main([config, '--splits', 'train', 'val', '--workers', '1', '--cfg-options', *opts]) == 0
    assert '0 unreadable' in capsys.readouterr().out


def test_missing_config_and_data_root_are_one_line_errors(tmp_path, capsys):
    tool = _tool()
    with pytest.raises(SystemExit) as info:
        tool.main([str(tmp_path / 'nope.py')])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count('\n') == 1 and "config '" in err and 'nope.py' in err
    config = osp.join(ROOT, 'configs/_base_/datasets/demo_in1k_cls.py')
    missing = str(tmp_path / 'data' / 'demo_in1k')
    with pytest.raises(SystemExit) as info:
        tool.main([config, '--cfg-options', f'train_dataloader.dataset.data_root={missing}'])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count('\n') == 1
    assert f"data root '{missing}' does not exist" in err and 'make_demo_data.py' in err
