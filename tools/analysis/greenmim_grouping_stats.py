"""GreenMIM grouping statistics: host time per step, padding waste, cost vs the official rule,
and the group count against the bin-packing minimum.

Throughput and memory against SimMIM are measured by ``tools/benchmark.py --workload
greenmim-*``; this script measures what is specific to Group Window Attention:

* **grouping time**: building the layout of all stages (window ids, the group-size search with
  the repeated knapsack, the index tensors) from a random mask, per training step, on the host
  (this is what a GPU step also runs on the host, once per step), and its share of a full CPU
  training step of the same model (optional, ``--step-arch``);
* **padding waste**: slots attended / visible tokens (G*S / N) per stage and shift, for the
  chosen group sizes;
* **attention cost** G*S^2 + lambda*G*S of the chosen size vs the official code's fixed size
  ``min(M^2, largest window)`` (same packing) and vs attending every non-empty window padded to
  M^2 (no grouping);
* **cost-model fit** (``--fit-cost``): times Group Window Attention (forward + backward, Swin-B
  width) for many (G, S) and fits ``t = a G S^2 + b G S + c``; ``b / a`` is the lambda of the
  group-size cost model for this device (the default 32 comes from CPU fits);
* **packing gap**: groups of the repeated knapsack vs the bin-packing minimum (exact branch and
  bound, with ``ceil(total / S)`` as the lower bound) on the windows of random masks.

Examples::

    python tools/analysis/greenmim_grouping_stats.py                      # Swin-B/L, batch 128
    python tools/analysis/greenmim_grouping_stats.py --masks 10 --md docs/benchmarks.md

Writes JSON (``--out``) and appends Markdown tables to the GreenMIM section of ``--md``.
"""
import argparse
import json
import math
import os
import os.path as osp
import statistics
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmdbp.models.backbones import GreenMIMSwin  # noqa: E402
from mmdbp.models.utils.window_grouping import pack_tokens, window_index  # noqa: E402
from mmdbp.models.utils.window_packing import grouping_cost, pack_windows  # noqa: E402
from mmdbp.utils.benchmark import append_section_text  # noqa: E402

SETTINGS = [
    # name, arch, window, img, batch, per-image masks
    ('Swin-B w7 224, 1 mask/batch', 'base', 7, 224, 128, False),
    ('Swin-B w7 224, 1 mask/image', 'base', 7, 224, 128, True),
    ('Swin-B w14 224, 1 mask/batch', 'base', 14, 224, 128, False),
    ('Swin-L w14 224, 1 mask/batch', 'large', 14, 224, 128, False),
    ('Swin-L w14 224, 1 mask/image', 'large', 14, 224, 128, True),
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='GreenMIM grouping statistics')
    p.add_argument('--masks', type=int, default=20, help='random masks per setting')
    p.add_argument('--gap-masks', type=int, default=200, help='masks for the packing-gap study')
    p.add_argument('--step-arch', default='tiny',
                   help="arch of the CPU step-time share ('' = skip)")
    p.add_argument('--step-batch', type=int, default=8)
    p.add_argument('--out', default=None, help='JSON report path')
    p.add_argument('--md', default='docs/benchmarks.md', help="Markdown file ('' = none)")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--fit-cost', action='store_true', help='fit lambda on --device')
    p.add_argument('--device', default='cpu', help='device of the cost fit (cpu / cuda)')
    p.add_argument('--linear-cost', type=float, default=None,
                   help="lambda of the cost model (default: GreenMIMSwin's)")
    return p.parse_args(argv)


