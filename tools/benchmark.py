"""Time training steps or inference of any config, optionally against a baseline config.

Examples::

    # list the named workloads of docs/benchmarks.md
    python tools/benchmark.py --list
    # a named workload (its config, baseline, batch, precision, device)
    python tools/benchmark.py --workload mae-vit-s16-96px-cpu
    python tools/benchmark.py --workload mae-vit-b16 --device cuda
    # any config, with a baseline measured in the same process (alternating rounds)
    python tools/benchmark.py configs/mae/mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k.py \\
        --baseline mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py \\
        --batch 256 --device cuda --amp bf16 --fused --compile
    # inference of a classifier
    python tools/benchmark.py my_cfg.py --mode test --batch 256 --amp bf16

Writes a JSON report (``--out``, default ``work_dirs/benchmark/<name>_<time>.json``) and, for
named workloads or with ``--section``, appends a row to ``docs/benchmarks.md`` (``--no-md`` to
skip). Methodology: see ``mmdbp/utils/benchmark.py`` and the top of docs/benchmarks.md.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import torch

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)
sys.path.insert(0, ROOT)  # run from a checkout without installing
sys.path.insert(0, HERE)

from mmengine.config import DictAction  # noqa: E402

from benchmark_workloads import WORKLOADS, get_workload  # noqa: E402
from mmdbp.utils.benchmark import (append_markdown_row, benchmark_configs,  # noqa: E402
                                   markdown_row, resolve_config_path)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Benchmark training/inference of OpenMMLab configs')
    p.add_argument('config', nargs='?', help='config under test (path or pkg::path)')
    p.add_argument('--workload', help='a named workload of tools/benchmark_workloads.py')
    p.add_argument('--list', action='store_true', help='list the named workloads and exit')
    p.add_argument('--baseline', help='config to compare with in the same run')
    p.add_argument('--mode', choices=['train', 'test', 'tensor'], help='default: train')
    p.add_argument('--batch', type=int, help='images per step (default 16)')
    p.add_argument('--device', help='cpu or cuda[:i] (default: cuda if available)')
    p.add_argument('--amp', choices=['config', 'none', 'bf16', 'fp16'],
                   help='precision for both configs (default: config)')
    fused = p.add_mutually_exclusive_group()
    fused.add_argument('--fused', dest='fused', action='store_true', default=None,
                       help='fused AdamW/Adam/SGD for both configs')
    fused.add_argument('--no-fused', dest='fused', action='store_false')
    p.add_argument('--compile', action='store_true', default=None,
                   help='torch.compile the target step (as mmengine compile=True)')
    p.add_argument('--compile-baseline', action='store_true', default=None,
                   help='torch.compile the baseline step too')
    p.add_argument('--no-compile', action='store_true',
                   help='compile neither step, whatever the workload says (quick smoke runs)')
    p.add_argument('--warmup', type=int, help='warm-up steps per model (default 3)')
    p.add_argument('--iters', type=int, help='timed steps per round (default 10)')
    p.add_argument('--rounds', type=int, help='alternating timing rounds (default 3)')
    p.add_argument('--src-size', type=int, help='side of the synthetic source images')
    p.add_argument('--no-flops', action='store_true', help='skip FLOP counting')
    p.add_argument('--threads', type=int, help='torch.set_num_threads (CPU)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='overrides for both configs, key=value')
    p.add_argument('--target-options', nargs='+', action=DictAction,
                   help='overrides for the target config only')
    p.add_argument('--baseline-options', nargs='+', action=DictAction,
                   help='overrides for the baseline config only')
    p.add_argument('--name', help='name in the report (default: workload or config stem)')
    p.add_argument('--section', help='docs/benchmarks.md section for the row')
    p.add_argument('--out', help='JSON report path')
    p.add_argument('--md', default=osp.join(ROOT, 'docs', 'benchmarks.md'),
                   help='Markdown file to append the row to')
    p.add_argument('--no-md', action='store_true', help='do not touch the Markdown file')
    return p.parse_args(argv)


def _resolve(path):
    """Config paths are relative to the working directory, else to the repository root."""
    if path is None or '::' in path or osp.isfile(path):
        return path
    alt = osp.join(ROOT, path)
    return alt if osp.isfile(alt) else path


def list_workloads():
    print(f'{"workload":34s} {"section":15s} {"device":6s} {"mode":6s} {"batch":>5s}  config')
    for w in WORKLOADS:
        cfg = w['config'] or '(pending: config not written yet)'
        print(f'{w["name"]:34s} {w["section"]:15s} {w["device"]:6s} {w["mode"]:6s} '
              f'{w["batch"]:5d}  {cfg}  vs  {w["baseline"] or "-"}')


def build_plan(args) -> dict:
    """Merge a named workload (if any) with the command line (explicit flags win)."""
    plan = dict(mode='train', batch=16, amp='config', fused=None, compile=False,
                compile_baseline=False, warmup=3, iters=10, rounds=3, cfg_options={},
                target_options={}, baseline_options={}, section=None, config=None,
                baseline=None, baseline_label=None, device=None, name=None)
    if args.workload:
        w = get_workload(args.workload)
        if w['config'] is None:
            raise SystemExit(f'Workload {args.workload!r} is pending: its config has not been '
                             f'written yet ({w.get("goal", "")}).')
        plan.update({k: v for k, v in w.items() if k in plan or k == 'goal'})
    for key in ('config', 'baseline', 'mode', 'batch', 'device', 'amp', 'fused', 'compile',
                'compile_baseline', 'warmup', 'iters', 'rounds', 'section', 'name'):
        value = getattr(args, key)
        if value is not None:
            plan[key] = value
    for key in ('cfg_options', 'target_options', 'baseline_options'):
        if getattr(args, key):
            plan[key] = dict(plan[key], **getattr(args, key))
    if args.no_compile:
        plan['compile'] = plan['compile_baseline'] = False
    if not plan['config']:
        raise SystemExit('Give a config or --workload (see --list).')
    if plan['device'] is None:
        plan['device'] = 'cuda' if torch.cuda.is_available() else 'cpu'
    if plan['device'].startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit(f'Device {plan["device"]!r} asked for, but no GPU is visible '
                         f'(pass --device cpu with a small model, e.g. --workload '
                         f'mae-vit-s16-96px-cpu).')
    plan['name'] = plan['name'] or osp.splitext(osp.basename(plan['config']))[0]
    return plan


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        list_workloads()
        return None
    if args.threads:
        torch.set_num_threads(args.threads)
    plan = build_plan(args)
    specs = [dict(name='target', config=_resolve(plan['config']),
                  cfg_options=dict(plan['cfg_options'], **plan['target_options']),
                  compile=plan['compile'])]
    if plan['baseline']:
        specs.append(dict(name='baseline', config=_resolve(plan['baseline']),
                          cfg_options=dict(plan['cfg_options'], **plan['baseline_options']),
                          compile=plan['compile_baseline'], label=plan['baseline_label']))
    for spec in specs:  # a missing config: one line, before anything is built
        try:
            resolve_config_path(spec['config'])
        except FileNotFoundError as err:
            raise SystemExit(f'[benchmark] {err} Pass a config path (relative to the working '
                             'directory or the repository) or pkg::path of an installed '
                             'package; --list shows the named workloads.') from None
    report = benchmark_configs(
        specs, batch_size=plan['batch'], mode=plan['mode'], device=plan['device'],
        amp=plan['amp'], fused=plan['fused'], warmup=plan['warmup'], iters=plan['iters'],
        rounds=plan['rounds'], src_size=args.src_size, flops=not args.no_flops)
    report['workload'] = plan['name']
    report['goal'] = plan.get('goal')
    report['command'] = 'python tools/benchmark.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    t = report['results'][0]
    msg = (f'[benchmark] {plan["name"]}: {t["images_per_s"]:.1f} img/s, '
           f'{t["step_time_ms"]:.1f} ms/step, peak {t["peak_mem_mib"]:.0f} MiB')
    if t['tflops']:
        msg += f', {t["tflops"]:.3g} TFLOP/s'
    if len(report['results']) > 1:
        b = report['results'][1]
        msg += (f' | baseline {b["images_per_s"]:.1f} img/s, peak {b["peak_mem_mib"]:.0f} MiB'
                f' | speed ratio {t["speed_ratio_vs_baseline"]:.3f}x')
        if 'cpu_time_ratio_vs_baseline' in t:
            msg += f' (CPU time {t["cpu_time_ratio_vs_baseline"]:.3f}x)'
        if 'mem_ratio_vs_baseline' in t:
            msg += f', memory ratio {t["mem_ratio_vs_baseline"]:.3f}x'
    print(msg)

    out = args.out or osp.join('work_dirs', 'benchmark',
                               f'{plan["name"]}_{time.strftime("%Y%m%d_%H%M%S")}.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(report, f, indent=2, default=str)
    print(f'[benchmark] report: {out}')
    section = plan['section']
    if section and not args.no_md:
        append_markdown_row(args.md, section, markdown_row(report, plan['name']))
        print(f'[benchmark] row appended to {args.md} ({section})')
    return report


if __name__ == '__main__':
    main()
