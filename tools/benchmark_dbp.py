"""DBP-MAE benchmarks: step-time overhead (measured, and counted analytically), and time / CO2 to
the baseline's loss plus mIoU after UPerNet fine-tuning (the paper's measurements), on the demo
data.

Three sub-commands:

``analytic``
    DBP's extra multiply-adds per optimiser step (fold ``W R``, statistics, R update), per kind
    of layer and in all, against the plain step's, for any config and batch; ``--levers`` adds a
    row per cost lever (update interval, sample fraction, layers left out). The plain step and
    the input rows of every layer are counted on one step at ``--probe-batch`` and scaled to
    ``--batch``::

        python tools/benchmark_dbp.py analytic --batch 256 --levers      # ViT-B/16 DBP-MAE
        python tools/benchmark_dbp.py analytic --workload dbp-mae-vit-s16-224px-b128-cpu --levers

``levers``
    The plain MAE and DBP under the config's settings and under each lever, side by side in one
    process with alternating rounds (CPU time ratios to MAE, load average before and after)::

        python tools/benchmark_dbp.py levers --levers 0 3 5     # CPU proxy of ViT-B/16 batch 256

``layer-corr``
    Mean |off-diagonal correlation| of every DBP layer's input on validation images, for
    pre-training checkpoints: ``x`` for a plain MAE checkpoint (how much there is to
    decorrelate), ``z = R x`` for a DBP one::

        python tools/benchmark_dbp.py layer-corr MAE=work_dirs/mae/iter_300.pth \\
            DBP-MAE=work_dirs/dbp/iter_300.pth

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
import functools
import json
import os
import os.path as osp
import re
import shutil
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import DictAction

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)
sys.path.insert(0, ROOT)  # run from a checkout without installing
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
    name = dict(mae='mae', dbp='dbp' + (f'-{args.dbp_tag}' if args.dbp_tag else ''))
    # the step cost of the two arms, side by side in one process (alternating rounds): with the
    # iterations to the target it gives a time-to-target ratio that machine load cannot fool
    step_cost = osp.join(out, f'step_cost_{name["dbp"]}.json')
    if not (args.reuse and osp.isfile(step_cost)):
        run_all([([py, 'tools/benchmark.py', PRETRAIN['dbp'], '--baseline', PRETRAIN['mae'],
                   '--batch', str(args.step_cost_batch), '--device', 'cpu', '--amp', 'none',
                   '--iters', '10', '--rounds', '3', '--warmup', '2', '--no-flops', '--no-md',
                   '--out', step_cost] +
                  (['--target-options'] + args.dbp_options if args.dbp_options else []),
                  osp.join(out, 'logs', f'step_cost_{name["dbp"]}.log'))], args.threads)

    def run_stage(jobs: List[Tuple[List[str], str]]) -> None:
        """Both arms' jobs of one stage: at the same time with --parallel, else in turn."""
        if args.parallel:
            run_all(jobs, args.threads)
        else:
            for job in jobs:
                run_all([job], args.threads)

    for i, seed in enumerate(args.seeds):
        order = ('mae', 'dbp') if i % 2 == 0 else ('dbp', 'mae')  # alternate: cancels drifts
        wds = {arm: osp.join(out, f'{name[arm]}_seed{seed}') for arm in order}
        vits = {arm: osp.join(wds[arm], 'vit_mmseg.pth') for arm in order}
        fts = {arm: osp.join(out, f'upernet_{name[arm]}_seed{seed}') for arm in order}
        log = {arm: osp.join(out, 'logs', f'{name[arm]}_seed{seed}_') for arm in order}
        pretrain = []
        for arm in order:
            dirs[arm].append(wds[arm])
            if not (args.reuse and osp.isfile(osp.join(wds[arm], 'last_checkpoint'))):
                if osp.isdir(wds[arm]):
                    shutil.rmtree(wds[arm])
                pretrain.append((
                    [py, 'tools/train.py', PRETRAIN[arm], '--work-dir', wds[arm]] + common +
                    data + [f'randomness.seed={seed}'] + args.pretrain_options +
                    (args.dbp_options if arm == 'dbp' else []),
                    log[arm] + 'pretrain.log'))
        run_stage(pretrain)
        if args.skip_finetune:
            continue  # the converted encoders are only needed for fine-tuning
        # the converters read the checkpoints that pre-training has just written
        run_stage([([py, 'tools/model_converters/dbp_mae_to_vit.py',
                     latest_checkpoint(wds[arm]), vits[arm], '--target', 'mmseg'],
                    log[arm] + 'convert.log') for arm in order])
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
    prefix = osp.join(out, 'dbp_mae_time_to_target' + (f'_{args.dbp_tag}' if args.dbp_tag else ''))
    tables = {}
    for clock in ('train_time', 'cpu_time', 'wall_time'):
        result = compare_runs.main([f'MAE={",".join(dirs["mae"])}', f'DBP-MAE={",".join(dirs["dbp"])}',
                                    '--clock', clock, '--out', f'{prefix}_{clock}',
                                    '--step-cost', step_cost,
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
        finetune_options=args.finetune_options, dbp_options=args.dbp_options,
        step_cost=step_cost, warnings=tables['train_time']['warnings'],
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
          tables['cpu_time']['table'], 'Iterations to the baseline\'s best, the step-cost ratio '
          'of the two arms measured side by side in one process (`tools/benchmark.py`, '
          'alternating rounds, CPU time), and the headline ratio = iteration ratio x same-run '
          'step-cost ratio:', '', tables['train_time']['iterations_table']]
    md += [w + '\n' for w in tables['train_time']['warnings']]
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


# --------------------------------------------------------------------------------------------
# analytic: DBP's extra multiply-adds per step, per layer and in all
# --------------------------------------------------------------------------------------------
DBP_B = 'configs/dbp_mae/dbp-mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k.py'
FC2 = r'mlp\.fc2$|ffn\.layers\.1$'  # the MLP's second linear (FastMAEViT / mmpretrain's MAE)
# (label, DBP settings that differ from the config's): the cost levers of docs/benchmarks.md
LEVERS = [
    ('every step (paper)', dict(update_interval=1)),
    ('every 2 steps', dict(update_interval=2)),
    ('every 4 steps', dict(update_interval=4)),
    ('every 8 steps', dict(update_interval=8)),
    ('every step, sample_frac 0.05', dict(update_interval=1, sample_frac=0.05)),
    ('every step, fc2 left out', dict(update_interval=1, exclude=[FC2])),
    ('every 4 steps, fc2 left out', dict(update_interval=4, exclude=[FC2])),
]
# relative cost of a multiply-add on an H100 against the step's bf16 ones: the fold runs in the
# autocast dtype (bf16), the statistics and update in TF32 (half the bf16 tensor-core peak)
GPU_WEIGHTS = dict(fold=1., stats=2., update=2.)


def layer_extra_macs(d_in: int, d_out: int, rows: float, sample_frac: float,
                     update_interval: int = 1) -> Dict[str, float]:
    """Multiply-adds DBP adds per optimiser step to one layer with ``rows`` input rows per step
    (the cost model of :mod:`mmdbp.models.utils.decorrelation`).

    * ``fold``: forming ``W R`` (d_out d_in^2) and ``dL/dW = dL/dW_eff R^T`` in the backward
      (d_out d_in^2); with fewer rows than ``d_out`` the explicit ``R x`` and its backward
      (2 rows d_in^2) run instead.
    * ``stats``: ``z = R x`` on the ``n = round(sample_frac / update_interval x rows)`` sampled
      rows of each step.
    * ``update``: ``z^T z R`` on the ``N = n x update_interval`` rows pooled over an interval in
      the cheaper order (``z^T (z R)``: 2 N d_in^2 when N < d_in, else ``(z^T z) R``:
      N d_in^2 + d_in^3), once every ``update_interval`` steps.
    """
    fold = 2. * min(rows, d_out) * d_in**2
    n = max(1., round(rows * sample_frac / update_interval))
    pooled = n * update_interval
    update = pooled * d_in**2 + d_in**3 if pooled >= d_in else 2. * pooled * d_in**2
    return dict(fold=fold, stats=n * d_in**2, update=update / update_interval)


def extra_macs(layers: Sequence[Tuple[str, int, int, float]], sample_frac: float,
               update_interval: int = 1) -> Dict[str, float]:
    """:func:`layer_extra_macs` summed over the layers ``(name, d_in, d_out, rows)``."""
    total = dict(fold=0., stats=0., update=0.)
    for _, d_in, d_out, rows in layers:
        for key, value in layer_extra_macs(d_in, d_out, rows, sample_frac,
                                           update_interval).items():
            total[key] += value
    return total


def _conv_positions(module, x) -> int:
    """Output positions per image of a Conv2d on input ``x`` (N, C, H, W)."""
    size = 1
    for i, n in enumerate(x.shape[-2:]):
        k, s, p, d = (module.kernel_size[i], module.stride[i], module.padding[i],
                      module.dilation[i])
        size *= (n + 2 * p - d * (k - 1) - 1) // s + 1
    return size


def step_profile(config: str, batch: int, cfg_options: Optional[dict] = None,
                 probe_batch: int = 2) -> dict:
    """One plain (DBP not attached) training step of ``config`` at ``probe_batch``, counted and
    scaled linearly to ``batch`` (an MAE step is linear in the batch): its multiply-adds, the
    input rows per step of every Linear / Conv2d layer, and the config's DBP settings."""
    import torch.nn as nn

    from mmdbp.utils.benchmark import StepRunner, count_flops, prepare_config
    cfg = prepare_config(config, cfg_options=cfg_options, amp='none', device='cpu')
    ow = cfg.optim_wrapper
    dbp = {k: ow[k] for k in ('sample_frac', 'update_interval', 'include', 'exclude',
                             'layer_types') if k in ow}
    runner = StepRunner(cfg, probe_batch, 'train', 'cpu')
    wrapper = getattr(runner.optim_wrapper, 'inner', runner.optim_wrapper)  # plain step
    rows: Dict[str, float] = {}

    def count_rows(name, module, args):
        x = args[0]
        n = (x.shape[0] * _conv_positions(module, x) if isinstance(module, nn.Conv2d)
             else x.numel() // x.shape[-1])
        rows[name] = rows.get(name, 0.) + n

    handles = [m.register_forward_pre_hook(functools.partial(count_rows, name))
               for name, m in runner.model.named_modules()
               if isinstance(m, (nn.Linear, nn.Conv2d))]
    with runner._scope():
        flops = count_flops(lambda: runner.model.train_step(runner.batch, wrapper))
    for h in handles:
        h.remove()
    scale = batch / probe_batch
    return dict(step_macs=flops / 2 * scale, rows={k: v * scale for k, v in rows.items()},
                model=runner.model, dbp=dbp, batch=batch)


def lever_table(profile: dict, levers: Sequence[Tuple[str, dict]]) -> Tuple[List[dict], str]:
    """DBP's extra multiply-adds for each lever (DBP settings over the config's), as rows and as
    a Markdown table (GMAC per step, % of the plain step, and % weighted by GPU_WEIGHTS)."""
    from mmdbp.models.utils.decorrelation import DEFAULT_INCLUDE, select_layers
    step = profile['step_macs']
    rows = []
    for label, over in levers:
        s = {**dict(sample_frac=0.1, update_interval=1, include=list(DEFAULT_INCLUDE),
                    exclude=[], layer_types=['Linear']), **profile['dbp'], **over}
        layers = [(name, m.weight[0].numel(), m.weight.shape[0], profile['rows'][name])
                  for name, m in select_layers(profile['model'], s['include'], s['exclude'],
                                               s['layer_types'])
                  if profile['rows'].get(name)]
        macs = extra_macs(layers, s['sample_frac'], s['update_interval'])
        total = sum(macs.values())
        gpu = sum(GPU_WEIGHTS[k] * v for k, v in macs.items())
        rows.append(dict(label=label, settings=s, layers=len(layers), **macs, total=total,
                         percent=100 * total / step, gpu_percent=100 * gpu / step))
    lines = [f'Plain step: {step / 1e9:.4g} GMAC (forward + backward, batch {profile["batch"]})',
             '', '| DBP setting | sample_frac | update_interval | layers | fold | statistics '
             '| update | extra GMAC | % of the step | % H100-weighted |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        s = r['settings']
        pct = lambda k: f'{r[k] / 1e9:.4g} ({100 * r[k] / step:.2f}%)'  # noqa: E731
        lines.append(f'| {r["label"]} | {s["sample_frac"]:g} | {s["update_interval"]} | '
                     f'{r["layers"]} | {pct("fold")} | {pct("stats")} | {pct("update")} | '
                     f'{r["total"] / 1e9:.4g} | **{r["percent"]:.2f}%** | {r["gpu_percent"]:.2f}% |')
    return rows, '\n'.join(lines) + '\n'


def per_layer_table(profile: dict, settings: Optional[dict] = None) -> str:
    """The config's DBP cost per kind of layer (names with the block index replaced by ``*``)."""
    from mmdbp.models.utils.decorrelation import DEFAULT_INCLUDE, select_layers
    s = {**dict(sample_frac=0.1, update_interval=1, include=list(DEFAULT_INCLUDE), exclude=[],
                layer_types=['Linear']), **profile['dbp'], **(settings or {})}
    groups: Dict[str, dict] = {}
    for name, m in select_layers(profile['model'], s['include'], s['exclude'],
                                 s['layer_types']):
        rows = profile['rows'].get(name)
        if not rows:
            continue
        d_in, d_out = m.weight[0].numel(), m.weight.shape[0]
        key = re.sub(r'\.\d+\.', '.*.', name)
        g = groups.setdefault(key, dict(count=0, d_in=d_in, d_out=d_out, rows=rows, fold=0.,
                                        stats=0., update=0.))
        g['count'] += 1
        for k, v in layer_extra_macs(d_in, d_out, rows, s['sample_frac'],
                                     s['update_interval']).items():
            g[k] += v
    step = profile['step_macs']
    lines = ['| layers | count | d_in x d_out | rows per step | fold | statistics | update '
             '| % of the step |', '|---|---|---|---|---|---|---|---|']
    for key, g in groups.items():
        total = g['fold'] + g['stats'] + g['update']
        lines.append(f'| {key} | {g["count"]} | {g["d_in"]} x {g["d_out"]} | {g["rows"]:.0f} | '
                     f'{g["fold"] / 1e9:.4g} | {g["stats"] / 1e9:.4g} | '
                     f'{g["update"] / 1e9:.4g} | {100 * total / step:.2f}% |')
    return '\n'.join(lines) + '\n'


def analytic(args) -> dict:
    config, batch, options = args.config, args.batch, dict(args.cfg_options or {})
    if args.workload:
        sys.path.insert(0, HERE)
        from benchmark_workloads import get_workload
        w = get_workload(args.workload)
        config = config or w['config']
        batch = batch or w['batch']
        options = dict(w.get('cfg_options', {}), **w.get('target_options', {}), **options)
    config = config or DBP_B
    batch = batch or 256
    if not osp.isfile(config) and osp.isfile(osp.join(ROOT, config)):
        config = osp.join(ROOT, config)
    profile = step_profile(config, batch, options, args.probe_batch)
    over = {k: v for k, v in (('sample_frac', args.sample_frac),
                              ('update_interval', args.update_interval),
                              ('exclude', args.exclude)) if v is not None}
    levers = [('this config' + (' with ' + ', '.join(f'{k}={v}' for k, v in over.items())
                                if over else ''), over)]
    if args.levers:
        levers += LEVERS
    rows, table = lever_table(profile, levers)
    what = (f'workload {args.workload}' if args.workload else osp.relpath(config, ROOT) +
            (f' with --cfg-options {sorted(options)}' if options else ''))
    text = (f'DBP extra multiply-adds per optimiser step, {what}, batch {batch} '
            '(H100-weighted: fold x1 in bf16, '
            'statistics and update x2 in TF32):\n\n' + table + '\nPer kind of layer (' +
            levers[0][0] + '):\n\n' + per_layer_table(profile, over))
    print(text)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(config=config, batch=batch, cfg_options=options,
                           step_macs=profile['step_macs'],
                           rows=[{k: v for k, v in r.items()} for r in rows]), f, indent=1)
    return dict(rows=rows, text=text, step_macs=profile['step_macs'])


# --------------------------------------------------------------------------------------------
# levers: several DBP settings and the plain MAE, side by side in one process
# --------------------------------------------------------------------------------------------
def lever_options(over: dict) -> dict:
    """``--cfg-options``-style overrides of the DBP optim wrapper for one lever."""
    return {f'optim_wrapper.{k}': v for k, v in over.items()}


def levers(args) -> dict:
    """Time the plain MAE baseline and DBP under each lever (``LEVERS``, or ``--levers``
    indices), all in one process with alternating rounds (``benchmark_configs``); report the
    CPU-time ratio of each DBP setting to MAE, with the load average before and after."""
    sys.path.insert(0, HERE)
    import torch

    from benchmark_workloads import get_workload
    from mmdbp.utils.benchmark import benchmark_configs
    if args.threads:
        torch.set_num_threads(args.threads)
    w = get_workload(args.workload)
    options = dict(w.get('cfg_options', {}))
    chosen = LEVERS if args.levers is None else [LEVERS[i] for i in args.levers]
    labels = ['this config'] + [label for label, _ in chosen]
    specs = [dict(name='mae', config=osp.join(ROOT, w['baseline']), cfg_options=options)]
    for i, (label, over) in enumerate([('this config', {})] + chosen):
        specs.append(dict(name=f'dbp{i}', config=osp.join(ROOT, w['config']),
                          cfg_options=dict(options, **lever_options(over))))
    load_before = os.getloadavg()
    report = benchmark_configs(specs, batch_size=args.batch or w['batch'], mode='train',
                               device='cpu', amp='none', warmup=args.warmup, iters=args.iters,
                               rounds=args.rounds, flops=False)
    load_after = os.getloadavg()
    mae = report['results'][0]
    cpu = lambda r: statistics.median(r['round_cpu_s'])  # noqa: E731
    wall = lambda r: statistics.median(r['round_s'])  # noqa: E731
    rows = []
    for label, res in zip(labels, report['results'][1:]):
        rows.append(dict(label=label, cpu_ratio=cpu(res) / cpu(mae),
                         wall_ratio=wall(res) / wall(mae),
                         cpu_s_per_step=cpu(res) / args.iters))
    loaded = max(load_before[0], load_after[0]) > 1.5
    lines = [f'{args.workload} ({w["config"]} vs {w["baseline"]}, batch '
             f'{report["batch_size"]}, fp32, {report["device_name"]}), {report["date"]}, commit '
             f'{report["commit"]}, {args.rounds} alternating rounds of {args.iters} step(s); '
             f'load average {load_before[0]:.2f} before, {load_after[0]:.2f} after'
             f'{" (under load)" if loaded else ""}; MAE {cpu(mae) / args.iters:.2f} s CPU per '
             'step:', '', '| DBP setting | CPU s per step | DBP / MAE CPU time | DBP / MAE '
             'wall-clock |', '|---|---|---|---|']
    for r in rows:
        lines.append(f'| {r["label"]} | {r["cpu_s_per_step"]:.2f} | **{r["cpu_ratio"]:.3f}** | '
                     f'{r["wall_ratio"]:.3f} |')
    text = '\n'.join(lines) + '\n'
    print(text)
    out = args.out or osp.join(ROOT, 'work_dirs', 'benchmark',
                               f'dbp_levers_{time.strftime("%Y%m%d_%H%M%S")}.json')
    os.makedirs(osp.dirname(out), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(dict(report=report, rows=rows, load_before=load_before,
                       load_after=load_after, text=text), f, indent=1, default=str)
    print(f'[benchmark_dbp] report: {out}')
    return dict(rows=rows, text=text)


# --------------------------------------------------------------------------------------------
# layer-corr: how correlated each layer's input is, with and without DBP
# --------------------------------------------------------------------------------------------
def layer_correlations(config: str, checkpoint: str, data_root: Optional[str] = None,
                       images: int = 50, seed: int = 0) -> Dict[str, float]:
    """Mean |off-diagonal correlation| of the input z of every DBP layer of a pre-training
    checkpoint on the first ``images`` validation images (the config's val pipeline, MAE's masks
    drawn from ``seed``): ``z = x`` (plain input) for a checkpoint without DBP state, ``z = R x``
    with the saved R for a DBP checkpoint. Layers are the config's DBP selection (the default
    ``^backbone\\.`` linears for a plain MAE config)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from mmengine.utils import import_modules_from_strings

    from mmdbp.models.utils.decorrelation import Decorrelator
    from mmdbp.utils.benchmark import model_config
    cfg = Config.fromfile(config)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    if data_root:
        cfg.val_dataloader.dataset.data_root = data_root
    cfg.val_dataloader.batch_size = images
    cfg.val_dataloader.num_workers = 0
    cfg.val_dataloader.persistent_workers = False
    from mmdbp.engine.checkpoint_compat import load_checkpoint_file  # refuses code pickles
    ckpt = load_checkpoint_file(checkpoint)  # MMDBP_TRUST_PICKLE=1 for a trusted legacy file
    dbp = (ckpt.get('optimizer') or {}).get('dbp')
    ow = cfg.optim_wrapper
    select = {k: ow[k] for k in ('include', 'exclude', 'layer_types') if k in ow}
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        from mmengine.registry import MODELS
        model = MODELS.build(model_config(cfg))
        model.load_state_dict(ckpt['state_dict'])  # DBP checkpoints hold W R here
        interval = (dbp or {}).get('hparams', {}).get('update_interval', 1)
        dec = Decorrelator(model, decor_lr=0., sample_frac=1., update_interval=interval, **select)
        if dbp is not None:
            dec.load_state_dict(dbp)  # R and the unfolded W: the same function, z = R x
        batch = next(iter(Runner.build_dataloader(cfg.val_dataloader, seed=seed)))
        model.train()
        torch.manual_seed(seed)
        for layer in dec.layers.values():
            layer.samples = []
        data = model.data_preprocessor(batch, True)
        model(**data, mode='loss')
        dec.update(keep_stats=True)  # decor_lr 0: R unchanged, the statistics kept
        return dec.correlations()


def layer_corr(args) -> dict:
    runs = {}
    for item in args.checkpoints:
        label, _, path = item.partition('=')
        root = osp.join(args.data_root, 'demo_in1k/') if args.data_root else None
        runs[label] = layer_correlations(args.config, path, root, args.images)
    names = list(next(iter(runs.values())))
    kinds: Dict[str, List[str]] = {}
    for name in names:
        kinds.setdefault(re.sub(r'\.\d+\.', '.*.', name), []).append(name)
    labels = list(runs)
    lines = ['| layer | ' + ' | '.join(f'{label}: mean abs off-diagonal corr' for label in labels) +
             ' |', '|---|' + '---|' * len(labels)]
    for name in names:
        lines.append(f'| {name} | ' + ' | '.join(f'{runs[label][name]:.4f}' for label in labels)
                     + ' |')
    for kind, members in kinds.items():
        lines.append(f'| **{kind} (mean)** | ' + ' | '.join(
            f'**{statistics.fmean(runs[label][m] for m in members):.4f}**' for label in labels)
            + ' |')
    text = '\n'.join(lines) + '\n'
    print(text)
    return dict(runs=runs, text=text)


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
    t.add_argument('--dbp-options', nargs='*', default=[],
                   help='extra --cfg-options for the DBP arm only (e.g. '
                   'optim_wrapper.update_interval=1 for the paper\'s every-step rule)')
    t.add_argument('--dbp-tag', help='name of this DBP variant: its work dirs are dbp-TAG_seedN, '
                   'so variants share one --out (and its MAE runs, with --reuse)')
    t.add_argument('--step-cost-batch', type=int, default=32,
                   help='batch of the side-by-side step-cost measurement (the demo configs\' 32)')
    t.add_argument('--skip-finetune', action='store_true')
    t.add_argument('--reuse', action='store_true', help='keep finished runs of an earlier call')
    t.add_argument('--parallel', action='store_true',
                   help='run the two arms of a seed at the same time (paired under the same load '
                   'of a shared machine; each with --threads threads)')
    t.add_argument('--no-md', action='store_true', help='do not copy the plot into docs/')
    a = sub.add_parser('analytic', help="DBP's extra multiply-adds per step, for any config and "
                       'batch, and for each cost lever')
    a.add_argument('config', nargs='?', help=f'DBP config (default {DBP_B})')
    a.add_argument('--workload', help='take config, overrides and batch of a named workload')
    a.add_argument('--batch', type=int, help='images per step (default 256)')
    a.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides')
    a.add_argument('--sample-frac', type=float, help="override the config's sample_frac")
    a.add_argument('--update-interval', type=int, help="override the config's update_interval")
    a.add_argument('--exclude', nargs='*', help="override the config's exclude regexes")
    a.add_argument('--levers', action='store_true', help='also every lever of LEVERS')
    a.add_argument('--probe-batch', type=int, default=2, help='batch of the counted step')
    a.add_argument('--json', help='write the rows to this JSON file')
    v = sub.add_parser('levers', help='MAE and DBP under each cost lever, side by side in one '
                       'process (CPU time ratios)')
    v.add_argument('--workload', default='dbp-mae-vit-s16-224px-b128-cpu',
                   help='a DBP-vs-MAE CPU workload of tools/benchmark_workloads.py')
    v.add_argument('--levers', type=int, nargs='*',
                   help='indices into LEVERS (default: all; none given: the config only)')
    v.add_argument('--batch', type=int)
    v.add_argument('--iters', type=int, default=1)
    v.add_argument('--rounds', type=int, default=3)
    v.add_argument('--warmup', type=int, default=1)
    v.add_argument('--threads', type=int)
    v.add_argument('--out', help='JSON report path')
    c = sub.add_parser('layer-corr', help='per-layer input correlation of pre-training '
                       'checkpoints (x for plain MAE, R x for DBP)')
    c.add_argument('checkpoints', nargs='+', help='LABEL=CHECKPOINT')
    c.add_argument('--config', default=PRETRAIN['dbp'],
                   help='config that builds the model and the val data (default: DBP demo)')
    c.add_argument('--data-root', help='parent of demo_in1k/ (default: the config\'s root)')
    c.add_argument('--images', type=int, default=50, help='validation images (default 50)')
    return p.parse_args(argv)


def check_paths(args) -> None:
    """A config or --data-root that does not exist: one line saying what to pass."""
    from mmdbp.utils.tool_args import require_config, require_dir
    if getattr(args, 'config', None) and not osp.isfile(osp.join(ROOT, args.config)):
        require_config(args.config)
    if getattr(args, 'data_root', None):
        for sub in ('demo_in1k', 'demo_ade20k'):
            require_dir(osp.join(args.data_root, sub), '--data-root: demo set',
                        'pass the parent of demo_in1k/ and demo_ade20k/ (written by '
                        '`python tools/make_demo_data.py --out DIR`)')


def main(argv=None):
    args = parse_args(argv)
    check_paths(args)
    if args.command == 'step-time':
        step_time(args)
    elif args.command == 'analytic':
        return analytic(args)
    elif args.command == 'levers':
        return levers(args)
    elif args.command == 'layer-corr':
        return layer_corr(args)
    else:
        time_to_target(args)


if __name__ == '__main__':
    main()
