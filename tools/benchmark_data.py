"""Images/s of a config's training data pipeline, per worker and with N DataLoader workers.

Answers "how many dataloader workers does a GPU step rate need?": one worker's rate is measured
by reading ``dataset[i]`` in the main process (file read, JPEG decode, every transform, packing),
per CPU second of the process (what a worker with a core of its own achieves, even on a machine
shared with other jobs) and per wall-clock second;
then the same dataset is read through ``torch.utils.data.DataLoader`` with each ``--workers``
count and the config's collate function.
``workers needed = ceil(step rate / per-worker CPU-time rate)``,
reported for the step rates in ``--rates`` (default: issue 9's measured mmpretrain MAE ViT-B/16
and ViT-L/16 rates on an H100 and their 1.3x targets; for the ADE20K pipelines illustrative
UPerNet rates of 20/40/80 img/s per GPU).

Named pipelines (``--pipeline``) build their data with ``tools/make_demo_data.py``'s generator
under ``--data-dir`` (default ``work_dirs/benchmark_data``) when it is not there yet:

========================  ===========================================================  ========
name                      pipeline (config)                                           images
========================  ===========================================================  ========
mae-demo                  demo MAE pre-training (_base_/datasets/demo_in1k_mae.py)      64 px
mae-imagenet-format       real MAE pipeline, 224 px crops (imagenet_bs64_mae.py)       384 px
mae-imagenet-format-cv2   the same with ``RandomResizedCrop(backend='cv2')``             384 px
ade-demo                  demo ADE20K training (_base_/datasets/demo_ade20k.py)         64 px
ade-ade20k-format         real mmseg ADE20K pipeline, 512 crops (ade20k_512x512.py)    512 px
========================  ===========================================================  ========

The ``*-format`` rows run the real pipelines on generated JPEGs of about ImageNet's/ADE20K's
size and file size (ImageNet averages ~400x350 px, ~110 kB; the 384 px squares here are
~140 kB), so their per-worker rates are representative of real data on the same CPU.

Examples::

    python tools/benchmark_data.py --pipeline mae-imagenet-format --workers 0 2
    python tools/benchmark_data.py --config configs/_base_/datasets/demo_in1k_mae.py \\
        --data-root data/demo_in1k --samples 200
"""
import argparse
import copy
import json
import math
import os
import os.path as osp
import sys
import time

import torch

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)
sys.path.insert(0, ROOT)

from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

from mmdbp.utils.benchmark import (append_markdown_row, build_collate_fn, device_name,  # noqa: E402
                                   git_commit)

# Step rates (img/s) the loaders must feed. Pre-training: issue 9's mmpretrain MAE ViT-L/16 and
# ViT-B/16 rates on an H100 (bf16, batch 256) and the fast path's 1.3x targets. Segmentation:
# illustrative UPerNet 512x512 training rates per GPU (no measured figure in the issues).
MAE_RATES = (1867, 3058, 2427, 3975)
SEG_RATES = (20, 40, 80)

PIPELINES = {
    'mae-demo': dict(config='configs/_base_/datasets/demo_in1k_mae.py', scope='mmpretrain',
                     kind='cls', img_size=64, subdir='demo_in1k_64', rates=MAE_RATES),
    'mae-imagenet-format': dict(config='configs/_base_/datasets/imagenet_bs64_mae.py',
                                scope='mmpretrain', kind='cls', img_size=384,
                                subdir='in1k_format_384', rates=MAE_RATES),
    # the same, with OpenCV instead of Pillow for the crop-resize (the JPEG decode is mmcv's cv2
    # in both): the cheapest change to the real pipeline
    'mae-imagenet-format-cv2': dict(config='configs/_base_/datasets/imagenet_bs64_mae.py',
                                    scope='mmpretrain', kind='cls', img_size=384,
                                    subdir='in1k_format_384', rates=MAE_RATES,
                                    transform_options={'RandomResizedCrop': dict(backend='cv2')}),
    'ade-demo': dict(config='configs/_base_/datasets/demo_ade20k.py', scope='mmseg', kind='seg',
                     img_size=64, subdir='demo_ade20k_64', rates=SEG_RATES),
    'ade-ade20k-format': dict(config='configs/_base_/datasets/ade20k_512x512.py', scope='mmseg',
                              kind='seg', img_size=512, subdir='ade20k_format_512',
                              rates=SEG_RATES),
}

