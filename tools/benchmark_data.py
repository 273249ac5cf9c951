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

===========================  ========================================================  ========
name                         pipeline (config)                                         images
===========================  ========================================================  ========
mae-demo                     demo MAE pre-training (_base_/datasets/demo_in1k_mae.py)   64 px
mae-imagenet-format          mmdbp's MAE pipeline, 224 px (imagenet_bs64_mae.py:        384 px
                             FastRandomResizedCrop)
mae-imagenet-format-         mmpretrain's MAE pipeline (mmpretrain::_base_/datasets/    384 px
mmpretrain                   imagenet_bs512_mae.py: Pillow RandomResizedCrop)
ade-demo                     demo ADE20K training (_base_/datasets/demo_ade20k.py)      64 px
ade-ade20k-format            real mmseg ADE20K pipeline, 512 crops (ade20k_512x512.py)  512 px
===========================  ========================================================  ========

**Side by side on ImageNet-like JPEGs** (``--compare mae-224 simmim-192``, issue 18): generates
(once) ``--num-images`` JPEGs encoded like ImageNet's train set (:func:`make_imagenet_like`: sizes
around ImageNet's, mean ~470x390 px, long side 200-1000; quality 75-95, 4:2:0 chroma; textured
1/f scenes at ~0.5-0.7 bytes per pixel) and times mmpretrain's pipeline against mmdbp's and the
single levers in alternating rounds in one process (``--threads``, default 1): img/s per CPU
second and per wall second, the median per-round ratio to mmpretrain's, CPU ms per image in each
transform, and img/s through a ``DataLoader`` with each ``--workers`` count. The load average is
printed with each comparison (rows above 1.5 are flagged in docs/benchmarks.md).

**GPU decode** (``--device-decode cuda``): the opt-in device-decode pipeline
(``configs/_base_/datasets/imagenet_bs64_mae_device-decode.py``) on the same set: the workers'
img/s per CPU second (file read, header, crop and flip draw) and ``DeviceDecodeDataPreprocessor``'s
img/s on the device for a ``--batch`` (nvJPEG decode, crops, antialiased resize, normalisation).

Examples::

    python tools/benchmark_data.py --pipeline mae-imagenet-format --workers 0 2
    python tools/benchmark_data.py --compare mae-224 simmim-192 --num-images 200 --rounds 7
    python tools/benchmark_data.py --compare mae-224 --num-images 200 --rounds 15 \\
        --samples 100 --workers 0 --runs 8     # the spread over 8 fresh processes
    python tools/benchmark_data.py --device-decode cuda --num-images 200 --batch 256
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
                                   git_commit, resolve_config_path)

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
    # mmpretrain's own MAE pipeline (LoadImageFromFile + Pillow RandomResizedCrop), the baseline
    'mae-imagenet-format-mmpretrain': dict(
        config='mmpretrain::_base_/datasets/imagenet_bs512_mae.py', scope='mmpretrain',
        kind='cls', img_size=384, subdir='in1k_format_384', rates=MAE_RATES),
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
    p.add_argument('--compare', nargs='+', choices=sorted(COMPARISONS),
                   help='compare the named pipelines side by side on ImageNet-like JPEGs '
                   '(generated under --data-dir, or --data-root)')
    p.add_argument('--rounds', type=int, default=5, help='--compare: alternating rounds')
    p.add_argument('--threads', type=int, default=1,
                   help='--compare: torch and OpenCV threads (a DataLoader worker uses 1)')
    p.add_argument('--device-decode', metavar='DEVICE',
                   help='time the device-decode path (imagenet_bs64_mae_device-decode.py) on the '
                   'ImageNet-like set: the workers\' img/s per CPU s and '
                   'DeviceDecodeDataPreprocessor\'s img/s on DEVICE (cuda, or cpu) per --batch')
    p.add_argument('--resized-copy', type=int, metavar='SHORT_SIDE',
                   help='--compare: also time the fast pipeline on a copy of the images whose '
                   'short side is reduced to SHORT_SIDE (opt-in trade-off: other pixels)')
    p.add_argument('--loader-batches', type=int, default=4,
                   help='--compare: timed DataLoader batches per worker count')
    p.add_argument('--runs', type=int, default=1,
                   help='--compare: run the whole comparison in N fresh processes, one after the '
                   'other, and report the median, min and max of each ratio over the runs (the '
                   'ratio varies more between processes than between the rounds of one)')
    return p.parse_args(argv)


