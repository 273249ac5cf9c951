"""MIRL vs plain MAE on the embedded demo data: the same deep ViT, the same schedule, several seeds.

For every method (``mirl``, ``mae``) and seed this script

1. pre-trains the demo config (``configs/mirl/{mirl,mae}_vit-demo-d12-p4_...py``: a 64-wide,
   12-block ViT on 32 px crops with 4 px patches) for ``--pretrain-iters`` iterations with the
   mmengine ``Runner`` (identical optimiser, iteration-based warm-up + cosine schedule, data order
   and seed for both methods);
2. fine-tunes the encoder with ``configs/mirl/benchmarks/vit-demo-d12-p4_...py`` (layer-wise lr
   decay) for ``--finetune-iters`` iterations and evaluates top-1 on the validation split;
3. measures a **per-segment reconstruction probe**: the pre-trained encoder is frozen; at the end
   of each of its 6 segments (blocks 2, 4, ..., 12) a fresh LayerNorm + one-block MAE decoder is
   trained for ``--probe-iters`` iterations to reconstruct the masked patches (per-patch
   normalised pixels, mask ratio 0.75, MAE's loss) from that block's visible tokens; the probe's
   masked-patch MSE on the validation images (fixed masks) says how much of what is needed to
   reconstruct the image each depth still holds. All probes read raw block outputs, so MAE and
   MIRL encoders are probed identically; a randomly initialised encoder is probed as a floor.

Degradation, in the sense of the MIRL paper, shows up as deeper segments that do not improve
(or worsen) on shallower ones after MAE pre-training. The script prints and saves (JSON, and a
Markdown table appended to the ``## MIRL`` section of docs/benchmarks.md unless ``--no-md``) the
mean and standard deviation over seeds. Sizes are chosen to finish in about 20 minutes on 2 CPU
cores; expect large seed variance at this scale.

Example::

    python tools/benchmark_mirl.py                       # 3 seeds, default sizes
    python tools/benchmark_mirl.py --seeds 0 --pretrain-iters 50 --finetune-iters 30 \\
        --probe-iters 20 --no-md                         # quick smoke run
"""
import argparse
import copy
import json
import os
import os.path as osp
import resource
import statistics
import sys
import time
from typing import Dict, List

import torch
import torch.nn as nn

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)
sys.path.insert(0, ROOT)  # run from a checkout without installing

from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner, load_checkpoint  # noqa: E402

import mmdbp  # noqa: E402,F401
from mmdbp.datasets.demo_data import make_demo_in1k  # noqa: E402
from mmdbp.models.utils import random_masking  # noqa: E402
from mmdbp.registry import MODELS  # noqa: E402
from mmdbp.utils.benchmark import append_section_text  # noqa: E402

PRETRAIN = {
    'mirl': 'configs/mirl/mirl_vit-demo-d12-p4_1xb32-coslr-50e_demo-in1k-32px.py',
    'mae': 'configs/mirl/mae_vit-demo-d12-p4_1xb32-coslr-50e_demo-in1k-32px.py',
}
FINETUNE = 'configs/mirl/benchmarks/vit-demo-d12-p4_1xb32-coslr-30e_demo-in1k-32px.py'
SEGMENT_ENDS = (1, 3, 5, 7, 9, 11)  # 6 segments of 2 blocks (0-based last block)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='MIRL vs MAE on the demo data (degradation study)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--methods', nargs='+', default=['mirl', 'mae'], choices=['mirl', 'mae'])
    p.add_argument('--data-root', default=osp.join(ROOT, 'data', 'demo_in1k_bench'),
                   help='ImageNet-layout demo set (made with 60/20 images per class if missing)')
    p.add_argument('--pretrain-iters', type=int, default=100)
    p.add_argument('--finetune-iters', type=int, default=50)
    p.add_argument('--probe-iters', type=int, default=100)
    p.add_argument('--probe-lr', type=float, default=2e-3)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--no-random-floor', action='store_true',
                   help='skip the probe of a randomly initialised encoder')
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'benchmark_mirl'))
    p.add_argument('--threads', type=int, help='torch.set_num_threads')
    p.add_argument('--md', default=osp.join(ROOT, 'docs', 'benchmarks.md'))
    p.add_argument('--no-md', action='store_true', help='do not append to docs/benchmarks.md')
    return p.parse_args(argv)


def iter_schedule(iters: int) -> List[dict]:
    """Linear warm-up over the first 10% then cosine to ~0, by iteration (both methods)."""
    warm = max(1, iters // 10)
    return [
        dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warm),
        dict(type='CosineAnnealingLR', T_max=iters - warm, by_epoch=False, begin=warm,
             end=iters, eta_min=1e-5),
    ]