TABLE_HEADER = ('| date | pipeline | CPU | images (px) | img/s per worker (per CPU s / wall s) '
                '| img/s with N workers (wall) '
                '| workers to feed (img/s) | commit |\n'
                '|---|---|---|---|---|---|---|---|\n')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Measure data pipeline throughput')
    p.add_argument('--pipeline', choices=sorted(PIPELINES), help='a named pipeline')
    p.add_argument('--config', help='any config with a train_dataloader (instead of --pipeline)')
    p.add_argument('--data-root', help='override the dataset data_root')
    p.add_argument('--data-dir', default=osp.join('work_dirs', 'benchmark_data'),
                   help='where named pipelines generate their data')
    p.add_argument('--num-images', type=int, default=96, help='images generated per named set')
    p.add_argument('--samples', type=int, default=64, help='samples timed per measurement')
    p.add_argument('--workers', type=int, nargs='+', default=[0, 2],
                   help='DataLoader worker counts to measure (0 = main process)')
    p.add_argument('--batch', type=int, default=16, help='DataLoader batch size')
    p.add_argument('--rates', type=float, nargs='+',
                   help='step rates (img/s) to compute the needed worker count for (default: '
                   'the MAE H100 rates of issue 9, or illustrative UPerNet rates for ADE20K)')
    p.add_argument('--out', help='JSON report path')
    p.add_argument('--md', default=osp.join(ROOT, 'docs', 'benchmarks.md'))
    p.add_argument('--section', default='Data loading')
    p.add_argument('--no-md', action='store_true')
    return p.parse_args(argv)


def _generate(spec: dict, root: str, num_images: int) -> None:
    from mmdbp.datasets.demo_data import make_demo_ade20k, make_demo_in1k
    if osp.isdir(root):
        return
    print(f'[benchmark_data] generating {num_images} {spec["img_size"]} px images in {root}')
    if spec['kind'] == 'cls':
        classes = 4
        make_demo_in1k(root, classes, max(1, num_images // classes), 1, spec['img_size'], 0)
    else:
        make_demo_ade20k(root, num_images, 1, spec['img_size'], 0)


def build_dataset(cfg: Config, scope: str, data_root: str = None):
    from mmengine.registry import DATASETS
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    if data_root:
        node = ds_cfg
        while 'data_root' not in node and isinstance(node.get('dataset'), dict):
            node = node['dataset']
        node['data_root'] = data_root
    with DefaultScope.overwrite_default_scope(scope):
        return DATASETS.build(ds_cfg)


def per_worker_rate(dataset, samples: int):
    """Images/s of one process running the pipeline (after one warm-up sample), per wall-clock
    second and per CPU second of the process. On a machine shared with other jobs the CPU-time
    rate is what one worker with a core of its own achieves."""
    n = len(dataset)
    dataset[0]
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(samples):
        dataset[(i + 1) % n]
    return samples / (time.perf_counter() - wall), samples / (time.process_time() - cpu)


def loader_rate(dataset, cfg: Config, scope: str, workers: int, batch: int, samples: int) -> float:
    """Images/s through a DataLoader with ``workers`` processes (first batch not timed)."""
    with DefaultScope.overwrite_default_scope(scope):
        collate = build_collate_fn(cfg.train_dataloader)
    num_batches = max(2, math.ceil(samples / batch)) + 1
    indices = [i % len(dataset) for i in range(num_batches * batch)]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, indices), batch_size=batch, num_workers=workers,
        collate_fn=collate, shuffle=False,
        persistent_workers=False, prefetch_factor=4 if workers else None)
    it = iter(loader)
    next(it)  # worker start-up and the first batch are not timed
    start = time.perf_counter()
    count = 0
    for data in it:
        count += len(data['inputs'])
    return count / (time.perf_counter() - start)