# --------------------------------------------------------------------------------------------
# ImageNet-like JPEGs
# --------------------------------------------------------------------------------------------
def _scene(rng, h: int, w: int, alpha: float):
    """A textured procedural scene: colour noise with a 1/f^alpha amplitude spectrum (natural
    images' statistics) mixed across channels, plus a few blended discs (hard edges)."""
    import numpy as np
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    f[0, 0] = 1.0
    amp = 1.0 / f ** alpha
    chans = [np.fft.irfft2(amp * np.exp(1j * rng.uniform(0, 2 * np.pi, f.shape)), s=(h, w))
             for _ in range(3)]
    img = np.stack(chans, -1) @ (rng.normal(size=(3, 3)) * 0.4 + np.eye(3))
    img = (img - img.mean((0, 1))) / img.std((0, 1))
    img = 128 + img * rng.uniform(30, 55, 3) + rng.uniform(-30, 30, 3)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(int(rng.integers(3, 9))):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(0.05, 0.3) * min(h, w)
        m = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[m] = img[m] * 0.5 + rng.uniform(0, 255, 3) * 0.5
    return np.clip(img, 0, 255).astype(np.uint8)


def imagenet_like_size(rng):
    """``(h, w)`` drawn around ImageNet-1K's train images: 70% have a long side of 500 px, the
    rest log-normal around 500 (sigma 0.35) within 200-1000 px; short/long side 3/4 (50%),
    2/3 (20%), 1 (10%) or uniform in 0.5-1 (20%); 80% landscape. Mean ~470x390 px."""
    import numpy as np
    long = 500 if rng.random() < 0.7 else int(np.clip(500 * np.exp(rng.normal(0, 0.35)), 200, 1000))
    ratio = rng.choice([0.75, 2 / 3, 1.0, -1.0], p=[0.5, 0.2, 0.1, 0.2])
    short = int(round(long * (rng.uniform(0.5, 1.0) if ratio < 0 else ratio)))
    return (short, long) if rng.random() < 0.8 else (long, short)