def min_bins(sizes, capacity, node_limit=200000):
    """Exact bin-packing minimum by branch and bound (largest item first); None if the node
    limit is hit before optimality is proven."""
    items = sorted((n for n in sizes if n > 0), reverse=True)
    lower = math.ceil(sum(items) / capacity)
    best = [len(items)]
    nodes = [0]

    def place(i, bins):
        nodes[0] += 1
        if nodes[0] > node_limit or best[0] == lower:
            return
        if len(bins) >= best[0]:
            return
        if i == len(items):
            best[0] = len(bins)
            return
        seen = set()
        for b in range(len(bins)):
            if bins[b] + items[i] <= capacity and bins[b] not in seen:
                seen.add(bins[b])
                bins[b] += items[i]
                place(i + 1, bins)
                bins[b] -= items[i]
        bins.append(items[i])
        place(i + 1, bins)
        bins.pop()

    place(0, [])
    return best[0] if (best[0] == lower or nodes[0] <= node_limit) else None


def window_sizes(coords, hw, window, shift):
    ids, num = window_index(coords, window, shift, hw)
    Bm = coords.shape[0]
    ids = (ids + torch.arange(Bm).unsqueeze(1) * num).reshape(-1)
    return torch.bincount(ids, minlength=Bm * num).tolist()


def setting_stats(name, arch, window, img, batch, per_image, masks, lam):
    model = GreenMIMSwin(arch=arch, img_size=img, window_size=window, mask_per_image=per_image,
                         grouping_linear_cost=lam)
    times, host_times, per_stage = [], [], {}
    for _ in range(masks):
        mask = model.random_unit_mask(batch)
        t = time.perf_counter()
        layout = model.build_layout(mask, 'cpu')
        times.append(time.perf_counter() - t)
        # host part of a GPU step: window ids, size search, packing and index vectors of every
        # stage and shift (the pairwise (G, S, S) tensors are then built on the device)
        t = time.perf_counter()
        for i, stage in enumerate(layout.stages):
            m, s = model.stage_windows[i]
            for shift in ((0, s) if s else (0, )):
                pack_tokens(stage.coords, stage.hw_shape, m, shift, lam)
        host_times.append(time.perf_counter() - t)
        for i, stage in enumerate(layout.stages):
            m, s = model.stage_windows[i]
            for parity, groups in enumerate(stage.window_groups):
                if parity and s == 0:
                    continue
                key = f'stage{i + 1}' + ('-shift' if parity else '')
                sizes = window_sizes(stage.coords, stage.hw_shape, m, s * parity)
                n_tok = sum(sizes)
                official_s = min(m * m, max(sizes))
                official_g = len(pack_windows(sizes, official_s))
                nonempty = sum(1 for n in sizes if n > 0)
                d = per_stage.setdefault(key, dict(tokens=[], S=[], G=[], waste=[], cost=[],
                                                   cost_official=[], cost_windows=[]))
                d['tokens'].append(n_tok)
                d['S'].append(groups.group_size)
                d['G'].append(groups.num_groups)
                d['waste'].append(groups.num_slots / n_tok)
                d['cost'].append(groups.packing.cost)
                d['cost_official'].append(grouping_cost(official_g, official_s, lam))
                d['cost_windows'].append(grouping_cost(nonempty, m * m, lam))
    rows = {}
    for key, d in per_stage.items():
        rows[key] = dict(
            tokens_per_layout=statistics.mean(d['tokens']),
            group_size=statistics.median(d['S']), num_groups=statistics.mean(d['G']),
            padding_waste=statistics.mean(d['waste']),
            cost_vs_official=statistics.mean(c / o for c, o in zip(d['cost'], d['cost_official'])),
            cost_vs_windows=statistics.mean(c / w for c, w in zip(d['cost'], d['cost_windows'])))
    total_slots = sum(r['num_groups'] * r['group_size'] for r in rows.values())
    total_tokens = sum(r['tokens_per_layout'] for r in rows.values())
    return dict(name=name, arch=arch, window=window, img=img, batch=batch, per_image=per_image,
                host_ms_median=1e3 * statistics.median(host_times),
                layout_ms_median=1e3 * statistics.median(times),
                layout_ms_max=1e3 * max(times), stages=rows,
                overall_padding_waste=total_slots / total_tokens)