def check_paths(args) -> None:
    """A --config or --data-root that does not exist: one line saying what to pass."""
    from mmdbp.utils.tool_args import require_config, require_dir
    if args.config:
        require_config(args.config, '--config')
    if args.data_root:
        require_dir(args.data_root, '--data-root', 'pass an existing data set root, or leave it '
                    'out with --pipeline to generate one')


def main(argv=None):
    args = parse_args(argv)
    check_paths(args)
    if bool(args.pipeline) == bool(args.config):
        raise SystemExit('Give exactly one of --pipeline or --config.')
    if args.pipeline:
        spec = PIPELINES[args.pipeline]
        cfg_path = osp.join(ROOT, spec['config'])
        data_root = args.data_root or osp.join(args.data_dir, spec['subdir'])
        if not args.data_root:
            _generate(spec, data_root, args.num_images)
        name, scope, size = args.pipeline, spec['scope'], spec['img_size']
    else:
        cfg_path, data_root, size = args.config, args.data_root, None
        name = osp.basename(args.config)
        scope = None
    cfg = Config.fromfile(cfg_path)
    scope = scope or cfg.get('default_scope', 'mmpretrain')
    if args.pipeline:
        for t in cfg.train_dataloader.dataset.pipeline:
            t.update(PIPELINES[args.pipeline].get('transform_options', {}).get(t['type'], {}))
    import mmdbp  # noqa: F401  (registers mmdbp's transforms and dataset wrappers)
    dataset = build_dataset(cfg, scope, data_root)
    print(f'[benchmark_data] {name}: {len(dataset)} samples from {data_root or "config root"}')
    wall_rate, one = per_worker_rate(dataset, args.samples)
    print(f'[benchmark_data] one worker: {one:.1f} img/s per CPU second '
          f'({wall_rate:.1f} per wall-clock second, load average {os.getloadavg()[0]:.1f})')
    loaders = {}
    for w in args.workers:
        loaders[w] = loader_rate(dataset, cfg, scope, w, args.batch, args.samples)
        print(f'[benchmark_data] DataLoader, {w} workers: {loaders[w]:.1f} img/s')
    rates = args.rates or (PIPELINES[args.pipeline]['rates'] if args.pipeline else MAE_RATES)
    needed = {f'{r:g}': math.ceil(r / one) for r in rates}
    report = dict(date=time.strftime('%Y-%m-%d'), pipeline=name, config=cfg_path,
                  data_root=data_root, image_size=size, cpu=device_name('cpu'),
                  cpu_count=os.cpu_count(), load_avg=os.getloadavg(), samples=args.samples,
                  batch=args.batch,
                  per_worker_images_per_s=one, per_worker_images_per_wall_s=wall_rate,
                  loader_images_per_s=loaders,
                  workers_needed=needed, commit=git_commit(ROOT))
    print('[benchmark_data] workers needed: ' +
          ', '.join(f'{n} for {r} img/s' for r, n in needed.items()))
    stamp = time.strftime('%Y%m%d_%H%M%S')
    out = args.out or osp.join('work_dirs', 'benchmark', f'data_{name}_{stamp}.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(report, f, indent=2)
    print(f'[benchmark_data] report: {out}')
    if not args.no_md:
        row = '| ' + ' | '.join([
            report['date'], name, report['cpu'], str(size or '-'),
            f'{one:.1f} / {wall_rate:.1f}',
            ', '.join(f'{w}: {r:.1f}' for w, r in loaders.items()),
            ', '.join(f'{n} ({r})' for r, n in needed.items()), report['commit']]) + ' |\n'
        append_markdown_row(args.md, args.section, row, TABLE_HEADER)
        print(f'[benchmark_data] row appended to {args.md} ({args.section})')
    return report


if __name__ == '__main__':
    main()
