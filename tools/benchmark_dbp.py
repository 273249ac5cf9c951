"""DBP-MAE benchmarks: step-time overhead, and time / CO2 to the baseline's loss plus mIoU after
UPerNet fine-tuning (the paper's measurements), on the demo data.

Two sub-commands:

``step-time``
    DBP / plain MAE training-step time, measured side by side in one process by the shared
    harness (``tools/benchmark.py``, workloads ``dbp-mae-vit-s16-cpu`` and ``dbp-mae-vit-b16``)::

        python tools/benchmark_dbp.py step-time                       # CPU, ViT-S/16 at 96 px
        python tools/benchmark_dbp.py step-time --device cuda         # ViT-B/16, bf16, batch 256

``time-to-target``
    For every seed, pre-train the baseline MAE and DBP-MAE demo configs (alternating which arm
    runs first), fold/convert both encoders, fine-tune UPerNet from each and read its mIoU; then
    ``tools/analysis/compare_runs.py`` (seeds paired) gives the time / energy / CO2 to the
    baseline's best validation loss, and the mIoU difference is added. Writes
    ``<out>/dbp_mae_time_to_target.{json,md,png}`` (the ``.md`` tables are to be pasted into the
    DBP-MAE section of ``docs/benchmarks.md``) and copies the plot to ``docs/figures/``
    (``--no-md`` to skip the copy)::

        python tools/benchmark_dbp.py time-to-target --seeds 0 1 2

Runs are subprocesses of ``tools/train.py`` with ``--threads`` intra-op threads each: one after
the other (the arms never compete for the CPU), or with ``--parallel`` the two arms of a seed at
the same time (on a machine shared with other jobs, the pair then sees the same load). The table
reports training time and the CPU time of the training process, which other jobs disturb less.
"""
import argparse
import datetime
import json
import os
import os.path as osp
import shutil
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Tuple

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)
PRETRAIN = dict(mae='configs/dbp_mae/mae-baseline_vit-micro-p4_1xb32-300i_demo-in1k.py',
                dbp='configs/dbp_mae/dbp-mae_vit-micro-p4_1xb32-300i_demo-in1k.py')
FINETUNE = dict(mae='configs/dbp_mae/mae-micro_upernet_1xb8-400i_demo-ade20k-64x64.py',
                dbp='configs/dbp_mae/dbp-mae-micro_upernet_1xb8-400i_demo-ade20k-64x64.py')
LABELS = dict(mae='MAE', dbp='DBP-MAE')