def packing_gap(masks, seed):
    """Groups of the repeated knapsack vs the exact bin-packing minimum, on the windows of the
    stages of random Swin-B w7 224 masks (one mask per batch), for the group size chosen."""
    torch.manual_seed(seed)
    model = GreenMIMSwin(arch='base', img_size=224, window_size=7)
    total = optimal = at_lower = unproven = 0
    excess = []
    for _ in range(masks):
        layout = model.build_layout(model.random_unit_mask(1), 'cpu')
        for i, stage in enumerate(layout.stages):
            m, s = model.stage_windows[i]
            for parity, groups in enumerate(stage.window_groups):
                if parity and s == 0:
                    continue
                sizes = window_sizes(stage.coords, stage.hw_shape, m, s * parity)
                S, G = groups.group_size, groups.num_groups
                if S >= sum(sizes):
                    continue  # one group: trivially optimal, not informative
                total += 1
                lower = math.ceil(sum(sizes) / S)
                at_lower += G == lower
                best = lower if G == lower else min_bins(sizes, S)
                if best is None:
                    unproven += 1
                    continue
                optimal += G == best
                excess.append(G - best)
    return dict(instances=total, optimal=optimal, at_lower_bound=at_lower,
                unproven=unproven, mean_excess_groups=statistics.mean(excess) if excess else 0.,
                max_excess_groups=max(excess) if excess else 0)


def step_share(arch, batch, lam):
    """Share of the layout build in a full fp32 CPU training step (forward, loss, backward)."""
    from mmdbp.models.heads import GreenMIMHead
    from mmdbp.models.necks import GreenMIMDecoder
    model = GreenMIMSwin(arch=arch, img_size=224, window_size=7, grouping_linear_cost=lam)
    neck = GreenMIMDecoder(embed_dims=model.num_features[-1])
    head = GreenMIMHead()
    x = torch.randn(batch, 3, 224, 224)
    steps, layouts = [], []
    for i in range(4):
        t = time.perf_counter()
        latent, mask = model(x)
        head.loss(neck(latent, mask), x, mask).backward()
        steps.append(time.perf_counter() - t)
        t = time.perf_counter()
        model.build_layout(model.random_unit_mask(batch), 'cpu')
        layouts.append(time.perf_counter() - t)
    step, lay = statistics.median(steps[1:]), statistics.median(layouts[1:])
    return dict(arch=arch, batch=batch, step_ms=1e3 * step, layout_ms=1e3 * lay,
                share=lay / step, threads=torch.get_num_threads())


def fit_cost(device, dtype=torch.float32, width=128, heads=4, batch=8, tokens=784):
    """Fit ``t = a G S^2 + b G S + c`` for Group Window Attention on ``device``."""
    import numpy as np
    from mmdbp.models.utils.group_window_attention import GroupWindowAttention
    from mmdbp.models.utils.window_grouping import WindowGroups
    attn = GroupWindowAttention(width, heads, 7).to(device)
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    rows = []
    for S in [8, 16, 25, 36, 49, 64, 100, 144, 196]:
        for mult in (1.0, 1.5):
            G = int(round(tokens * mult / S))
            allowed = (torch.rand(G, 1, S, S) > 0.5) | torch.eye(S, dtype=torch.bool)
            groups = WindowGroups(torch.randint(0, tokens, (G * S, ), device=device),
                                  torch.randint(0, G * S, (tokens, ), device=device),
                                  allowed.to(device),
                                  torch.randint(0, 169, (G, S, S), device=device), S, G, True,
                                  None)
            x = torch.randn(batch, tokens, width, device=device, requires_grad=True)
            times = []
            for _ in range(6):
                sync()
                t = time.perf_counter()
                with torch.autocast(device.split(':')[0], dtype=dtype,
                                    enabled=dtype != torch.float32):
                    out = attn(x, groups)
                out.float().sum().backward()
                sync()
                times.append(time.perf_counter() - t)
            rows.append((G, S, statistics.median(times[1:])))
    A = np.array([[g * s * s, g * s, 1.] for g, s, _ in rows])
    (a, b, c), *_ = np.linalg.lstsq(A, np.array([t for *_, t in rows]), rcond=None)
    return dict(device=device, a=float(a), b=float(b), c=float(c), linear_cost=float(b / a),
                points=rows)


