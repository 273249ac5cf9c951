"""Compare training runs by time (and energy, CO2) to reach the baseline's best loss.

Reads what :class:`mmdbp.engine.hooks.TimeToTargetHook` (``time_to_target.json``: the monitored
value vs wall-clock, training time, iteration, energy) and :class:`mmdbp.engine.hooks.EmissionsHook`
(``emissions.json``) wrote into each work dir, and writes

* ``<out>.png``: the monitored value (e.g. validation reconstruction loss) against time, one
  colour per run (group), the baseline's best value as a dashed line;
* ``<out>.md``: a Markdown table with, per run, the best value, the time to reach the baseline's
  best value, the energy and CO2 spent until then, the ratios to the baseline, and the totals.

The first run is the baseline (or ``--baseline LABEL``). A run may be a group of seeds,
``LABEL=DIR1,DIR2,...``: groups are paired seed by seed (the i-th directory of every group with
the i-th of the baseline), each pair measured against its own baseline's best value, and the
table reports the mean (and standard deviation) over seeds.

Example::

    python tools/analysis/compare_runs.py MAE=work_dirs/mae DBP-MAE=work_dirs/dbp_mae \\
        --out work_dirs/compare
"""
import argparse
import json
import math
import os
import os.path as osp
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

CLOCK_NAMES = dict(train_time='training time', wall_time='wall-clock', cpu_time='CPU time')


def load_run(work_dir: str, ttt_file: str = 'time_to_target.json',
             emissions_file: str = 'emissions.json') -> dict:
    """The curve (and emissions summary, if any) of one work dir."""
    path = osp.join(work_dir, ttt_file)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} does not exist: was {work_dir} trained with '
                                'TimeToTargetHook in custom_hooks?')
    with open(path) as f:
        ttt = json.load(f)
    if not ttt.get('curve'):
        raise ValueError(f'{path} has an empty curve: the run recorded no value yet.')
    emissions = None
    path = osp.join(work_dir, emissions_file)
    if osp.isfile(path):
        with open(path) as f:
            emissions = json.load(f)
    return dict(work_dir=work_dir, monitor=ttt['monitor'], rule=ttt.get('rule', 'less'),
                curve=ttt['curve'], emissions=emissions)


def best_value(run: dict) -> float:
    values = [p['value'] for p in run['curve'] if math.isfinite(p['value'])]
    return (min if run['rule'] == 'less' else max)(values)


def first_reach(run: dict, target: float) -> Optional[dict]:
    """First curve point at or beyond ``target`` (in the run's rule), or None."""
    for p in run['curve']:
        v = p['value']
        if math.isfinite(v) and (v <= target if run['rule'] == 'less' else v >= target):
            return p
    return None


def run_totals(run: dict, clock: str) -> dict:
    last = run['curve'][-1]
    totals = dict(time=last[clock], energy_kwh=last.get('energy_kwh'),
                  emissions_kg=last.get('emissions_kg'))
    em = run['emissions']
    if em and em.get('energy_kwh') is not None:  # the hook's final reading covers the whole run
        totals.update(energy_kwh=em['energy_kwh'], emissions_kg=em['emissions_kg'])
    return totals


def compare_pair(baseline: dict, run: dict, clock: str) -> dict:
    """Time / energy / CO2 of ``run`` and ``baseline`` to the baseline's best value."""
    target = best_value(baseline)
    base_hit, hit = first_reach(baseline, target), first_reach(run, target)
    out = dict(target=target, best=best_value(run), reached=hit is not None,
               totals=run_totals(run, clock))
    for key, field in (('time', clock), ('energy_kwh', 'energy_kwh'), ('emissions_kg', 'emissions_kg')):
        value = hit.get(field) if hit else None
        base = base_hit.get(field) if base_hit else None
        out[key] = value
        out[f'{key}_ratio'] = value / base if value is not None and base else None
    return out


def parse_run_args(items: Sequence[str]) -> List[Tuple[str, List[str]]]:
    runs = []
    for item in items:
        label, sep, dirs = item.partition('=')
        if not sep:
            label, dirs = osp.basename(osp.normpath(item)), item
        runs.append((label, [d for d in dirs.split(',') if d]))
    labels = [label for label, _ in runs]
    if len(set(labels)) != len(labels):
        raise ValueError(f'Run labels must be unique, got {labels}; name them LABEL=DIR.')
    return runs


def _mean_std(values: List[Optional[float]]) -> Tuple[Optional[float], Optional[float]]:
    vals = [v for v in values if v is not None]
    if not vals or len(vals) < len(values):
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.)


def _fmt(mean: Optional[float], std: Optional[float], digits: int = 4, unit: str = '') -> str:
    if mean is None:
        return 'n/a'
    text = f'{mean:.{digits}g}{unit}'
    return text + (f' ± {std:.2g}' if std else '')