def run_all(jobs: List[Tuple[List[str], str]], threads: int) -> None:
    """Run the (command, log) jobs at the same time and wait for all of them."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    t0 = time.time()
    procs = []
    for cmd, log in jobs:
        os.makedirs(osp.dirname(log), exist_ok=True)
        f = open(log, 'w')
        procs.append((subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                                       env=env), f, cmd, log))
    failed = []
    for proc, f, cmd, log in procs:
        proc.wait()
        f.close()
        if proc.returncode:
            failed.append(f'{" ".join(cmd)}\n  see {log}')
        else:
            print(f'[benchmark_dbp] {time.time() - t0:6.0f} s  {" ".join(cmd[1:4])} ... -> {log}',
                  flush=True)
    if failed:
        raise SystemExit('[benchmark_dbp] failed:\n' + '\n'.join(failed))


def latest_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def time_to_target(args) -> None:
    py = sys.executable
    out = osp.abspath(args.out)
    common = ['--cfg-options', f'train_dataloader.num_workers={args.workers}',
              f'val_dataloader.num_workers={args.workers}',
              f'train_dataloader.persistent_workers={args.workers > 0}',
              f'val_dataloader.persistent_workers={args.workers > 0}']
    data = []
    if args.data_root:
        data = [f'train_dataloader.dataset.data_root={args.data_root}/demo_in1k/',
                f'val_dataloader.dataset.data_root={args.data_root}/demo_in1k/']
    seg_data = []
    if args.data_root:
        seg_data = [f'train_dataloader.dataset.data_root={args.data_root}/demo_ade20k',
                    f'val_dataloader.dataset.data_root={args.data_root}/demo_ade20k',
                    f'test_dataloader.dataset.data_root={args.data_root}/demo_ade20k']
    dirs: Dict[str, List[str]] = dict(mae=[], dbp=[])
    miou: Dict[str, List[float]] = dict(mae=[], dbp=[])
    def run_stage(jobs: List[Tuple[List[str], str]]) -> None:
        """Both arms' jobs of one stage: at the same time with --parallel, else in turn."""
        if args.parallel:
            run_all(jobs, args.threads)
        else:
            for job in jobs:
                run_all([job], args.threads)

    for i, seed in enumerate(args.seeds):
        order = ('mae', 'dbp') if i % 2 == 0 else ('dbp', 'mae')  # alternate: cancels drifts
        wds = {arm: osp.join(out, f'{arm}_seed{seed}') for arm in order}
        vits = {arm: osp.join(wds[arm], 'vit_mmseg.pth') for arm in order}
        fts = {arm: osp.join(out, f'upernet_{arm}_seed{seed}') for arm in order}
        log = {arm: osp.join(out, 'logs', f'{arm}_seed{seed}_') for arm in order}
        pretrain = []
        for arm in order:
            dirs[arm].append(wds[arm])
            if not (args.reuse and osp.isfile(osp.join(wds[arm], 'last_checkpoint'))):
                if osp.isdir(wds[arm]):
                    shutil.rmtree(wds[arm])
                pretrain.append((
                    [py, 'tools/train.py', PRETRAIN[arm], '--work-dir', wds[arm]] + common +
                    data + [f'randomness.seed={seed}'] + args.pretrain_options,
                    log[arm] + 'pretrain.log'))
        run_stage(pretrain)
        # the converters read the checkpoints that pre-training has just written
        run_stage([([py, 'tools/model_converters/dbp_mae_to_vit.py',
                     latest_checkpoint(wds[arm]), vits[arm], '--target', 'mmseg'],
                    log[arm] + 'convert.log') for arm in order])
        if args.skip_finetune:
            continue
        finetune = []
        for arm in order:
            if not (args.reuse and osp.isfile(osp.join(fts[arm], 'time_to_target.json'))):
                if osp.isdir(fts[arm]):
                    shutil.rmtree(fts[arm])
                finetune.append((
                    [py, 'tools/train.py', FINETUNE[arm], '--work-dir', fts[arm]] + common +
                    seg_data + [f'model.backbone.init_cfg.checkpoint={vits[arm]}',
                                f'randomness.seed={seed}'] + args.finetune_options,
                    log[arm] + 'upernet.log'))
        run_stage(finetune)
        for arm in order:
            miou[arm].append(
                read_json(osp.join(fts[arm], 'time_to_target.json'))['curve'][-1]['value'])

    sys.path.insert(0, osp.join(HERE, 'analysis'))
    import compare_runs
    prefix = osp.join(out, 'dbp_mae_time_to_target')
    tables = {}
    for clock in ('train_time', 'cpu_time', 'wall_time'):
        result = compare_runs.main([f'MAE={",".join(dirs["mae"])}', f'DBP-MAE={",".join(dirs["dbp"])}',
                                    '--clock', clock, '--out', f'{prefix}_{clock}',
                                    '--title', 'Demo MAE vs DBP-MAE (validation loss, '
                                    f'{len(args.seeds)} seeds)'])
        tables[clock] = result
    shutil.copyfile(f'{prefix}_train_time.png', prefix + '.png')

    def mean_std(v):
        return (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.) if v else (None, None)

    diffs = [d - m for d, m in zip(miou['dbp'], miou['mae'])]
    summary = dict(
        date=datetime.date.today().isoformat(), seeds=args.seeds, threads=args.threads,
        pretrain=PRETRAIN, finetune=FINETUNE, pretrain_options=args.pretrain_options,
        finetune_options=args.finetune_options,
        rows={clock: [{k: v for k, v in r.items()} for r in res['rows']]
              for clock, res in tables.items()},
        miou=dict(mae=miou['mae'], dbp=miou['dbp'], diff=diffs, diff_mean_std=mean_std(diffs)),
        command=' '.join([osp.relpath(sys.argv[0], ROOT)] + sys.argv[1:]))
    with open(prefix + '.json', 'w') as f:
        json.dump(summary, f, indent=1)

    md = [f'Demo data, {len(args.seeds)} seeds ({", ".join(map(str, args.seeds))}), '
          f'{args.threads} thread(s) per run, {summary["date"]}. Time to the baseline\'s best '
          'validation reconstruction loss (seeds paired), training time without validation:', '',
          tables['train_time']['table'], 'Same, CPU time of the training process:', '',
          tables['cpu_time']['table']]
    if not args.skip_finetune:
        m, d = mean_std(miou['mae']), mean_std(diffs)
        md += [f'UPerNet on the demo ADE20K after fine-tuning from each encoder: mIoU MAE '
               f'{m[0]:.2f} ± {m[1]:.2f}, DBP-MAE {mean_std(miou["dbp"])[0]:.2f} ± '
               f'{mean_std(miou["dbp"])[1]:.2f}; difference DBP - MAE {d[0]:+.2f} ± {d[1]:.2f} '
               f'(per seed: {", ".join(f"{x:+.2f}" for x in diffs)}).', '']
    text = '\n'.join(md)
    with open(prefix + '.md', 'w') as f:
        f.write(text)
    print(text)
    if not args.no_md:
        fig_dir = osp.join(ROOT, 'docs', 'figures')
        os.makedirs(fig_dir, exist_ok=True)
        shutil.copyfile(prefix + '.png', osp.join(fig_dir, 'dbp_mae_demo_time_to_target.png'))
        print(f'[benchmark_dbp] plot copied to docs/figures/dbp_mae_demo_time_to_target.png; '
              f'summary in {prefix}.md (paste it into docs/benchmarks.md)')


