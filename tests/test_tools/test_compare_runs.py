"""tools/analysis/compare_runs.py: PNG + Markdown table with time/energy/CO2 to the baseline's best
loss, checked against ratios worked out by hand on synthetic curves."""
import importlib.util
import json
import os
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool():
    path = osp.join(ROOT, 'tools', 'analysis', 'compare_runs.py')
    spec = importlib.util.spec_from_file_location('compare_runs', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(work_dir, values, times, energy_per_s=0.01, intensity=0.5):
    os.makedirs(work_dir, exist_ok=True)
    curve = [dict(iter=10 * (i + 1), value=v, train_time=t, wall_time=t + 1.,
                  energy_kwh=energy_per_s * t, emissions_kg=intensity * energy_per_s * t)
             for i, (v, t) in enumerate(zip(values, times))]
    with open(osp.join(work_dir, 'time_to_target.json'), 'w') as f:
        json.dump(dict(monitor='val/loss', rule='less', curve=curve), f)
    with open(osp.join(work_dir, 'emissions.json'), 'w') as f:
        json.dump(dict(energy_kwh=energy_per_s * times[-1] * 1.1,
                       emissions_kg=intensity * energy_per_s * times[-1] * 1.1), f)


def test_table_and_plot_of_two_runs(tmp_path):
    base, dbp = str(tmp_path / 'mae'), str(tmp_path / 'dbp')
    write_run(base, [3.0, 2.0, 1.5, 1.2], [10., 20., 30., 40.])  # best 1.2 at 40 s
    write_run(dbp, [2.5, 1.6, 1.1, 1.0], [11., 22., 33., 44.], energy_per_s=0.02)  # <= 1.2 at 33 s
    out = str(tmp_path / 'cmp' / 'compare')
    result = load_tool().main([f'MAE={base}', f'DBP-MAE={dbp}', '--out', out])
    assert osp.getsize(out + '.png') > 1000
    with open(out + '.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert open(out + '.md').read() == result['text']
    table = result['table']
    mae_row, dbp_row = table.strip().splitlines()[2:]
    cells = [c.strip() for c in dbp_row.strip('|').split('|')]
    assert cells[0] == 'DBP-MAE' and cells[2] == '1'  # best loss
    assert float(cells[3]) == 33. and float(cells[4]) == pytest.approx(33 / 40, abs=1e-3)
    # energy to target: 0.02 * 33 vs 0.01 * 40; CO2 scales the same way
    assert float(cells[5]) == pytest.approx(0.66) and float(cells[6]) == pytest.approx(1.65, abs=1e-3)
    assert float(cells[8]) == pytest.approx(1.65, abs=1e-3)
    assert float(cells[10]) == pytest.approx(0.02 * 44 * 1.1)  # the emissions hook's total
    cells = [c.strip() for c in mae_row.strip('|').split('|')]
    assert cells[0] == 'MAE' and float(cells[3]) == 40. and float(cells[4]) == 1.


def test_seed_groups_are_paired_and_averaged(tmp_path):
    dirs = {}
    for arm, times in (('mae', (40., 50.)), ('dbp', (30., 25.))):
        for seed, t in enumerate(times):
            d = str(tmp_path / f'{arm}{seed}')
            write_run(d, [2.0, 1.0], [t / 2, t])
            dirs.setdefault(arm, []).append(d)
    out = str(tmp_path / 'cmp')
    rows = load_tool().main([f'MAE={",".join(dirs["mae"])}', f'DBP={",".join(dirs["dbp"])}',
                             '--out', out])['rows']
    dbp = rows[1]
    assert dbp['seeds'] == 2 and dbp['reached'] == 2
    assert dbp['time_ratio'][0] == pytest.approx((30 / 40 + 25 / 50) / 2)
    assert dbp['time'][0] == pytest.approx(27.5)


def test_errors(tmp_path):
    tool = load_tool()
    write_run(str(tmp_path / 'a'), [1.], [1.])
    with pytest.raises(FileNotFoundError, match='trained with TimeToTargetHook'):
        tool.main([str(tmp_path / 'a'), str(tmp_path / 'missing')])
    with pytest.raises(SystemExit, match='at least two runs'):
        tool.main([str(tmp_path / 'a')])


# ---------------------------------------------------------------- load cannot fool it ----
def write_curve(work_dir, iters, values, wall_per_iter, cpu_per_iter, energy_per_s=0.01):
    """A run validated at ``iters`` with a constant wall-clock and CPU time per iteration."""
    os.makedirs(work_dir, exist_ok=True)
    curve = [dict(iter=i, value=v, train_time=wall_per_iter * i, wall_time=wall_per_iter * i + 5,
                  cpu_time=cpu_per_iter * i, energy_kwh=energy_per_s * wall_per_iter * i,
                  emissions_kg=0.5 * energy_per_s * wall_per_iter * i)
             for i, v in zip(iters, values)]
    with open(osp.join(work_dir, 'time_to_target.json'), 'w') as f:
        json.dump(dict(monitor='val/val_loss', rule='less', curve=curve), f)


def write_step_cost(path, target_cpu, base_cpu, target_wall=None, base_wall=None):
    """A tools/benchmark.py report (target = the run, then the baseline), rounds given."""
    report = dict(device='cpu', iters=5, results=[
        dict(name='target', round_s=target_wall or target_cpu, round_cpu_s=target_cpu),
        dict(name='baseline', round_s=base_wall or base_cpu, round_cpu_s=base_cpu)])
    with open(path, 'w') as f:
        json.dump(report, f)


def test_slowed_arm_is_flagged_and_headline_uses_iterations_and_same_run_cost(tmp_path):
    """The DBP arm reaches the MAE arm's best (0.5 at iteration 300) at iteration 200, its step
    costs 1.05x MAE's side by side; but it ran while the machine was 3x as loaded (3.15x the
    wall-clock per iteration). Headline = 200/300 x 1.05 = 0.7; the wall-clock ratio (2.1) is
    flagged, the CPU-time ratio is not."""
    iters = [100, 200, 300]
    mae, dbp = str(tmp_path / 'mae'), str(tmp_path / 'dbp')
    write_curve(mae, iters, [0.9, 0.7, 0.5], wall_per_iter=1.0, cpu_per_iter=0.5)
    write_curve(dbp, iters, [0.8, 0.5, 0.4], wall_per_iter=3.15, cpu_per_iter=0.525)
    cost = str(tmp_path / 'step_cost.json')
    # medians 2.1 vs 2.0 (the outlying rounds must not matter): 1.05
    write_step_cost(cost, target_cpu=[2.1, 9.0, 2.0, 2.2, 2.1], base_cpu=[2.0, 1.0, 2.0, 2.1, 1.9])
    out = str(tmp_path / 'cmp')
    result = load_tool().main([f'MAE={mae}', f'DBP-MAE={dbp}', '--step-cost', cost, '--out', out])
    base_row, row = result['rows']
    assert row['step_cost'] == pytest.approx(1.05)
    assert row['iters'][0] == 200 and row['iters_ratio'][0] == pytest.approx(2 / 3)
    assert row['headline_ratio'][0] == pytest.approx(0.7)
    assert row['cpu_time_ratio'][0] == pytest.approx(200 * 0.525 / (300 * 0.5))
    assert row['time_ratio'][0] == pytest.approx(200 * 3.15 / 300)  # measured, kept in the table
    assert row['wall_per_iter_ratio'][0] == pytest.approx(3.15)
    assert row['load_changed'] == [0] and base_row['load_changed'] == []
    assert len(result['warnings']) == 1
    warning = result['warnings'][0]
    assert "load changed" in warning and 'DBP-MAE' in warning and '0.7' in warning
    # main table: the wall-clock, energy and CO2 ratios of DBP-MAE are marked, MAE's are not
    mae_line, dbp_line = result['table'].strip().splitlines()[2:]
    cells = [c.strip() for c in dbp_line.strip('|').split('|')]
    assert all('unreliable' in cells[i] for i in (4, 6, 8))
    assert 'unreliable' not in mae_line
    iter_line = result['iterations_table'].strip().splitlines()[3]
    cells = [c.strip() for c in iter_line.strip('|').split('|')]
    assert cells[0] == 'DBP-MAE' and float(cells[1]) == 200 and float(cells[3]) == 1.05
    assert float(cells[4]) == pytest.approx(0.7) and 'load changed' in cells[9]
    assert 'WARNING' in open(out + '.md').read()

    # CPU-time clock: its own ratio is not marked, energy and CO2 still are
    result = load_tool().main([f'MAE={mae}', f'DBP-MAE={dbp}', '--step-cost', '1.05',
                               '--clock', 'cpu_time', '--out', out])
    cells = [c.strip() for c in result['table'].strip().splitlines()[3].strip('|').split('|')]
    assert 'unreliable' not in cells[4] and 'unreliable' in cells[6] and 'unreliable' in cells[8]


@pytest.mark.parametrize('wall_per_iter,flagged', [(1.15, False), (0.95, False), (1.30, True),
                                                   (0.80, True)])
def test_load_check_tolerance_is_20_percent_of_the_same_run_ratio(tmp_path, wall_per_iter,
                                                                   flagged):
    """Step cost 1.05: wall-clock per iteration ratios within [0.84, 1.26] pass."""
    iters = [100, 200]
    mae, dbp = str(tmp_path / 'mae'), str(tmp_path / 'dbp')
    write_curve(mae, iters, [0.9, 0.5], wall_per_iter=1.0, cpu_per_iter=1.0)
    write_curve(dbp, iters, [0.5, 0.4], wall_per_iter=wall_per_iter, cpu_per_iter=1.05)
    result = load_tool().main([f'MAE={mae}', f'DBP={dbp}', '--step-cost', 'DBP=1.05',
                               '--out', str(tmp_path / 'cmp')])
    assert bool(result['warnings']) is flagged
    assert result['rows'][1]['headline_ratio'][0] == pytest.approx(0.5 * 1.05)


def test_seed_pairs_headline_and_without_step_cost(tmp_path):
    mae, dbp = [], []
    for seed, (hit, wall) in enumerate(((150, 1.0), (250, 1.1))):
        mae.append(str(tmp_path / f'mae{seed}'))
        dbp.append(str(tmp_path / f'dbp{seed}'))
        write_curve(mae[-1], [50, 150, 250, 300], [0.9, 0.8, 0.7, 0.6], 1.0, 1.0)
        values = [0.9 if i < hit else 0.55 for i in (50, 150, 250, 300)]
        write_curve(dbp[-1], [50, 150, 250, 300], values, wall, 1.0)
    args = [f'MAE={",".join(mae)}', f'DBP={",".join(dbp)}', '--out', str(tmp_path / 'cmp')]
    row = load_tool().main(args + ['--step-cost', '1.1'])['rows'][1]
    ratios = [150 / 300 * 1.1, 250 / 300 * 1.1]
    assert row['headline_ratio'][0] == pytest.approx(sum(ratios) / 2)
    assert row['load_changed'] == []  # seed 0: 1.0 vs 1.1 (9% off), seed 1: 1.1 vs 1.1
    result = load_tool().main(args)  # no same-run step cost: no headline, no load check
    assert result['rows'][1]['headline_ratio'] == (None, None) and not result['warnings']
    assert 'no same-run step cost' in result['iterations_table']


def test_step_cost_errors(tmp_path):
    tool = load_tool()
    for arm in ('a', 'b', 'c'):
        write_curve(str(tmp_path / arm), [10], [1.], 1., 1.)
    runs = [f'{arm}={tmp_path / arm}' for arm in ('a', 'b', 'c')]
    with pytest.raises(SystemExit, match='say which run'):
        tool.main(runs + ['--step-cost', '1.1', '--out', str(tmp_path / 'x')])
    with pytest.raises(FileNotFoundError, match='neither a number nor a file'):
        tool.main(runs[:2] + ['--step-cost', str(tmp_path / 'nope.json'), '--out',
                              str(tmp_path / 'x')])
    with pytest.raises(ValueError, match='must be > 0'):
        tool.main(runs[:2] + ['--step-cost', '0', '--out', str(tmp_path / 'x')])