def compare(runs: List[Tuple[str, List[dict]]], baseline_label: str, clock: str) -> List[dict]:
    """Per group: the mean/std over seeds of every quantity of :func:`compare_pair`."""
    groups = dict(runs)
    base = groups[baseline_label]
    rows = []
    for label, seeds in runs:
        if len(seeds) != len(base):
            raise ValueError(f'Group {label!r} has {len(seeds)} runs and the baseline '
                             f'{baseline_label!r} {len(base)}: groups are paired seed by seed.')
        pairs = [compare_pair(b, r, clock) for b, r in zip(base, seeds)]
        row = dict(label=label, seeds=len(seeds), reached=sum(p['reached'] for p in pairs))
        for key in ('best', 'time', 'time_ratio', 'energy_kwh', 'energy_kwh_ratio', 'emissions_kg',
                    'emissions_kg_ratio'):
            row[key] = _mean_std([p[key] for p in pairs])
        for key in ('time', 'energy_kwh', 'emissions_kg'):
            row[f'total_{key}'] = _mean_std([p['totals'][key] for p in pairs])
        row['target'] = _mean_std([p['target'] for p in pairs])
        rows.append(row)
    return rows


def markdown_table(rows: List[dict], monitor: str, clock: str) -> str:
    clock_name = CLOCK_NAMES[clock]
    head = (f'| run | seeds | best {monitor} | {clock_name} to baseline best (s) | ratio | '
            'energy to it (kWh) | ratio | CO2 to it (kg) | ratio | total time (s) | '
            'total energy (kWh) | total CO2 (kg) |')
    lines = [head, '|' + '---|' * 12]
    for r in rows:
        reached = '' if r['reached'] == r['seeds'] else f' ({r["reached"]}/{r["seeds"]} reached)'
        lines.append('| ' + ' | '.join([
            r['label'], str(r['seeds']), _fmt(*r['best'], digits=5),
            _fmt(*r['time'], digits=4) + reached, _fmt(*r['time_ratio'], digits=3),
            _fmt(*r['energy_kwh']), _fmt(*r['energy_kwh_ratio'], digits=3),
            _fmt(*r['emissions_kg']), _fmt(*r['emissions_kg_ratio'], digits=3),
            _fmt(*r['total_time']), _fmt(*r['total_energy_kwh']), _fmt(*r['total_emissions_kg'])
        ]) + ' |')
    return '\n'.join(lines) + '\n'


def plot(runs: List[Tuple[str, List[dict]]], rows: List[dict], monitor: str, clock: str,
         path: str, title: Optional[str] = None) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for i, (label, seeds) in enumerate(runs):
        for j, run in enumerate(seeds):
            xs = [p[clock] for p in run['curve']]
            ys = [p['value'] for p in run['curve']]
            ax.plot(xs, ys, color=colors[i % len(colors)], alpha=0.9 if len(seeds) == 1 else 0.6,
                    lw=1.5, label=label if j == 0 else None)
    target = rows[0]['target'][0]
    if target is not None:
        seeds = rows[0]['seeds']
        what = f'best, mean of {seeds} seeds' if seeds > 1 else 'best'
        ax.axhline(target, color='gray', ls='--', lw=1,
                   label=f'{rows[0]["label"]} {what} ({target:.4g})')
    ax.set_xlabel(f'{CLOCK_NAMES[clock]} (s)')
    ax.set_ylabel(monitor)
    ax.set_title(title or f'{monitor} vs {CLOCK_NAMES[clock]}')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Loss vs wall-clock plot and time-to-baseline '
                                     'table of several work dirs')
    parser.add_argument('runs', nargs='+', help='work dirs, or LABEL=DIR[,DIR...] (seeds)')
    parser.add_argument('--baseline', help='label of the baseline run (default: the first)')
    parser.add_argument('--clock', choices=['train_time', 'wall_time', 'cpu_time'],
                        default='train_time',
                        help='training time without validation (default), total wall-clock, or '
                        'CPU time of the training process without validation')
    parser.add_argument('--out', default='compare_runs', help='output prefix (.png and .md)')
    parser.add_argument('--title', help='plot title')
    parser.add_argument('--ttt-file', default='time_to_target.json')
    parser.add_argument('--emissions-file', default='emissions.json')
    return parser.parse_args(argv)


def main(argv=None) -> Dict[str, object]:
    args = parse_args(argv)
    spec = parse_run_args(args.runs)
    if len(spec) < 2:
        raise SystemExit('compare_runs: give at least two runs (baseline first).')
    runs = [(label, [load_run(d, args.ttt_file, args.emissions_file) for d in dirs])
            for label, dirs in spec]
    monitors = {r['monitor'] for _, seeds in runs for r in seeds}
    if len(monitors) != 1:
        raise SystemExit(f'compare_runs: the runs monitor different values {sorted(monitors)}.')
    monitor = monitors.pop()
    baseline = args.baseline or spec[0][0]
    if baseline not in dict(spec):
        raise SystemExit(f'compare_runs: --baseline {baseline!r} is not one of {[s[0] for s in spec]}.')
    runs.sort(key=lambda item: item[0] != baseline)  # baseline first
    rows = compare(runs, baseline, args.clock)
    table = markdown_table(rows, monitor, args.clock)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out + '.md', 'w') as f:
        f.write(table)
    plot(runs, rows, monitor, args.clock, args.out + '.png', args.title)
    print(table)
    print(f'[compare_runs] wrote {args.out}.png and {args.out}.md')
    return dict(rows=rows, table=table, png=args.out + '.png', md=args.out + '.md')


if __name__ == '__main__':
    main()
