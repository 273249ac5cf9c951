"""Token-pruning benchmarks of issue 8: inference speed / memory, and the demo accuracy study.

Two sub-commands; each writes a JSON report under ``--out-dir`` and appends Markdown rows to the
"Token pruning" section of docs/benchmarks.md.

``speed``: inference throughput and peak tensor memory of DynamicViT and EViT against the dense
DeiT with the same weights and code path (mmdbp's SDPA ViT), built from the repository configs
(``configs/dynamicvit``, ``configs/evit``), and of UPerNet with the pruned vs the dense backbone
(``configs/*/upernet_*``). The models of one comparison are timed in alternating rounds on the
same machine::

    # CPU, small batches (minutes)
    python tools/benchmark_pruning.py speed
    # the issue's GPU setting
    python tools/benchmark_pruning.py speed --device cuda --amp bf16 --batch 256 \\
        --seg-size 512 --seg-batch 8 --seg-channels 512

``demo``: does masked fine-tuning make a better initialisation for token pruning (Shi & Wang,
arXiv 2310.17177)? On the embedded demo data, with the demo configs and the mmengine runner:

1. train the plain demo classifier (full images) once;
2. from it, masked fine-tuning (``maskft``) and, as a control with the same extra compute, the
   same fine-tuning without masking (``plain+ft``, with ``--control``);
3. for every initialisation, keep ratio in ``--keeps`` and seed in ``--seeds``: DynamicViT
   fine-tuning with the same schedule, top-1 of the pruned model; EViT applied without training
   (off the shelf) to each initialisation;
4. segmentation: UPerNet with the dense backbone from each initialisation (per seed), then its
   mIoU with EViT pruning at each keep rate at inference (``EViTSeg`` loads the same weights);
   with ``--seg-modes train`` (or ``infer train``) also UPerNet trained with the pruning backbone
   (``EViTSeg`` at each keep rate) from each initialisation, same schedule, per seed.

::

    python tools/benchmark_pruning.py demo                      # ~15-20 min on 2 CPU cores
    python tools/benchmark_pruning.py demo --seeds 0 --keeps 0.5  # quick look
    # UPerNet trained with EViTSeg (reuses the initialisations and dense UPerNets on disk)
    python tools/benchmark_pruning.py demo --control --no-cls --seg-modes train
"""
import argparse
import datetime
import json
import os
import os.path as osp
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

SECTION = 'Token pruning'
CFG = {
    'dynamicvit-deit-small':
    'configs/dynamicvit/dynamicvit_deit-small-p16_8xb128-keep0.7-30e_in1k.py',
    'dynamicvit-deit-base':
    'configs/dynamicvit/dynamicvit_deit-base-p16_8xb128-keep0.7-30e_in1k.py',
    'evit-deit-small': 'configs/evit/evit_deit-small-p16_8xb256-keep0.7-30e_in1k.py',
    'evit-deit-base': 'configs/evit/evit_deit-base-p16_8xb256-keep0.7-30e_in1k.py',
    'upernet-deit-small':
    'configs/masked_finetune/upernet_deit-small-p16_8xb2-160k_ade20k-512x512.py',
    'upernet-deit-base':
    'configs/masked_finetune/upernet_deit-base-p16_8xb2-160k_ade20k-512x512.py',
    'upernet-dynamicvit-deit-small':
    'configs/dynamicvit/upernet_dynamicvit-deit-small-p16_8xb2-keep0.7-160k_ade20k-512x512.py',
    'upernet-dynamicvit-deit-base':
    'configs/dynamicvit/upernet_dynamicvit-deit-base-p16_8xb2-keep0.7-160k_ade20k-512x512.py',
    'upernet-evit-deit-small':
    'configs/evit/upernet_evit-deit-small-p16_8xb2-keep0.7-160k_ade20k-512x512.py',
    'upernet-evit-deit-base':
    'configs/evit/upernet_evit-deit-base-p16_8xb2-keep0.7-160k_ade20k-512x512.py',
}
DEMO = {
    'plain': 'configs/masked_finetune/vit-demo-d12-p8_1xb32-coslr-30e_demo-in1k.py',
    'maskft': 'configs/masked_finetune/maskft_vit-demo-d12-p8_1xb32-mask0.25-0.75-coslr-10e_'
    'demo-in1k.py',
    'dynamicvit': 'configs/dynamicvit/dynamicvit_vit-demo-d12-p8_1xb32-keep0.7-5e_demo-in1k.py',
    'evit': 'configs/evit/evit_vit-demo-d12-p8_1xb32-keep0.7-5e_demo-in1k.py',
    'upernet': 'configs/masked_finetune/upernet_vit-demo-d12-p8_1xb8-500i_demo-ade20k-64x64.py',
    'upernet-evit': 'configs/evit/upernet_evit-vit-demo-d12-p8_1xb8-keep0.7-500i_demo-ade20k-'
    '64x64.py',
}
SPEED_HEADER = ('| date | model | device | batch | input | precision | keep | dense img/s '
                '| pruned img/s | speed-up | peak MiB dense / pruned | memory ratio '
                '| activations MiB dense / pruned | activation ratio | tokens after stages '
                '| commit |\n'
                '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n')