def make_imagenet_like(out_dir: str, num_images: int, seed: int = 0, classes: int = 4) -> dict:
    """Write ``num_images`` JPEGs encoded like ImageNet's in mmpretrain's ImageNet layout
    (``train/<class>/*.JPEG``, ``meta/train.txt``): sizes from :func:`imagenet_like_size`,
    quality triangular in 75-95 (mode 92), 4:2:0 chroma subsampling, textured scenes whose size
    per pixel lands near ImageNet's (~0.5-0.8 bytes/pixel). Returns (and saves as
    ``stats.json``) the mean size, bytes/pixel and quality."""
    import io
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    lines, hs, ws, nbytes, npix, quals = [], [], [], 0, 0, []
    for i in range(num_images):
        label = i % classes
        h, w = imagenet_like_size(rng)
        q = int(round(rng.triangular(75, 92, 95)))
        img = _scene(rng, h, w, rng.uniform(0.7, 0.95))
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, 'JPEG', quality=q, subsampling=2)  # 2 = 4:2:0
        rel = f'n{label:08d}/img_{i:05d}.JPEG'
        os.makedirs(osp.join(out_dir, 'train', osp.dirname(rel)), exist_ok=True)
        with open(osp.join(out_dir, 'train', rel), 'wb') as f:
            f.write(buf.getvalue())
        lines.append(f'{rel} {label}')
        hs.append(h), ws.append(w), quals.append(q)
        nbytes += buf.tell()
        npix += h * w
    os.makedirs(osp.join(out_dir, 'meta'), exist_ok=True)
    with open(osp.join(out_dir, 'meta', 'train.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    stats = dict(images=num_images, mean_hw=[float(np.mean(hs)), float(np.mean(ws))],
                 long_side_range=[int(min(map(max, hs, ws))), int(max(map(max, hs, ws)))],
                 bytes_per_pixel=nbytes / npix, mean_kb=nbytes / num_images / 1e3,
                 quality_mean=float(np.mean(quals)), subsampling='4:2:0', seed=seed)
    with open(osp.join(out_dir, 'stats.json'), 'w') as f:
        json.dump(stats, f, indent=2)
    return stats


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


# --------------------------------------------------------------------------------------------
# Side-by-side comparison of pipelines on ImageNet-like JPEGs
# --------------------------------------------------------------------------------------------
def _mae_like(scale: int, crop_ratio_range: tuple, backend: str, interpolation: str,
              extra=()) -> dict:
    """The comparison's pipelines for one host pipeline (``LoadImageFromFile``,
    ``RandomResizedCrop``, ``RandomFlip``, ``extra``, ``PackInputs``), baseline first, mmdbp's
    (the ``_base_`` configs') second, then the levers one at a time."""
    rrc = dict(scale=scale, crop_ratio_range=crop_ratio_range, interpolation=interpolation,
               backend=backend)
    flip = dict(type='RandomFlip', prob=0.5)
    pack = dict(type='PackInputs')
    load = dict(type='LoadImageFromFile')
    fast = dict(type='FastRandomResizedCrop', **rrc)
    pipes = {
        'mmpretrain': [load, dict(type='RandomResizedCrop', **rrc), flip, *extra, pack],
        'fast': [dict(fast, flip_prob=0.5), *extra, pack],
        'fast, whole-image decode': [dict(fast, flip_prob=0.5, crop_decode=False), *extra, pack],
        'fast, RandomFlip separate': [fast, flip, *extra, pack],
        'fast, reduced decode (opt-in)': [
            dict(fast, flip_prob=0.5, reduced_decode=True), *extra, pack],
        'decode only (LoadImageFromFile)': [load],
    }
    if backend == 'pillow':  # the resize lever alone, and the resize that changes pixels
        pipes['LoadImageFromFile + fast crop'] = [
            load, dict(fast, crop_decode=False), flip, *extra, pack]
        pipes['mmpretrain, cv2 resize (other pixels)'] = [
            load, dict(type='RandomResizedCrop', **dict(rrc, backend='cv2')), flip, *extra, pack]
    return pipes


COMPARISONS = {
    # mmpretrain's MAE pipeline: MAE, the MAE fast path, MIRL and GreenMIM (224 px) use it
    'mae-224': _mae_like(224, (0.2, 1.0), 'pillow', 'bicubic'),
    # mmpretrain's SimMIM 192 px pipeline (imagenet_bs256_simmim_192.py: cv2 bilinear resize)
    'simmim-192': _mae_like(192, (0.67, 1.0), 'cv2', 'bilinear', extra=[
        dict(type='SimMIMMaskGenerator', input_size=192, mask_patch_size=32, model_patch_size=4,
             mask_ratio=0.6)]),
}


def _uptime() -> str:
    la = os.getloadavg()
    return f'load average {la[0]:.2f}, {la[1]:.2f}, {la[2]:.2f}'


def stage_profile(dataset, indices) -> dict:
    """CPU milliseconds per image spent in each transform of the dataset's pipeline."""
    totals = {}
    for i in indices:
        results = dataset.get_data_info(i)
        for t in dataset.pipeline.transforms:
            c = time.process_time()
            results = t(results)
            name = type(t).__name__
            totals[name] = totals.get(name, 0.0) + time.process_time() - c
    return {k: 1e3 * v / len(indices) for k, v in totals.items()}


def compare_pipelines(datasets: dict, rounds: int, samples: int) -> dict:
    """Alternating rounds in this process: in round r every pipeline reads the same ``samples``
    indices from the same numpy seed, so load drifts hit all pipelines alike. Returns per
    pipeline the median img/s per CPU second and per wall second, and the median over rounds of
    the per-round CPU-time ratio to the first (baseline) pipeline."""
    import numpy as np
    names = list(datasets)
    n = len(next(iter(datasets.values())))
    cpu = {k: [] for k in names}
    wall = {k: [] for k in names}
    for ds in datasets.values():  # warm-up: imports, page cache
        ds[0]
    loads = []
    for r in range(rounds):
        idx = [(r * samples + i) % n for i in range(samples)]
        for name in names:
            np.random.seed(r)
            w0, c0 = time.perf_counter(), time.process_time()
            for i in idx:
                datasets[name][i]
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
        loads.append(os.getloadavg()[0])
    base = names[0]
    out = {}
    for name in names:
        out[name] = dict(
            cpu_images_per_s=float(np.median([samples / t for t in cpu[name]])),
            wall_images_per_s=float(np.median([samples / t for t in wall[name]])),
            cpu_ratio=float(np.median([b / t for b, t in zip(cpu[base], cpu[name])])),
            wall_ratio=float(np.median([b / t for b, t in zip(wall[base], wall[name])])))
    return dict(pipelines=out, load_avg_per_round=loads)


def loader_images_per_s(dataset, workers: int, batch: int, batches: int) -> float:
    """Wall-clock img/s through a DataLoader with mmpretrain's ``default_collate`` (first batch,
    i.e. worker start-up, not timed)."""
    from mmengine.dataset import default_collate as collate  # the MAE configs' collate_fn
    indices = [i % len(dataset) for i in range((batches + 1) * batch)]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, indices), batch_size=batch, num_workers=workers,
        collate_fn=collate, prefetch_factor=4 if workers else None)
    it = iter(loader)
    next(it)
    start, count = time.perf_counter(), 0
    for data in it:
        count += len(data['inputs'])
    return count / (time.perf_counter() - start)


