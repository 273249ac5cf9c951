"""TimeToTargetHook: curve and first-reach JSON in a short CPU run, clock kept across resume."""
import json
import os.path as osp

import pytest
from mmengine.runner import Runner

from mmdbp.engine.hooks import TimeToTargetHook


def test_records_curve_and_first_reach_of_val_loss(mae_run_cfg, tmp_path):
    work_dir = str(tmp_path / 'run')
    cfg = mae_run_cfg(work_dir=work_dir, max_iters=4, val_interval=2, dbp=True, custom_hooks=[
        dict(type='TimeToTargetHook', monitor='val/val_loss', target=1e9),  # reached at once
        dict(type='TimeToTargetHook', monitor='train/loss', interval=1, smooth_window=2,
             out_file='ttt_train.json')])
    runner = Runner.from_cfg(cfg)
    runner.train()

    with open(osp.join(work_dir, 'time_to_target.json')) as f:
        val = json.load(f)
    assert val['monitor'] == 'val/val_loss' and val['rule'] == 'less'
    assert [p['iter'] for p in val['curve']] == [2, 4]
    hub_val = runner.message_hub.get_scalar('val/val_loss').current()  # what the runner logged last
    assert val['curve'][-1]['value'] == pytest.approx(hub_val)
    assert val['reached']['iter'] == 2 and val['best'] == min(p['value'] for p in val['curve'])
    walls = [p['wall_time'] for p in val['curve']]
    assert 0 < walls[0] < walls[1]
    assert all(0 < p['train_time'] <= p['wall_time'] for p in val['curve'])
    cpu = [p['cpu_time'] for p in val['curve']]
    assert 0 < cpu[0] < cpu[1]

    with open(osp.join(work_dir, 'ttt_train.json')) as f:
        train = json.load(f)
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert [p['iter'] for p in train['curve']] == [1, 2, 3, 4]
    # smoothed over the last 2 iterations, as a moving average computed here by hand
    expected = [losses[0]] + [(losses[i - 1] + losses[i]) / 2 for i in range(1, 4)]
    assert [p['value'] for p in train['curve']] == pytest.approx(expected)
    assert train['reached'] is None  # no target


def test_resume_keeps_the_clock_and_curve(mae_run_cfg, tmp_path):
    hooks = [dict(type='TimeToTargetHook', monitor='val/val_loss')]
    first = Runner.from_cfg(mae_run_cfg(work_dir=str(tmp_path / 'a'), max_iters=2, val_interval=2,
                                        custom_hooks=hooks))
    first.train()
    cfg = mae_run_cfg(work_dir=str(tmp_path / 'a'), max_iters=4, val_interval=2, custom_hooks=hooks)
    cfg.resume = True
    cfg.load_from = str(tmp_path / 'a' / 'iter_2.pth')
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    with open(str(tmp_path / 'a' / 'time_to_target.json')) as f:
        curve = json.load(f)['curve']
    assert [p['iter'] for p in curve] == [2, 4]
    assert curve[1]['wall_time'] > curve[0]['wall_time']  # continues, does not restart at 0
    assert curve[1]['cpu_time'] > curve[0]['cpu_time']


def test_bad_arguments():
    with pytest.raises(ValueError, match='monitor must be "val/<metric>" or "train/<key>"'):
        TimeToTargetHook(monitor='loss')
    with pytest.raises(ValueError, match='rule must be "less" or "greater"'):
        TimeToTargetHook(rule='max')
    assert TimeToTargetHook(monitor='val/mIoU').rule == 'greater'
    assert TimeToTargetHook(monitor='val/val_loss').rule == 'less'


def test_missing_val_metric_names_the_available_ones(mae_run_cfg, tmp_path):
    cfg = mae_run_cfg(work_dir=str(tmp_path / 'b'), max_iters=2, val_interval=2,
                      custom_hooks=[dict(type='TimeToTargetHook', monitor='val/mIoU')])
    with pytest.raises(ValueError, match=r"no 'mIoU'; its metrics are \['val_loss'\]"):
        Runner.from_cfg(cfg).train()