DEMO_HEADER = ('| date | task | pruning | init | keep | metric | mean ± std | per seed '
               '| dense (keep 1) | commit |\n'
               '|---|---|---|---|---|---|---|---|---|---|\n')


# --------------------------------------------------------------------------------------------
# speed
# --------------------------------------------------------------------------------------------
def _load(path: str, options: Optional[dict] = None):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, path))
    if options:
        cfg.merge_from_dict(options)
    return cfg


def _build(cfg_model: dict, scope: str) -> torch.nn.Module:
    from mmengine.registry import DefaultScope

    import mmdbp  # noqa: F401
    if scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg_model)


def _dense(backbone: dict) -> dict:
    """The dense FastVisionTransformer with the same arch and outputs as a pruning backbone."""
    keep = ('arch', 'img_size', 'patch_size', 'out_type', 'out_indices', 'drop_path_rate',
            'final_norm')
    dense = {k: v for k, v in backbone.items() if k in keep}
    if backbone['type'].endswith('Seg'):
        dense.setdefault('img_size', 512)
        dense.setdefault('out_type', 'featmap')
        dense.setdefault('out_indices', (2, 5, 8, 11))
    return dict(type='FastVisionTransformer', **dense)


def classifier(path: str, keep: Optional[float], img_size: int) -> torch.nn.Module:
    """ImageClassifier(backbone, head) of a pruning config (no teacher: it is not used at
    inference), or its dense twin when ``keep`` is None."""
    cfg = _load(path)
    backbone = dict(cfg.model.backbone, img_size=img_size)
    if keep is None:
        backbone = _dense(backbone)
    else:
        backbone['keep_ratio' if 'DynamicViT' in backbone['type'] else 'keep_rate'] = keep
    model = dict(type='ImageClassifier', backbone=backbone, head=cfg.model.head)
    return _build(model, 'mmpretrain')


