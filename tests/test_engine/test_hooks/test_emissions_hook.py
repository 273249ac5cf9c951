"""EmissionsHook: codecarbon's offline tracker in a short CPU run writes the JSON summary; training
continues with a warning when codecarbon fails."""
import json
import os.path as osp

import pytest
from mmengine.runner import Runner

from mmdbp.engine.hooks import EmissionsHook


def test_writes_energy_and_co2_summary(mae_run_cfg, tmp_path):
    work_dir = str(tmp_path / 'run')
    cfg = mae_run_cfg(work_dir=work_dir, max_iters=4, val_interval=2, custom_hooks=[
        dict(type='EmissionsHook', country_iso_code='FRA', interval=2, measure_power_secs=1),
        dict(type='TimeToTargetHook', monitor='val/val_loss')])
    runner = Runner.from_cfg(cfg)
    runner.train()
    with open(osp.join(work_dir, 'emissions.json')) as f:
        summary = json.load(f)
    assert summary['finished'] and summary['failed_reason'] is None
    assert summary['country_iso_code'] == 'FRA' and summary['iter'] == 4
    assert summary['energy_kwh'] > 0 and summary['emissions_kg'] > 0 and summary['duration_s'] > 0
    # every component is accounted for, and CO2 = energy x a positive intensity
    parts = summary['cpu_energy_kwh'] + summary['gpu_energy_kwh'] + summary['ram_energy_kwh']
    assert summary['energy_kwh'] == pytest.approx(parts, rel=1e-6)
    assert runner.message_hub.get_info('emissions/energy_kwh') == pytest.approx(summary['energy_kwh'])
    assert osp.isfile(osp.join(work_dir, 'emissions.csv'))  # codecarbon's own output
    # the time-to-target curve carries the energy spent so far
    with open(osp.join(work_dir, 'time_to_target.json')) as f:
        curve = json.load(f)['curve']
    energies = [p['energy_kwh'] for p in curve]
    assert 0 < energies[0] <= energies[1] <= summary['energy_kwh']


def test_training_continues_when_codecarbon_fails(mae_run_cfg, tmp_path, monkeypatch):
    import codecarbon

    def broken(*args, **kwargs):
        raise OSError('no readable power counters')

    monkeypatch.setattr(codecarbon, 'OfflineEmissionsTracker', broken)
    work_dir = str(tmp_path / 'broken')
    cfg = mae_run_cfg(work_dir=work_dir, max_iters=2, val_interval=2,
                      custom_hooks=[dict(type='EmissionsHook', interval=1)])
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    with open(osp.join(work_dir, 'emissions.json')) as f:
        summary = json.load(f)
    assert summary['failed_reason'] == 'OSError: no readable power counters'
    assert 'energy_kwh' not in summary


def test_bad_arguments():
    with pytest.raises(ValueError, match='3-letter ISO code'):
        EmissionsHook(country_iso_code='FR')
    with pytest.raises(ValueError, match='tracking_mode must be'):
        EmissionsHook(tracking_mode='gpu')