def base_overrides(cfg: Config, work_dir: str, seed: int, iters: int, batch: int,
                   name: str) -> Config:
    cfg.work_dir = work_dir
    cfg.experiment_name = name
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    cfg.param_scheduler = iter_schedule(iters)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters,
                                        max_keep_ckpts=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=max(1, iters // 5))
    cfg.log_processor = dict(by_epoch=False)
    cfg.custom_hooks = []
    cfg.train_dataloader.batch_size = batch
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_dataloader.pin_memory = False
    return cfg


def pretrain(method: str, seed: int, args) -> Dict:
    name = f'{method}_seed{seed}_pretrain'
    cfg = Config.fromfile(osp.join(ROOT, PRETRAIN[method]))
    cfg = base_overrides(cfg, osp.join(args.work_dir, name), seed, args.pretrain_iters,
                         args.batch, name)
    cfg.train_dataloader.dataset.data_root = args.data_root
    runner = Runner.from_cfg(cfg)
    start = time.time()
    runner.train()
    logs = {k.split('/', 1)[1]: float(v.mean(10))
            for k, v in runner.message_hub.log_scalars.items()
            if k.startswith('train/') and ('loss' in k or 'mse' in k)}
    return dict(checkpoint=osp.join(cfg.work_dir, f'iter_{args.pretrain_iters}.pth'),
                seconds=time.time() - start, final_train_logs=logs, cfg=cfg)


def finetune(checkpoint: str, method: str, seed: int, args) -> Dict:
    name = f'{method}_seed{seed}_finetune'
    cfg = Config.fromfile(osp.join(ROOT, FINETUNE))
    cfg = base_overrides(cfg, osp.join(args.work_dir, name), seed, args.finetune_iters,
                         args.batch, name)
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = args.data_root
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=10**9,
                                        save_last=False)  # nothing to keep
    runner = Runner.from_cfg(cfg)
    start = time.time()
    runner.train()
    metrics = runner.val_loop.run()
    return dict(top1=float(metrics['accuracy/top1']), seconds=time.time() - start)


class SegmentProbes(nn.Module):
    """One (LayerNorm + 1-block MAE decoder) per probed depth, trained jointly."""

    def __init__(self, num: int, dim: int, num_patches: int, patch_size: int) -> None:
        super().__init__()
        self.norms = nn.ModuleList([nn.LayerNorm(dim, eps=1e-6) for _ in range(num)])
        self.decoders = nn.ModuleList([
            MODELS.build(dict(type='FastMAEDecoder', num_patches=num_patches,
                              patch_size=patch_size, embed_dim=dim, decoder_embed_dim=dim,
                              decoder_depth=1, decoder_num_heads=4)) for _ in range(num)
        ])
        for d in self.decoders:
            d.init_weights()

    def forward(self, feats, ids_restore):
        return [dec(norm(f), ids_restore) for f, norm, dec in zip(feats, self.norms,
                                                                   self.decoders)]


@torch.no_grad()
def segment_features(encoder, images: torch.Tensor, noise: torch.Tensor):
    """Raw outputs (B, 1 + K, C) of the blocks in SEGMENT_ENDS on the MAE-masked input (the same
    for FastMAEViT and MIRLViT, whose encoders share this structure)."""
    tokens, _ = encoder.patch_embed(images)
    tokens = tokens + encoder.pos_embed[:, 1:]
    masked = random_masking(tokens, encoder.mask_ratio, noise)
    cls = (encoder.cls_token + encoder.pos_embed[:, :1]).expand(images.shape[0], -1, -1)
    x = torch.cat([cls, masked.tokens], dim=1)
    feats = []
    for i, block in enumerate(encoder.blocks):
        x = block(x)
        if i in SEGMENT_ENDS:
            feats.append(x)
    return feats, masked.mask, masked.ids_restore


def probe(checkpoint, pre_cfg: Config, seed: int, args) -> List[float]:
    """Masked-patch MSE of each segment's probe on the validation images (fixed masks)."""
    init_default_scope('mmpretrain')
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(pre_cfg.model))
    model.init_weights()
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    model.eval()
    encoder, pre = model.backbone, model.data_preprocessor
    head = MODELS.build(dict(type='MAEPretrainHead', norm_pix=True, patch_size=4,
                             loss=dict(type='PixelReconstructionLoss', criterion='L2')))
    num_patches = encoder.patch_resolution[0] * encoder.patch_resolution[1]
    probes = SegmentProbes(len(SEGMENT_ENDS), encoder.embed_dims, num_patches, 4)
    optim = torch.optim.AdamW(probes.parameters(), lr=args.probe_lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=args.probe_lr,
                                                total_steps=args.probe_iters, pct_start=0.1)
    train_loader = Runner.build_dataloader(pre_cfg.train_dataloader, seed=seed)
    step = 0
    while step < args.probe_iters:
        for batch in train_loader:
            images = pre(batch, False)['inputs']
            feats, mask, ids_restore = segment_features(encoder, images,
                                                        torch.rand(images.shape[0], num_patches))
            preds = probes(feats, ids_restore)
            loss = sum(head.loss(p, images, mask) for p in preds)
            optim.zero_grad()
            loss.backward()
            optim.step()
            sched.step()
            step += 1
            if step == args.probe_iters:
                break
    ft_cfg = Config.fromfile(osp.join(ROOT, FINETUNE))
    val_cfg = ft_cfg.val_dataloader
    val_cfg.dataset.data_root = args.data_root
    val_cfg.num_workers, val_cfg.persistent_workers = 0, False
    gen = torch.Generator().manual_seed(1234)  # the same masks for every encoder and seed
    sums, count = [0.] * len(SEGMENT_ENDS), 0
    with torch.no_grad():
        for batch in Runner.build_dataloader(val_cfg, seed=0):
            inputs = batch['inputs']  # classification loaders collate into a list
            inputs = torch.stack(inputs) if isinstance(inputs, list) else inputs
            images = pre(dict(inputs=inputs, data_samples=None), False)['inputs']
            noise = torch.rand(images.shape[0], num_patches, generator=gen)
            feats, mask, ids_restore = segment_features(encoder, images, noise)
            for k, p in enumerate(probes(feats, ids_restore)):
                sums[k] += head.loss(p, images, mask).item() * images.shape[0]
            count += images.shape[0]
    return [s / count for s in sums]