def segmentor(path: str, keep: Optional[float], channels: Optional[int]) -> torch.nn.Module:
    cfg = _load(path)
    model = cfg.model
    model.backbone.pop('init_cfg', None)
    if keep is None:
        model.backbone = _dense(model.backbone)
        model.type = 'EncoderDecoder'
        model.pop('ratio_loss', None)
    else:
        model.backbone['keep_ratio' if 'DynamicViT' in model.backbone.type else 'keep_rate'] = keep
    norm = dict(type='BN', requires_grad=True)  # single process
    model.decode_head.norm_cfg = norm
    model.auxiliary_head.norm_cfg = norm
    if channels:
        model.decode_head.channels = channels
        model.auxiliary_head.channels = max(channels // 2, 16)
    return _build(model, 'mmseg')


def _peak_bytes(model: torch.nn.Module, fn: Callable, x: torch.Tensor,
                device: str) -> Dict[str, int]:
    """Peak tensor memory of one forward: ``activations`` (the peak of what the forward
    allocates) and ``total`` (+ weights and the input batch)."""
    from mmdbp.utils.benchmark import cpu_step_peak_bytes, tensor_bytes
    weights = tensor_bytes(list(model.parameters()) + list(model.buffers()),
                           device_type=device.split(':')[0])
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        act = torch.cuda.max_memory_allocated() - before
    else:
        act = cpu_step_peak_bytes(fn)
    return dict(activations=act, total=act + weights + x.numel() * x.element_size())


def _tokens_after_stages(model: torch.nn.Module, x: torch.Tensor) -> List[int]:
    """Sequence lengths entering the MLP of every block (cls and fused tokens included)."""
    lengths = []
    blocks = model.backbone.blocks
    hooks = [b.norm2.register_forward_pre_hook(lambda m, a: lengths.append(a[0].shape[1]))
             for b in blocks]
    model(x[:1], mode='tensor')
    for h in hooks:
        h.remove()
    locs = getattr(model.backbone, 'pruning_locs', ())
    return [lengths[i] for i in locs]


def _time(fns: Dict[str, Callable], device: str, warmup: int, iters: int,
          rounds: int) -> Dict[str, float]:
    """Median seconds per call of every function, rounds alternating between them."""
    from mmdbp.utils.benchmark import synchronize
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            synchronize(device)
            start = time.perf_counter()
            for _ in range(iters):
                fn()
            synchronize(device)
            times[k].append((time.perf_counter() - start) / iters)
    return {k: statistics.median(v) for k, v in times.items()}


def _autocast(device: str, amp: str):
    if amp == 'none':
        import contextlib
        return contextlib.nullcontext()
    dtype = dict(bf16=torch.bfloat16, fp16=torch.float16)[amp]
    return torch.autocast(device.split(':')[0], dtype=dtype)


def compare(name: str, builders: Dict[str, Callable[[], torch.nn.Module]], x: torch.Tensor,
            args, input_desc: str) -> List[dict]:
    """Time every model of ``builders`` (key 'dense' is the baseline) on the same input."""
    models = {k: b().to(args.device).eval() for k, b in builders.items()}
    x = x.to(args.device)
    fns = {}
    for k, m in models.items():
        def fn(m=m):
            with torch.inference_mode(), _autocast(args.device, args.amp):
                return m(x, mode='tensor')
        fns[k] = fn
    sec = _time(fns, args.device, args.warmup, args.iters, args.rounds)
    mem = {k: _peak_bytes(models[k], fns[k], x, args.device) for k in models}
    rows = []
    for k, m in models.items():
        if k == 'dense':
            continue
        with torch.inference_mode():
            tokens = _tokens_after_stages(m, x)
        rows.append(dict(
            model=name, variant=k, keep=float(k.rsplit('-', 1)[-1]), input=input_desc,
            batch=x.shape[0], dense_img_s=x.shape[0] / sec['dense'],
            pruned_img_s=x.shape[0] / sec[k], speedup=sec['dense'] / sec[k],
            dense_peak_mib=mem['dense']['total'] / 2**20,
            pruned_peak_mib=mem[k]['total'] / 2**20,
            memory_ratio=mem[k]['total'] / mem['dense']['total'],
            dense_act_mib=mem['dense']['activations'] / 2**20,
            pruned_act_mib=mem[k]['activations'] / 2**20,
            act_ratio=mem[k]['activations'] / max(1, mem['dense']['activations']),
            tokens_after_stages=tokens))
        print(f'{name:<28} {k:<16} {x.shape[0] / sec[k]:9.1f} img/s  '
              f'x{sec["dense"] / sec[k]:.2f} vs dense ({x.shape[0] / sec["dense"]:.1f} img/s)  '
              f'peak {mem[k]["total"] / 2**20:.0f} / {mem["dense"]["total"] / 2**20:.0f} MiB '
              f'(activations {mem[k]["activations"] / 2**20:.1f} / '
              f'{mem["dense"]["activations"] / 2**20:.1f})  tokens {tokens}', flush=True)
    del models
    return rows


def run_speed(args) -> dict:
    torch.manual_seed(0)
    rows = []
    for arch in args.archs:
        x = torch.randn(args.batch, 3, args.img_size, args.img_size)
        for method in args.methods:
            path = CFG[f'{method}-{arch}']
            builders = {'dense': lambda p=path: classifier(p, None, args.img_size)}
            for k in args.keeps:
                builders[f'{method}-{k}'] = lambda p=path, k=k: classifier(p, k, args.img_size)
            rows += compare(f'{method} {arch}', builders, x, args,
                            f'{args.img_size}px')
        if args.no_seg:
            continue
        xs = torch.randn(args.seg_batch, 3, args.seg_size, args.seg_size)
        for method in args.methods:
            path = CFG[f'upernet-{method}-{arch}']
            builders = {'dense': lambda p=path: segmentor(p, None, args.seg_channels)}
            for k in args.keeps:
                builders[f'{method}-{k}'] = lambda p=path, k=k: segmentor(
                    p, k, args.seg_channels)
            head = f', UPerHead {args.seg_channels or 512} ch'
            rows += compare(f'upernet-{method} {arch}', builders, xs, args,
                            f'{args.seg_size}px{head}')
    return dict(rows=rows)


def speed_markdown(report: dict) -> List[str]:
    out = []
    for r in report['rows']:
        cells = [report['date'], r['model'], report['device_name'], str(r['batch']), r['input'],
                 report['precision'], f'{r["keep"]}', f'{r["dense_img_s"]:.1f}',
                 f'{r["pruned_img_s"]:.1f}', f'**{r["speedup"]:.2f}x**',
                 f'{r["dense_peak_mib"]:.0f} / {r["pruned_peak_mib"]:.0f}',
                 f'{r["memory_ratio"]:.2f}x',
                 f'{r["dense_act_mib"]:.1f} / {r["pruned_act_mib"]:.1f}',
                 f'{r["act_ratio"]:.2f}x', ' / '.join(map(str, r['tokens_after_stages'])),
                 report['commit']]
        out.append('| ' + ' | '.join(cells) + ' |\n')
    return out


# --------------------------------------------------------------------------------------------
# demo study
# --------------------------------------------------------------------------------------------
class DemoRunner:
    """Runs demo configs with the mmengine runner in this process (one at a time)."""

    def __init__(self, args) -> None:
        self.args = args
        self.count = 0

    def _cfg(self, path: str, work_dir: str, seed: int, options: dict):
        cfg = _load(path, options)
        cfg.work_dir = work_dir
        cfg.experiment_name = f'{osp.basename(work_dir)}_{self.count}_{int(time.time())}'
        self.count += 1
        cfg.randomness = dict(seed=seed, deterministic=False)
        cfg.launcher = 'none'
        is_seg = cfg.default_scope == 'mmseg'
        root = self.args.ade_root if is_seg else self.args.in1k_root
        for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            if name in cfg and cfg[name] is not None:
                cfg[name].num_workers = 0
                cfg[name].persistent_workers = False
                cfg[name].dataset.data_root = root
        cfg.default_hooks.logger.interval = 1000
        cfg.default_hooks.pop('visualization', None)
        cfg.env_cfg.dist_cfg = dict(backend='gloo')
        if is_seg:
            norm = dict(type='BN', requires_grad=True)
            cfg.model.decode_head.norm_cfg = norm
            cfg.model.auxiliary_head.norm_cfg = norm
        return cfg

    def train(self, path: str, work_dir: str, seed: int, options: dict,
              init: Optional[str]) -> str:
        """Train; returns the final checkpoint (skipped when it exists and not --rerun)."""
        from mmengine.runner import Runner
        ckpt = osp.join(work_dir, 'final.pth')
        if osp.isfile(ckpt) and not self.args.rerun:
            return ckpt
        cfg = self._cfg(path, work_dir, seed, options)
        if init is not None:
            if cfg.get('train_cfg', {}).get('type', '') == 'IterBasedTrainLoop' or \
                    cfg.default_scope == 'mmseg':
                cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=init,
                                                   prefix='backbone.')
            else:
                cfg.model.init_cfg = dict(type='Pretrained', checkpoint=init)
            if 'teacher_ckpt' in cfg.model:
                cfg.model.teacher_ckpt = init
        epochs = cfg.train_cfg.get('max_epochs')
        cfg.train_cfg.val_interval = 10**6  # evaluated once, below
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10**6,
                                            save_last=False)
        runner = Runner.from_cfg(cfg)
        runner.train()
        from mmengine.runner import save_checkpoint
        save_checkpoint(dict(state_dict=runner.model.state_dict(),
                             meta=dict(config=path, seed=seed, options=options)), ckpt)
        print(f'  trained {osp.basename(path)} -> {ckpt} ({epochs or cfg.train_cfg.max_iters} '
              f'{"epochs" if epochs else "iters"})', flush=True)
        return ckpt

    def evaluate(self, path: str, work_dir: str, ckpt: str, options: dict) -> Dict[str, float]:
        from mmengine.runner import Runner
        cfg = self._cfg(path, work_dir, 0, options)
        cfg.load_from = ckpt
        cfg.model.pop('init_cfg', None)
        cfg.model.backbone.pop('init_cfg', None)
        if 'teacher' in cfg.model:  # not needed to evaluate
            cfg.model.teacher = None
            cfg.model.distill_weight = cfg.model.token_distill_weight = 0.
        runner = Runner.from_cfg(cfg)
        return runner.val()


