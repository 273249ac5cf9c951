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

**A time-to-target that load cannot fool.** Two runs measured one after the other (or beside
other jobs) see different machine loads, and their wall-clock ratio then says more about the
load than about the methods. So the ``.md`` has a second table with what load does not change:
per run, the **iterations** to the baseline's best, the **step-cost ratio** of the two arms
measured side by side in one process with alternating rounds (``--step-cost``: the JSON report
of ``tools/benchmark.py RUN_CONFIG --baseline BASELINE_CONFIG``, or the number), the process
**CPU time** to the target, and the **headline ratio = iteration ratio x same-run step-cost
ratio**. When a run's wall-clock per iteration, relative to the baseline's, differs from the
same-run step-cost ratio by more than ``--load-tolerance`` (20%), the machine's load changed
between the runs: a warning is printed and the wall-clock, energy and CO2 ratios are marked
*unreliable* (they stay in the table).

Example::

    python tools/benchmark.py DBP_CONFIG --baseline MAE_CONFIG --batch 32 --device cpu \\
        --no-md --out work_dirs/step_cost.json
    python tools/analysis/compare_runs.py MAE=work_dirs/mae DBP-MAE=work_dirs/dbp_mae \\
        --step-cost work_dirs/step_cost.json --out work_dirs/compare
