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
    table = open(out + '.md').read()
    assert table == result['table']
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