def make_resized_copy(src: str, dst: str, short_side: int, quality: int = 90) -> None:
    """A copy of an ImageNet-layout set with every image's short side reduced to ``short_side``
    (Pillow bicubic, re-encoded at ``quality``, 4:2:0): the opt-in pre-resized copy, which
    changes pixels (resampling and a second JPEG encoding) for a cheaper decode."""
    import shutil
    from PIL import Image
    if osp.isdir(dst):
        return
    for dirpath, _, names in os.walk(osp.join(src, 'train')):
        for name in names:
            rel = osp.relpath(osp.join(dirpath, name), src)
            os.makedirs(osp.dirname(osp.join(dst, rel)), exist_ok=True)
            with Image.open(osp.join(src, rel)) as im:
                w, h = im.size
                s = short_side / min(w, h)
                if s < 1:
                    im = im.resize((round(w * s), round(h * s)), Image.BICUBIC)
                im.save(osp.join(dst, rel), 'JPEG', quality=quality, subsampling=2)
    shutil.copytree(osp.join(src, 'meta'), osp.join(dst, 'meta'))


def run_device_decode(args) -> dict:
    """``--device-decode DEVICE``: the worker side of the device-decode pipeline (file read,
    header, crop and flip draw; img/s per CPU second, 1 thread) and the preprocessor's decode,
    crop, resize and normalisation of ``--batch`` images on DEVICE (img/s, synchronised; median
    of ``--rounds`` after one warm-up batch)."""
    import numpy as np
    import mmdbp  # noqa: F401
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS, MODELS
    from mmdbp.utils.benchmark import synchronize
    root = args.data_root or osp.join(args.data_dir, f'imagenet_like_{args.num_images}')
    if not osp.isfile(osp.join(root, 'stats.json')):
        make_imagenet_like(root, args.num_images, seed=0)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/'
                                   'imagenet_bs64_mae_device-decode.py'))
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
            ds_cfg.update(data_root=root, split='train')
            dataset = DATASETS.build(ds_cfg)
            pre = MODELS.build(cfg.data_preprocessor).to(args.device_decode)
        worker_wall, worker_cpu = per_worker_rate(dataset, args.samples)
        batch = pseudo_collate([dataset[i % len(dataset)] for i in range(args.batch)])
        times = []
        for r in range(args.rounds + 1):
            synchronize(args.device_decode)
            start = time.perf_counter()
            out = pre(batch)
            synchronize(args.device_decode)
            times.append(time.perf_counter() - start)
        rate = float(np.median([args.batch / t for t in times[1:]]))
    finally:
        torch.set_num_threads(threads)
    report = dict(date=time.strftime('%Y-%m-%d %H:%M'), commit=git_commit(ROOT),
                  device=device_name(args.device_decode), batch=args.batch,
                  worker_images_per_cpu_s=worker_cpu, worker_images_per_wall_s=worker_wall,
                  preprocessor_images_per_s=rate, output_shape=list(out['inputs'].shape),
                  load=_uptime())
    print(f'[benchmark_data] device decode: workers {worker_cpu:.0f} img/s per CPU s; '
          f'DeviceDecodeDataPreprocessor on {report["device"]}: {rate:.0f} img/s '
          f'(batch {args.batch}); {report["load"]}')
    out_path = args.out or osp.join('work_dirs', 'benchmark',
                                    f'data_device_decode_{time.strftime("%Y%m%d_%H%M%S")}.json')
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    with open(out_path, 'w') as f:
        json.dump(report, f, indent=2)
    return report