def schedule_options(path: str, length: int, by_epoch: bool = True) -> dict:
    """Overrides that shorten a config's warm-up + decay schedule to ``length`` epochs
    (iterations when not ``by_epoch``), the warm-up clipped to fit."""
    if length < 2:
        raise SystemExit(f'{osp.basename(path)}: the schedule needs at least 2 '
                         f'{"epochs" if by_epoch else "iterations"}, got {length}.')
    warmup = min(_load(path).param_scheduler[0]['end'], length - 1)
    key = 'max_epochs' if by_epoch else 'max_iters'
    return {f'train_cfg.{key}': length, 'param_scheduler.0.end': warmup,
            'param_scheduler.1.begin': warmup, 'param_scheduler.1.end': length}


def run_demo(args) -> dict:
    wd = osp.join(args.out_dir, 'pruning_demo')
    from mmdbp.datasets.demo_data import make_demo_ade20k, make_demo_in1k
    if args.in1k_root is None:
        args.in1k_root = osp.join(wd, 'data', 'demo_in1k') + os.sep
        if not osp.isdir(args.in1k_root):
            make_demo_in1k(args.in1k_root, num_classes=10, train_per_class=20,
                           val_per_class=args.val_per_class, img_size=64, seed=0)
    if args.ade_root is None:
        args.ade_root = osp.join(wd, 'data', 'demo_ade20k')
        if not osp.isdir(args.ade_root):
            make_demo_ade20k(args.ade_root, num_train=100, num_val=args.seg_val, img_size=64,
                             seed=0)
    r = DemoRunner(args)
    results = dict(cls=[], seg=[], settings=dict(
        in1k_root=args.in1k_root, ade_root=args.ade_root,
        pretrain_epochs=args.pretrain_epochs, maskft_epochs=args.maskft_epochs,
        mask_ratio=args.mask_ratio, dynamicvit_epochs=args.dynamicvit_epochs,
        seg_iters=args.seg_iters, seg_modes=args.seg_modes, seeds=args.seeds, keeps=args.keeps))
    t0 = time.time()

    def per_seed(key: str, tag: str, train_opts: dict, init: str, eval_opts: dict,
                 metric: str) -> List[float]:
        """Train DEMO[key] from ``init`` once per seed (work dir ``<tag>_seed<seed>``) and
        evaluate each run with ``eval_opts``; ``metric`` per seed."""
        vals = []
        for seed in args.seeds:
            out = r.train(DEMO[key], osp.join(wd, f'{tag}_seed{seed}'), seed, train_opts, init)
            vals.append(r.evaluate(DEMO[key], osp.join(wd, 'eval'), out, eval_opts)[metric])
        return vals

    # 1-2: the initialisations
    inits = {'plain': r.train(DEMO['plain'], osp.join(wd, 'plain'), 0,
                              schedule_options(DEMO['plain'], args.pretrain_epochs), None)}
    ft = schedule_options(DEMO['maskft'], args.maskft_epochs)
    mft = dict(ft, **{'model.backbone.mask_ratio': tuple(args.mask_ratio)})
    inits['maskft'] = r.train(DEMO['maskft'], osp.join(wd, 'maskft'), 0, mft, inits['plain'])
    if args.control:
        ctl = dict(ft, **{'model.backbone.mask_ratio': 0.0})
        inits['plain+ft'] = r.train(DEMO['maskft'], osp.join(wd, 'plain+ft'), 0, ctl,
                                    inits['plain'])
    dense_acc = {}
    for name, ckpt in inits.items():
        m = r.evaluate(DEMO['plain'], osp.join(wd, 'eval'), ckpt, {})
        dense_acc[name] = m['accuracy/top1']
        print(f'[{time.time() - t0:6.0f}s] dense {name}: top-1 {dense_acc[name]:.1f}', flush=True)

    # 3: classification rows, from every initialisation unless --no-cls
    cls_inits = {} if args.no_cls else inits
    # 3a: EViT off the shelf (deterministic: no seeds)
    for name, ckpt in cls_inits.items():
        for k in args.keeps:
            m = r.evaluate(DEMO['evit'], osp.join(wd, 'eval'), ckpt,
                           {'model.backbone.keep_rate': k})
            results['cls'].append(dict(pruning='EViT (no training)', init=name, keep=k,
                                       seeds=[None], values=[m['accuracy/top1']],
                                       dense=dense_acc[name]))
            print(f'[{time.time() - t0:6.0f}s] EViT off-the-shelf {name} keep {k}: '
                  f'{m["accuracy/top1"]:.1f}', flush=True)
    # 3b: DynamicViT fine-tuning, same schedule for every initialisation
    dyn_opts = schedule_options(DEMO['dynamicvit'], args.dynamicvit_epochs)
    for name, ckpt in cls_inits.items():
        for k in args.keeps:
            keep = {'model.backbone.keep_ratio': k}
            vals = per_seed('dynamicvit', f'dynamicvit_{name}_keep{k}', dict(dyn_opts, **keep),
                            ckpt, keep, 'accuracy/top1')
            results['cls'].append(dict(pruning=f'DynamicViT ({args.dynamicvit_epochs} ep)',
                                       init=name, keep=k, seeds=args.seeds, values=vals,
                                       dense=dense_acc[name]))
            print(f'[{time.time() - t0:6.0f}s] DynamicViT {name} keep {k}: {vals}', flush=True)

    # 4: segmentation. Dense UPerNet per init and seed ('infer': + EViT pruning at inference);
    # 'train': UPerNet trained with the pruning backbone (EViTSeg at the keep rate), same schedule
    if not args.no_seg:
        seg_opts = schedule_options(DEMO['upernet'], args.seg_iters, by_epoch=False)
        infer = 'infer' in args.seg_modes
        for name, ckpt in inits.items():
            per_keep = {k: [] for k in [1.0] + (list(args.keeps) if infer else [])}
            for seed in args.seeds:
                run_dir = osp.join(wd, f'upernet_{name}_seed{seed}')
                out = r.train(DEMO['upernet'], run_dir, seed, seg_opts, ckpt)
                for k in per_keep:
                    m = r.evaluate(DEMO['upernet-evit'], osp.join(wd, 'eval'), out,
                                   {'model.backbone.keep_rate': k})
                    per_keep[k].append(m['mIoU'])
            dense_seg = statistics.mean(per_keep[1.0])
            print(f'[{time.time() - t0:6.0f}s] UPerNet {name} dense: {per_keep[1.0]}', flush=True)
            for k in args.keeps if infer else []:
                results['seg'].append(dict(
                    pruning=f'EViT at inference (UPerNet {args.seg_iters} it dense)', init=name,
                    keep=k, seeds=args.seeds, values=per_keep[k], dense=dense_seg,
                    dense_values=per_keep[1.0]))
                print(f'[{time.time() - t0:6.0f}s] UPerNet {name} keep {k}: {per_keep[k]} '
                      f'(dense {per_keep[1.0]})', flush=True)
            if 'train' not in args.seg_modes:
                continue
            for k in args.keeps:
                keep = {'model.backbone.keep_rate': k}
                vals = per_seed('upernet-evit', f'upernet-evit_{name}_keep{k}',
                                dict(seg_opts, **keep), ckpt, keep, 'mIoU')
                results['seg'].append(dict(
                    pruning=f'EViT in training (UPerNet {args.seg_iters} it EViTSeg)', init=name,
                    keep=k, seeds=args.seeds, values=vals, dense=dense_seg,
                    dense_values=per_keep[1.0]))
                print(f'[{time.time() - t0:6.0f}s] UPerNet-EViT trained {name} keep {k}: {vals} '
                      f'(dense {per_keep[1.0]})', flush=True)
    results['wall_s'] = time.time() - t0
    return results