"""
import argparse
import json
import math
import os
import os.path as osp
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

CLOCK_NAMES = dict(train_time='training time', wall_time='wall-clock', cpu_time='CPU time')
LOAD_TOLERANCE = 0.2  # wall-clock per iteration vs the same-run step-cost ratio


def read_step_cost(spec: str) -> float:
    """Step cost of a run relative to the baseline's (> 1: the run's step costs more), from a
    number or from the JSON report of ``tools/benchmark.py RUN_CONFIG --baseline BASELINE``
    (target = the run): the ratio of the median per-round times of the two, measured side by
    side in alternating rounds; CPU time on CPU (what a step costs whatever else runs), else
    wall-clock."""
    try:
        value = float(spec)
    except ValueError:
        pass
    else:
        if not value > 0:
            raise ValueError(f'compare_runs: a step-cost ratio must be > 0, got {spec}.')
        return value
    if not osp.isfile(spec):
        raise FileNotFoundError(f'compare_runs: --step-cost {spec!r} is neither a number nor a '
                                'file (the JSON report of tools/benchmark.py).')
    with open(spec) as f:
        report = json.load(f)
    results = report.get('results', [])
    if len(results) < 2:
        raise ValueError(f'compare_runs: {spec} has no baseline result; run tools/benchmark.py '
                         'RUN_CONFIG --baseline BASELINE_CONFIG (one process, both arms).')
    target, base = results[0], results[1]
    key = 'round_cpu_s' if str(report.get('device', 'cpu')).startswith('cpu') and \
        target.get('round_cpu_s') and base.get('round_cpu_s') else 'round_s'
    return statistics.median(target[key]) / statistics.median(base[key])


def parse_step_costs(items: Sequence[str], labels: Sequence[str],
                     baseline: str) -> Dict[str, float]:
    """``[LABEL=]NUMBER_OR_JSON`` items -> run label -> step cost relative to the baseline. An
    item without a label belongs to the only run besides the baseline."""
    others = [label for label in labels if label != baseline]
    costs = {baseline: 1.}
    for item in items or ():
        label, sep, value = item.partition('=')
        if not sep or label not in labels:
            if len(others) != 1:
                raise SystemExit(f'compare_runs: say which run --step-cost {item!r} is for '
                                 f'(LABEL=VALUE with LABEL one of {others}).')
            label, value = others[0], item
        costs[label] = read_step_cost(value)
    return costs


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


def wall_per_iter(run: dict) -> Optional[float]:
    """Training wall-clock (validation excluded) per iteration over the whole run."""
    last = run['curve'][-1]
    return last['train_time'] / last['iter'] if last.get('iter') else None


def compare_pair(baseline: dict, run: dict, clock: str, step_cost: Optional[float] = None,
                 tolerance: float = LOAD_TOLERANCE) -> dict:
    """Time / energy / CO2 / iterations of ``run`` and ``baseline`` to the baseline's best value;
    with the same-run ``step_cost`` ratio (run / baseline), the headline ratio (iteration ratio x
    step cost) and whether the wall-clock per iteration disagrees with it (load changed)."""
    target = best_value(baseline)
    base_hit, hit = first_reach(baseline, target), first_reach(run, target)
    out = dict(target=target, best=best_value(run), reached=hit is not None,
               totals=run_totals(run, clock))
    for key, field in (('time', clock), ('energy_kwh', 'energy_kwh'), ('emissions_kg', 'emissions_kg'),
                       ('iters', 'iter'), ('cpu_time', 'cpu_time')):
        value = hit.get(field) if hit else None
        base = base_hit.get(field) if base_hit else None
        out[key] = value
        out[f'{key}_ratio'] = value / base if value is not None and base else None
    out['step_cost'] = step_cost
    out['headline_ratio'] = (out['iters_ratio'] * step_cost
                             if out['iters_ratio'] is not None and step_cost else None)
    run_wall, base_wall = wall_per_iter(run), wall_per_iter(baseline)
    out['wall_per_iter'] = run_wall
    out['wall_per_iter_ratio'] = run_wall / base_wall if run_wall and base_wall else None
    out['load_changed'] = bool(step_cost and out['wall_per_iter_ratio'] is not None and
                               abs(out['wall_per_iter_ratio'] / step_cost - 1.) > tolerance)
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


def compare(runs: List[Tuple[str, List[dict]]], baseline_label: str, clock: str,
            step_costs: Optional[Dict[str, float]] = None,
            tolerance: float = LOAD_TOLERANCE) -> List[dict]:
    """Per group: the mean/std over seeds of every quantity of :func:`compare_pair`, and the
    seeds whose wall-clock per iteration disagrees with the same-run step cost
    (``load_changed``)."""
    groups = dict(runs)
    base = groups[baseline_label]
    step_costs = step_costs or {}
    rows = []
    for label, seeds in runs:
        if len(seeds) != len(base):
            raise ValueError(f'Group {label!r} has {len(seeds)} runs and the baseline '
                             f'{baseline_label!r} {len(base)}: groups are paired seed by seed.')
        cost = 1. if label == baseline_label else step_costs.get(label)
        pairs = [compare_pair(b, r, clock, cost, tolerance) for b, r in zip(base, seeds)]
        row = dict(label=label, seeds=len(seeds), reached=sum(p['reached'] for p in pairs),
                   step_cost=cost, load_changed=[i for i, p in enumerate(pairs)
                                                 if p['load_changed']],
                   pairs=pairs)
        for key in ('best', 'time', 'time_ratio', 'energy_kwh', 'energy_kwh_ratio', 'emissions_kg',
                    'emissions_kg_ratio', 'iters', 'iters_ratio', 'cpu_time', 'cpu_time_ratio',
                    'headline_ratio', 'wall_per_iter', 'wall_per_iter_ratio'):
            row[key] = _mean_std([p[key] for p in pairs])
        for key in ('time', 'energy_kwh', 'emissions_kg'):
            row[f'total_{key}'] = _mean_std([p['totals'][key] for p in pairs])
        row['target'] = _mean_std([p['target'] for p in pairs])
        rows.append(row)
    return rows


def markdown_table(rows: List[dict], monitor: str, clock: str) -> str:
    """Time, energy and CO2 to the baseline's best; the ratios of a run whose wall-clock per
    iteration disagrees with its same-run step cost (load changed) are marked unreliable
    (except a CPU-time ratio, which load hardly changes)."""
    clock_name = CLOCK_NAMES[clock]
    head = (f'| run | seeds | best {monitor} | {clock_name} to baseline best (s) | ratio | '
            'energy to it (kWh) | ratio | CO2 to it (kg) | ratio | total time (s) | '
            'total energy (kWh) | total CO2 (kg) |')
    lines = [head, '|' + '---|' * 12]
    for r in rows:
        reached = '' if r['reached'] == r['seeds'] else f' ({r["reached"]}/{r["seeds"]} reached)'
        flag = ' (unreliable: load changed)' if r.get('load_changed') else ''
        time_flag = flag if clock != 'cpu_time' else ''
        lines.append('| ' + ' | '.join([
            r['label'], str(r['seeds']), _fmt(*r['best'], digits=5),
            _fmt(*r['time'], digits=4) + reached, _fmt(*r['time_ratio'], digits=3) + time_flag,
            _fmt(*r['energy_kwh']), _fmt(*r['energy_kwh_ratio'], digits=3) + flag,
            _fmt(*r['emissions_kg']), _fmt(*r['emissions_kg_ratio'], digits=3) + flag,
            _fmt(*r['total_time']), _fmt(*r['total_energy_kwh']), _fmt(*r['total_emissions_kg'])
        ]) + ' |')
    return '\n'.join(lines) + '\n'


def iterations_table(rows: List[dict]) -> str:
    """What machine load cannot change: iterations to the baseline's best, the same-run
    step-cost ratio, the headline ratio (their product), process CPU time; and the wall-clock
    per iteration, whose ratio should match the step cost when the load stayed the same."""
    lines = ['| run | iterations to baseline best | iteration ratio | step-cost ratio (same run) '
             '| **headline ratio** (iterations x step cost) | CPU time to it (s) | ratio '
             '| wall-clock per iteration (s) | ratio | load check |', '|' + '---|' * 10]
    for r in rows:
        if r['step_cost'] is None:
            check = 'no same-run step cost (--step-cost)'
        elif r['load_changed']:
            seeds = ', '.join(str(i) for i in r['load_changed'])
            check = f'**load changed** (seed pair {seeds}): wall-clock, energy, CO2 unreliable'
        else:
            check = 'ok'
        lines.append('| ' + ' | '.join([
            r['label'], _fmt(*r['iters'], digits=4), _fmt(*r['iters_ratio'], digits=3),
            'n/a' if r['step_cost'] is None else f'{r["step_cost"]:.3f}',
            _fmt(*r['headline_ratio'], digits=3), _fmt(*r['cpu_time'], digits=4),
            _fmt(*r['cpu_time_ratio'], digits=3), _fmt(*r['wall_per_iter'], digits=3),
            _fmt(*r['wall_per_iter_ratio'], digits=3), check]) + ' |')
    return '\n'.join(lines) + '\n'


def load_warnings(rows: List[dict], baseline: str, tolerance: float = LOAD_TOLERANCE) -> List[str]:
    """One warning per run whose wall-clock per iteration (relative to the baseline's) differs
    from its same-run step-cost ratio by more than ``tolerance``."""
    out = []
    for r in rows:
        for i in r['load_changed']:
            p = r['pairs'][i]
            out.append(
                f'WARNING: the machine\'s load changed between the runs: {r["label"]} (seed pair '
                f'{i}) took {p["wall_per_iter_ratio"]:.3g}x the wall-clock per iteration of '
                f'{baseline}, but its step costs {p["step_cost"]:.3g}x as much measured side by '
                f'side in one process (differs by more than {tolerance:.0%}). Its wall-clock, '
                'energy and CO2 ratios are unreliable; the headline ratio (iterations x same-run '
                f'step cost) is {p["headline_ratio"]:.3g}.')
    return out


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
    parser.add_argument('--step-cost', action='append', metavar='[LABEL=]RATIO_OR_JSON',
                        help="a run's step cost relative to the baseline's, measured side by side "
                        'in one process: the JSON report of tools/benchmark.py RUN_CONFIG '
                        '--baseline BASELINE_CONFIG, or the number (repeat per run)')
    parser.add_argument('--load-tolerance', type=float, default=LOAD_TOLERANCE,
                        help='largest accepted relative difference between the wall-clock per '
                        'iteration ratio and the same-run step-cost ratio (default 0.2)')
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
    step_costs = parse_step_costs(args.step_cost, [label for label, _ in spec], baseline)
    rows = compare(runs, baseline, args.clock, step_costs, args.load_tolerance)
    warnings = load_warnings(rows, baseline, args.load_tolerance)
    iters = iterations_table(rows)
    table = markdown_table(rows, monitor, args.clock)
    text = table + '\n' + iters + ''.join('\n' + w + '\n' for w in warnings)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out + '.md', 'w') as f:
        f.write(text)
    plot(runs, rows, monitor, args.clock, args.out + '.png', args.title)
    print(text)
    print(f'[compare_runs] wrote {args.out}.png and {args.out}.md')
    return dict(rows=rows, table=table, iterations_table=iters, warnings=warnings, text=text,
                png=args.out + '.png', md=args.out + '.md')


if __name__ == '__main__':
    try:
        main()
    except FileNotFoundError as err:  # a missing work dir or record: one line, no traceback
        raise SystemExit(f'[compare_runs] {err}') from None