def run_compare(args) -> dict:
    """``--compare``: the named comparison on ImageNet-like JPEGs (see the module doc)."""
    import cv2
    import mmdbp  # noqa: F401  (registers FastRandomResizedCrop)
    threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    try:
        return _run_compare(args)
    finally:  # leave the caller's thread settings as they were
        torch.set_num_threads(threads[0])
        cv2.setNumThreads(threads[1])


def _run_compare(args) -> dict:
    from mmengine.registry import DATASETS
    root = args.data_root or osp.join(args.data_dir, f'imagenet_like_{args.num_images}')
    stats_path = osp.join(root, 'stats.json')
    if not osp.isfile(stats_path):
        print(f'[benchmark_data] generating {args.num_images} ImageNet-like JPEGs in {root}')
        make_imagenet_like(root, args.num_images, seed=0)
    with open(stats_path) as f:
        stats = json.load(f)
    print(f'[benchmark_data] images: {stats}')
    report = dict(date=time.strftime('%Y-%m-%d %H:%M'), commit=git_commit(ROOT),
                  cpu=device_name('cpu'), threads=args.threads, images=stats, rounds=args.rounds,
                  samples=args.samples, load_before=_uptime(), comparisons={})
    for cmp_name in args.compare:
        pipes = COMPARISONS[cmp_name]
        roots = {k: root for k in pipes}
        if args.resized_copy:
            copy_root = f'{root}_short{args.resized_copy}'
            make_resized_copy(root, copy_root, args.resized_copy)
            name = f'fast, pre-resized copy (short side {args.resized_copy}; other pixels)'
            pipes = dict(pipes, **{name: pipes['fast']})
            roots[name] = copy_root
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            datasets = {k: DATASETS.build(dict(type='ImageNet', data_root=roots[k],
                                               split='train', pipeline=copy.deepcopy(v)))
                        for k, v in pipes.items()}
            res = compare_pipelines(datasets, args.rounds, args.samples)
            first = next(iter(datasets.values()))
            profile = {k: stage_profile(datasets[k], range(min(len(first), args.samples)))
                       for k in datasets}
            loaders = {}
            for k, ds in datasets.items():
                if k.startswith('decode only'):
                    continue  # full-size images of different sizes do not collate
                loaders[k] = {w: loader_images_per_s(ds, w, args.batch, args.loader_batches)
                              for w in args.workers}
        base = next(iter(res['pipelines']))
        print(f'\n[benchmark_data] {cmp_name}, {args.rounds} alternating rounds x {args.samples} '
              f'images, {args.threads} thread(s), {_uptime()}')
        print('| pipeline | img/s per CPU s | img/s per wall s | ratio to '
              f'{base} (CPU / wall) | ms per image by transform (CPU) | '
              f'img/s with N workers (wall) |')
        print('|---|---|---|---|---|---|')
        for k, r in res['pipelines'].items():
            prof = ', '.join(f'{t} {ms:.2f}' for t, ms in profile[k].items())
            ldr = ', '.join(f'{w}: {v:.0f}' for w, v in loaders.get(k, {}).items()) or '-'
            print(f'| {k} | {r["cpu_images_per_s"]:.0f} | {r["wall_images_per_s"]:.0f} | '
                  f'{r["cpu_ratio"]:.2f}x / {r["wall_ratio"]:.2f}x | {prof} | {ldr} |')
        report['comparisons'][cmp_name] = dict(res, profile_ms=profile, loaders=loaders)
    report['load_after'] = _uptime()
    print(f'[benchmark_data] {report["load_after"]} (rows taken above 1.5 are flagged in the docs)')
    out = args.out or osp.join('work_dirs', 'benchmark',
                               f'data_compare_{time.strftime("%Y%m%d_%H%M%S")}.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(report, f, indent=2)
    print(f'[benchmark_data] report: {out}')
    return report


def compare_argv(args, out: str) -> list:
    """The command line of one ``--compare`` run with ``args``' settings, writing ``out``."""
    argv = ['--compare', *args.compare, '--num-images', str(args.num_images), '--data-dir',
            args.data_dir, '--rounds', str(args.rounds), '--samples', str(args.samples),
            '--workers', *map(str, args.workers), '--batch', str(args.batch), '--threads',
            str(args.threads), '--loader-batches', str(args.loader_batches), '--out', out]
    if args.data_root:
        argv += ['--data-root', args.data_root]
    if args.resized_copy:
        argv += ['--resized-copy', str(args.resized_copy)]
    return argv


def run_repeated(args) -> dict:
    """``--compare ... --runs N``: N comparisons in fresh processes; per pipeline the median,
    min and max over the runs of its CPU-time and wall-clock ratio to the baseline."""
    import subprocess
    import tempfile

    import numpy as np
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            out = osp.join(tmp, f'run{i}.json')
            print(f'[benchmark_data] run {i + 1} of {args.runs}', flush=True)
            subprocess.run([sys.executable, osp.abspath(__file__), *compare_argv(args, out)],
                           check=True)
            with open(out) as f:
                runs.append(json.load(f))
    summary = {}
    for cmp_name in args.compare:
        names = list(runs[0]['comparisons'][cmp_name]['pipelines'])
        print(f'\n[benchmark_data] {cmp_name}: ratio to {names[0]} over {args.runs} runs '
              '(each the median of its alternating rounds)')
        print('| pipeline | CPU ratio: median (min-max) | wall ratio: median (min-max) | '
              'CPU ratio per run |')
        print('|---|---|---|---|')
        summary[cmp_name] = {}
        for name in names:
            per_run = {k: [r['comparisons'][cmp_name]['pipelines'][name][f'{k}_ratio']
                           for r in runs] for k in ('cpu', 'wall')}
            stats = {k: dict(median=float(np.median(v)), min=min(v), max=max(v), runs=v)
                     for k, v in per_run.items()}
            summary[cmp_name][name] = stats
            c, w = stats['cpu'], stats['wall']
            print(f'| {name} | {c["median"]:.2f}x ({c["min"]:.2f}-{c["max"]:.2f}) | '
                  f'{w["median"]:.2f}x ({w["min"]:.2f}-{w["max"]:.2f}) | '
                  + ', '.join(f'{v:.2f}' for v in c['runs']) + ' |')
    report = dict(date=time.strftime('%Y-%m-%d %H:%M'), commit=git_commit(ROOT), runs=runs,
                  summary=summary, load_after=_uptime())
    out = args.out or osp.join('work_dirs', 'benchmark',
                               f'data_compare_runs_{time.strftime("%Y%m%d_%H%M%S")}.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(report, f, indent=2)
    print(f'[benchmark_data] {report["load_after"]}; report: {out}')
    return report


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
    if args.compare:
        return run_repeated(args) if args.runs > 1 else run_compare(args)
    if args.device_decode:
        return run_device_decode(args)
    check_paths(args)
    if bool(args.pipeline) == bool(args.config):
        raise SystemExit('Give exactly one of --pipeline, --config or --compare.')
    if args.pipeline:
        spec = PIPELINES[args.pipeline]
        cfg_path = (resolve_config_path(spec['config']) if '::' in spec['config']
                    else osp.join(ROOT, spec['config']))
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
