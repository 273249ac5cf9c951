"""tools/analysis/plot_train_loss.py: only mmengine's training records are plotted."""
import importlib.util
import json
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _tool():
    spec = importlib.util.spec_from_file_location(
        'plot_train_loss', osp.join(ROOT, 'tools', 'analysis', 'plot_train_loss.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(tmp_path, records):
    vis = tmp_path / 'run' / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    (vis / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in records) + '\n')
    return str(tmp_path / 'run')


def test_validation_records_are_not_training_records(tmp_path):
    """Records as mmengine's LoggerHook writes them (keys of a real MAE demo run): training
    iterations (after_train_iter: lr, time, data_time, losses, iter, step) and validation epochs
    (after_val_epoch: the metrics, data_time, time, step; here a val metric named `loss`)."""
    records = [
        dict(base_lr=1e-4, lr=1e-4, data_time=0.004, loss=2.0, time=0.5, iter=10, step=10),
        dict(loss=0.9, data_time=0.08, time=0.6, step=10),  # validation of iteration 10
        dict(base_lr=2e-4, lr=2e-4, data_time=0.005, loss=1.0, time=0.25, iter=20, step=20),
        dict(loss=0.7, data_time=0.05, time=0.4, step=20),
        dict(energy_kwh=1e-4, emissions_kg=3e-5, step=20),
    ]
    run = _tool().load_scalars(_write(tmp_path, records))
    assert run['iter'] == [10, 20] and run['value'] == [2.0, 1.0]
    assert run['time'] == pytest.approx([5.0, 7.5])  # 10 x 0.5 s, then 10 x 0.25 s


def test_hierarchical_keys_and_missing_key(tmp_path):
    """log_with_hierarchy=True: train/<key>; a run without the key is an error."""
    records = [{'train/lr': 1e-4, 'train/loss': 3.0, 'train/time': 1.0, 'iter': 5, 'step': 5},
               {'val/loss': 0.5, 'val/time': 0.1, 'step': 5}]
    tool = _tool()
    work_dir = _write(tmp_path, records)
    run = tool.load_scalars(work_dir)
    assert run['iter'] == [5] and run['value'] == [3.0] and run['time'] == [5.0]
    with pytest.raises(ValueError, match="has no training records with 'acc'"):
        tool.load_scalars(work_dir, key='acc')