def mean_std(values: List[float]) -> str:
    if len(values) == 1:
        return f'{values[0]:.3f}'
    return f'{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}'


def summarise(results: Dict, args) -> str:
    lines = [
        f'MIRL vs MAE, demo data ({args.data_root}), tiny deep ViT (64 wide, 12 blocks, 6 '
        f'segments), {args.pretrain_iters} pre-training + {args.finetune_iters} fine-tuning '
        f'iterations, batch {args.batch}, probes {args.probe_iters} iterations, seeds '
        f'{args.seeds}:', '',
        '| encoder | fine-tuned top-1 (%) | ' +
        ' | '.join(f'probe MSE seg {i + 1}' for i in range(len(SEGMENT_ENDS))) +
        ' | final pre-train loss |',
        '|---|---|' + '---|' * len(SEGMENT_ENDS) + '---|'
    ]
    for method, runs in results.items():
        top1 = [r['top1'] for r in runs if 'top1' in r]
        probes = [[r['probe'][k] for r in runs] for k in range(len(SEGMENT_ENDS))]
        loss = [r['final_train_logs'].get('loss', float('nan')) for r in runs
                if 'final_train_logs' in r]
        lines.append(f'| {method} | {mean_std(top1) if top1 else "-"} | ' +
                     ' | '.join(mean_std(v) for v in probes) +
                     f' | {mean_std(loss) if loss else "-"} |')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not osp.isdir(osp.join(args.data_root, 'meta')):
        print(f'[benchmark_mirl] making the demo set {args.data_root} (60/20 images per class)')
        make_demo_in1k(args.data_root, num_classes=10, train_per_class=60, val_per_class=20,
                       img_size=64, seed=0)
    os.makedirs(args.work_dir, exist_ok=True)
    results: Dict[str, List[Dict]] = {m: [] for m in args.methods}
    if not args.no_random_floor:
        results['random init'] = []
    start = time.time()
    for seed in args.seeds:
        for method in args.methods:
            pre = pretrain(method, seed, args)
            ft = finetune(pre['checkpoint'], method, seed, args)
            mse = probe(pre['checkpoint'], pre['cfg'], seed, args)
            run = dict(seed=seed, top1=ft['top1'], probe=mse,
                       final_train_logs=pre['final_train_logs'],
                       seconds=dict(pretrain=pre['seconds'], finetune=ft['seconds']))
            results[method].append(run)
            print(f'[benchmark_mirl] {method} seed {seed}: top-1 {ft["top1"]:.1f}, probe '
                  f'{[round(m, 3) for m in mse]}, logs {pre["final_train_logs"]}', flush=True)
        if not args.no_random_floor:
            cfg = Config.fromfile(osp.join(ROOT, PRETRAIN['mae']))
            cfg = base_overrides(cfg, args.work_dir, seed, 1, args.batch, 'random')
            cfg.train_dataloader.dataset.data_root = args.data_root
            mse = probe(None, cfg, seed, args)
            results['random init'].append(dict(seed=seed, probe=mse))
            print(f'[benchmark_mirl] random init seed {seed}: probe '
                  f'{[round(m, 3) for m in mse]}', flush=True)
    table = summarise(results, args)
    total = time.time() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_min = (usage.ru_utime + usage.ru_stime) / 60
    print(table)
    print(f'[benchmark_mirl] total {total / 60:.1f} min wall, {cpu_min:.1f} min CPU')
    out = osp.join(args.work_dir, f'benchmark_mirl_{time.strftime("%Y%m%d_%H%M%S")}.json')
    with open(out, 'w') as f:
        json.dump(dict(args=vars(args), results=results, minutes=total / 60, cpu_minutes=cpu_min,
                       torch=torch.__version__, threads=torch.get_num_threads()), f, indent=1)
    print(f'[benchmark_mirl] report: {out}')
    if not args.no_md:
        text = (f'\n### Demo-data degradation study ({time.strftime("%Y-%m-%d")}, CPU, '
                f'{total / 60:.0f} min wall, {cpu_min:.0f} min CPU)\n\n' + table
                + f'\nCommand: `python tools/benchmark_mirl.py '
                f'{" ".join(sys.argv[1:] if argv is None else argv)}`\n')
        append_section_text(args.md, 'MIRL', text, blank_line_after=True)
    return results


if __name__ == '__main__':
    main()