def step_time(args) -> None:
    workload = 'dbp-mae-vit-b16' if args.device.startswith('cuda') else 'dbp-mae-vit-s16-cpu'
    cmd = [sys.executable, 'tools/benchmark.py', '--workload', workload, '--device', args.device]
    if args.batch:
        cmd += ['--batch', str(args.batch)]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    if args.no_md:
        cmd += ['--no-md']
    subprocess.run(cmd, cwd=ROOT, check=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='DBP-MAE benchmarks')
    sub = p.add_subparsers(dest='command', required=True)
    s = sub.add_parser('step-time', help='DBP / plain MAE step time (shared harness)')
    s.add_argument('--device', default='cpu')
    s.add_argument('--batch', type=int)
    s.add_argument('--threads', type=int)
    s.add_argument('--no-md', action='store_true')
    t = sub.add_parser('time-to-target', help='time/CO2 to the baseline loss + mIoU, demo data')
    t.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    t.add_argument('--out', default='work_dirs/benchmark_dbp')
    t.add_argument('--threads', type=int, default=1, help='intra-op threads per run')
    t.add_argument('--workers', type=int, default=1, help='dataloader workers per run')
    t.add_argument('--data-root', help='parent of demo_in1k/ and demo_ade20k/ (default: data/)')
    t.add_argument('--pretrain-options', nargs='*', default=[],
                   help='extra --cfg-options for both pre-training arms, key=value')
    t.add_argument('--finetune-options', nargs='*', default=[],
                   help='extra --cfg-options for both fine-tuning arms, key=value')
    t.add_argument('--skip-finetune', action='store_true')
    t.add_argument('--reuse', action='store_true', help='keep finished runs of an earlier call')
    t.add_argument('--parallel', action='store_true',
                   help='run the two arms of a seed at the same time (paired under the same load '
                   'of a shared machine; each with --threads threads)')
    t.add_argument('--no-md', action='store_true', help='do not copy the plot into docs/')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.command == 'step-time':
        step_time(args)
    else:
        time_to_target(args)


if __name__ == '__main__':
    main()