def _mean_std(vals: List[float]) -> str:
    if len(vals) == 1:
        return f'{vals[0]:.1f}'
    return f'{statistics.mean(vals):.1f} ± {statistics.stdev(vals):.1f}'


def demo_markdown(report: dict) -> List[str]:
    out = []
    for task, metric in (('cls', 'top-1'), ('seg', 'mIoU')):
        for r in report[task]:
            per_seed = ', '.join(f'{v:.1f}' for v in r['values'])
            cells = [report['date'], 'demo-in1k' if task == 'cls' else 'demo-ade20k',
                     r['pruning'], r['init'], str(r['keep']), metric, _mean_std(r['values']),
                     per_seed, f'{r["dense"]:.1f}', report['commit']]
            out.append('| ' + ' | '.join(cells) + ' |\n')
    return out


# --------------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', default='work_dirs/benchmark', help='JSON reports go here')
    parser.add_argument('--md', default='docs/benchmarks.md', help='Markdown file to append to')
    parser.add_argument('--no-md', action='store_true', help='do not touch the Markdown file')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    sub = parser.add_subparsers(dest='cmd', required=True)

    sp = sub.add_parser('speed', help='inference throughput and peak memory')
    sp.add_argument('--device', default='cpu')
    sp.add_argument('--amp', choices=['none', 'bf16', 'fp16'], default='none')
    sp.add_argument('--archs', nargs='+', default=['deit-small', 'deit-base'],
                    choices=['deit-small', 'deit-base'])
    sp.add_argument('--keeps', nargs='+', type=float, default=[0.7, 0.5])
    sp.add_argument('--methods', nargs='+', default=['dynamicvit', 'evit'],
                    choices=['dynamicvit', 'evit'], help='pruning methods to time')
    sp.add_argument('--batch', type=int, default=4, help='classification batch (GPU: 256)')
    sp.add_argument('--img-size', type=int, default=224)
    sp.add_argument('--seg-batch', type=int, default=1)
    sp.add_argument('--seg-size', type=int, default=256, help='UPerNet input (GPU: 512)')
    sp.add_argument('--seg-channels', type=int, default=128,
                    help='UPerHead channels (configs: 512; smaller on CPU); 0 = config')
    sp.add_argument('--no-seg', action='store_true')
    sp.add_argument('--warmup', type=int, default=1)
    sp.add_argument('--iters', type=int, default=2)
    sp.add_argument('--rounds', type=int, default=3)

    dp = sub.add_parser('demo', help='accuracy / mIoU at keep ratios, plain vs masked-FT init')
    dp.add_argument('--in1k-root', default=None,
                    help='demo classification set; default: generated under --out-dir with '
                    '--val-per-class validation images per class')
    dp.add_argument('--ade-root', default=None, help='demo segmentation set; default: generated')
    dp.add_argument('--val-per-class', type=int, default=30,
                    help='validation images per class of the generated set (tools/'
                    'make_demo_data.py writes 5: too few to compare accuracies)')
    dp.add_argument('--seg-val', type=int, default=60, help='validation scenes (generated set)')
    dp.add_argument('--keeps', nargs='+', type=float, default=[0.7, 0.5, 0.3])
    dp.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    dp.add_argument('--pretrain-epochs', type=int, default=30)
    dp.add_argument('--maskft-epochs', type=int, default=10)
    dp.add_argument('--mask-ratio', nargs=2, type=float, default=[0.25, 0.75])
    dp.add_argument('--dynamicvit-epochs', type=int, default=5)
    dp.add_argument('--seg-iters', type=int, default=80,
                    help='UPerNet iterations (the demo configs run 500; shortened for time)')
    dp.add_argument('--control', action='store_true',
                    help='add the plain+ft initialisation (same fine-tuning without masking)')
    dp.add_argument('--no-seg', action='store_true')
    dp.add_argument('--seg-modes', nargs='+', choices=['infer', 'train'], default=['infer'],
                    help="UPerNet rows: 'infer' = dense-trained UPerNet, EViT pruning only at "
                    "inference; 'train' = UPerNet trained with EViTSeg at the keep rate from "
                    'each initialisation (same schedule, per seed)')
    dp.add_argument('--no-cls', action='store_true',
                    help='skip the classification rows (EViT off the shelf, DynamicViT); the '
                    'initialisations are still trained or loaded')
    dp.add_argument('--rerun', action='store_true', help='retrain even if checkpoints exist')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    for flag in ('in1k_root', 'ade_root'):  # given roots must exist (relative to the repository)
        if getattr(args, flag, None) is not None:
            from mmdbp.utils.tool_args import require_dir
            require_dir(getattr(args, flag), '--' + flag.replace('_', '-'),
                        'leave it out to generate the demo set, or write it with '
                        '`python tools/make_demo_data.py`')
    if args.threads:
        torch.set_num_threads(args.threads)
    from mmdbp.utils.benchmark import append_markdown_row, device_name, git_commit
    date = datetime.date.today().isoformat()
    if args.cmd == 'speed':
        report = run_speed(args)
        report.update(device_name=device_name(args.device), precision=args.amp
                      if args.amp != 'none' else 'fp32', args=vars(args))
        header, to_md = SPEED_HEADER, speed_markdown
    else:
        report = run_demo(args)
        report.update(device_name=device_name('cpu'), args=vars(args))
        header, to_md = DEMO_HEADER, demo_markdown
    report.update(date=date, commit=git_commit(ROOT), command=' '.join(sys.argv))
    os.makedirs(args.out_dir, exist_ok=True)
    out = osp.join(args.out_dir, f'pruning_{args.cmd}_{time.strftime("%Y%m%d_%H%M%S")}.json')
    with open(out, 'w') as f:
        json.dump(report, f, indent=2)
    print(f'JSON report: {out}')
    if not args.no_md:
        for row in to_md(report):
            append_markdown_row(args.md, SECTION, row, header=header)
        print(f'Markdown rows appended to {args.md} (## {SECTION})')


if __name__ == '__main__':
    main()