def markdown(report):
    lines = ['\nGrouping statistics (`tools/analysis/greenmim_grouping_stats.py`, '
             f'{report["date"]}, {report["masks"]} random masks per setting, '
             f'lambda = {report["linear_cost"]}, host: {report["host"]}):\n\n',
             '| setting | host part ms/step (median) | whole layout on CPU ms/step (median / max) '
             '| padding waste G*S/N (all stages) '
             '| per stage: S, G, waste, cost vs official fixed S, cost vs padded windows |\n',
             '|---|---|---|---|---|\n']
    for s in report['settings']:
        per = '; '.join(
            f'{k}: S={v["group_size"]:.0f}, G={v["num_groups"]:.1f}, {v["padding_waste"]:.2f}, '
            f'{v["cost_vs_official"]:.2f}, {v["cost_vs_windows"]:.2f}'
            for k, v in s['stages'].items())
        lines.append(f'| {s["name"]} (batch {s["batch"]}) | {s["host_ms_median"]:.1f} | '
                     f'{s["layout_ms_median"]:.1f} / '
                     f'{s["layout_ms_max"]:.1f} | {s["overall_padding_waste"]:.3f} | {per} |\n')
    if report.get('step_share'):
        st = report['step_share']
        lines.append(f'\nShare of grouping in a CPU training step (Swin-{st["arch"][0].upper()} '
                     f'224 px, batch {st["batch"]}, fp32, {st["threads"]} threads): layout '
                     f'{st["layout_ms"]:.1f} ms of a {st["step_ms"]:.0f} ms step = '
                     f'**{100 * st["share"]:.1f}%**.\n')
    if report.get('cost_fit'):
        f = report['cost_fit']
        lines.append(f'\nCost-model fit on {f["device"]} (Group Window Attention fwd+bwd, width '
                     f'128, 4 heads, 8 x 784 tokens): t = {f["a"]:.3g} G S^2 + {f["b"]:.3g} G S '
                     f'+ {f["c"]:.3g} s, lambda = b / a = **{f["linear_cost"]:.0f}**.\n')
    g = report['packing_gap']
    lines.append(f'\nPacking gap (Swin-B w7 224, {g["instances"]} stage/shift instances of '
                 f'random masks, chosen S): repeated knapsack optimal in {g["optimal"]} '
                 f'({g["at_lower_bound"]} reach the lower bound ceil(N/S)), mean excess '
                 f'{g["mean_excess_groups"]:.3f} groups, max {g["max_excess_groups"]}, '
                 f'{g["unproven"]} not proven within the search limit.\n')
    return ''.join(lines)


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    lam = args.linear_cost
    if lam is None:  # the backbone's default
        lam = GreenMIMSwin(arch='tiny').grouping_linear_cost
    import platform
    report = dict(date=time.strftime('%Y-%m-%d'), masks=args.masks, linear_cost=lam,
                  host=f'{platform.processor() or platform.machine()}, torch {torch.__version__}',
                  settings=[setting_stats(*s, masks=args.masks, lam=lam) for s in SETTINGS],
                  packing_gap=packing_gap(args.gap_masks, args.seed))
    if args.step_arch:
        report['step_share'] = step_share(args.step_arch, args.step_batch, lam)
    if args.fit_cost:
        report['cost_fit'] = fit_cost(args.device)
    out = args.out or osp.join('work_dirs', 'benchmark',
                               f'greenmim_grouping_{time.strftime("%Y%m%d_%H%M%S")}.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(report, f, indent=2)
    md = markdown(report)
    print(md)
    print(f'report: {out}')
    if args.md:
        append_section_text(args.md, 'GreenMIM', md)


if __name__ == '__main__':
    main()
