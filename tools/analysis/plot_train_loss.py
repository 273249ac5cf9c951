"""Plot training curves of mmengine runs (from ``<work_dir>/<timestamp>/vis_data/scalars.json``).

Writes one PNG with the chosen key (default ``loss``) against iterations and, on a second panel,
against wall-clock time (the running sum of the logged iteration ``time``), one line per run, and
prints the first and last logged value of each run.

Example::

    python tools/analysis/plot_train_loss.py MAE=work_dirs/demo/mae/pretrain --out loss.png
"""
import argparse
import glob
import json
import os
import os.path as osp
from typing import Dict, List


def is_train_record(rec: dict) -> bool:
    """Whether a ``scalars.json`` record was logged by mmengine's training loop.

    ``LoggerHook.after_train_iter`` writes ``LogProcessor.get_log_after_iter(..., 'train')``,
    the only records with an ``iter`` entry (the global iteration, besides the ``step`` that
    every record has). Validation and test records (``get_log_after_epoch(..., 'val'/'test')``)
    have ``step``, ``time`` and ``data_time`` and their metrics, which may well be called
    ``loss``, but no ``iter``. (With ``log_with_hierarchy=True`` the training keys are
    ``train/<key>`` and ``iter`` stays.)
    """
    return 'iter' in rec


def load_scalars(work_dir: str, key: str = 'loss') -> Dict[str, List[float]]:
    """Training records of the latest run in ``work_dir``: ``{'iter', 'time', key}`` lists
    (:func:`is_train_record`; ``key`` or ``train/<key>``)."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir}: was it trained with '
                                'mmengine and the LocalVisBackend?')
    iters, times, values, clock, last_iter = [], [], [], 0.0, 0
    with open(files[-1]) as f:
        for line in f:
            rec = json.loads(line)
            if not is_train_record(rec):
                continue
            value = rec.get(key, rec.get(f'train/{key}'))
            iter_time = rec.get('time', rec.get('train/time'))
            if value is None or iter_time is None:
                continue
            step = rec.get('iter', rec.get('step'))
            clock += iter_time * (step - last_iter)  # 'time': mean over the logged window
            last_iter = step
            iters.append(step)
            times.append(clock)
            values.append(value)
    if not values:
        raise ValueError(f'{files[-1]} has no training records with {key!r}.')
    return dict(iter=iters, time=times, value=values, file=files[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description='Plot training curves of mmengine work dirs')
    parser.add_argument('runs', nargs='+', help='LABEL=WORK_DIR')
    parser.add_argument('--key', default='loss', help='scalar to plot')
    parser.add_argument('--out', required=True, help='output PNG')
    args = parser.parse_args(argv)

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (ax_it, ax_t) = plt.subplots(1, 2, figsize=(10, 4))
    for spec in args.runs:
        label, _, work_dir = spec.partition('=')
        if not work_dir:
            raise SystemExit(f'runs are LABEL=WORK_DIR, got {spec!r}')
        run = load_scalars(work_dir, args.key)
        ax_it.plot(run['iter'], run['value'], label=label)
        ax_t.plot(run['time'], run['value'], label=label)
        print(f'[plot] {label}: {args.key} {run["value"][0]:.4f} (iter {run["iter"][0]}) -> '
              f'{run["value"][-1]:.4f} (iter {run["iter"][-1]}), {run["time"][-1]:.0f}s of iterations')
    ax_it.set_xlabel('iteration')
    ax_t.set_xlabel('training time (s, logged iteration times)')
    for ax in (ax_it, ax_t):
        ax.set_ylabel(args.key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f'[plot] {args.out}')


if __name__ == '__main__':
    try:
        main()
    except FileNotFoundError as err:  # a missing work dir or log: one line, no traceback
        raise SystemExit(f'[plot_train_loss] {err}') from None
