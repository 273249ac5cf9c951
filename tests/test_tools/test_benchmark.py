"""tools/benchmark.py and its engine mmdbp/utils/benchmark.py (no timing assertions)."""
import importlib.util
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdbp.utils import benchmark as bm

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------
# FLOPs against an analytic count
# ---------------------------------------------------------------------------------------------
def vit_forward_flops(B, img, p, C, depth, F, classes):
    """2 FLOPs per multiply-add: patch conv, qkv, q k^T, attn v, proj, fc1, fc2, linear head."""
    L = (img // p)**2
    N = L + 1
    per_block = 2 * N * C * 3 * C + 2 * N * N * C + 2 * N * N * C + 2 * N * C * C + \
        2 * N * C * F + 2 * N * F * C
    return B * (2 * L * C * 3 * p * p + depth * per_block + 2 * C * classes)


def tiny_classifier_cfg():
    return Config(dict(
        default_scope='mmpretrain',
        custom_imports=dict(imports=['mmdbp'], allow_failed_imports=False),
        model=dict(
            type='ImageClassifier',
            data_preprocessor=dict(num_classes=7, mean=[0, 0, 0], std=[1, 1, 1]),
            backbone=dict(type='FastVisionTransformer',
                          arch=dict(embed_dims=24, num_layers=2, num_heads=3,
                                    feedforward_channels=40),
                          img_size=32, patch_size=8),
            head=dict(type='LinearClsHead', num_classes=7, in_channels=24,
                      loss=dict(type='CrossEntropyLoss'))),
        optim_wrapper=dict(type='AmpOptimWrapper', loss_scale='dynamic',
                           optimizer=dict(type='AdamW', lr=1e-3)),
        train_dataloader=dict(dataset=dict(type='CustomDataset', pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=32),
            dict(type='PackInputs')])),
        test_dataloader=dict(dataset=dict(type='CustomDataset', pipeline=[
            dict(type='LoadImageFromFile'), dict(type='CenterCrop', crop_size=32),
            dict(type='PackInputs')])),
    ))


def test_flops_match_analytic_vit_count():
    """Forward FLOPs of a ViT classifier on CPU (SDPA through the CPU flash kernel that torch's
    counter does not know by itself) equal the analytic count."""
    runner = bm.StepRunner(tiny_classifier_cfg(), batch_size=3, mode='tensor')
    assert runner.count_flops() == vit_forward_flops(3, 32, 8, 24, 2, 40, 7)
    out = runner.step_fn()
    assert out.shape == (3, 7)


def test_train_step_flops_and_update():
    cfg = tiny_classifier_cfg()
    bm.set_amp(cfg, 'config', 'cpu')  # AmpOptimWrapper cannot run on CPU -> fp32
    runner = bm.StepRunner(cfg, batch_size=2, mode='train')
    before = [p.detach().clone() for p in runner.model.parameters()]
    fwd = vit_forward_flops(2, 32, 8, 24, 2, 40, 7)
    train = runner.count_flops()
    # backward = grads of weights (= forward) + grads of activations (= forward minus the
    # patch conv, whose input needs no grad); the flash-attention backward also recomputes
    # q k^T (5 attention matmuls instead of 4, i.e. +0.5x the attention forward)
    patch_conv = 2 * (2 * 16 * 24 * 3 * 64)
    attention = 2 * 2 * (4 * 17 * 17 * 24)  # batch x blocks x (q k^T + attn v)
    assert train == 3 * fwd - patch_conv + attention // 2
    assert any(not torch.equal(b, p) for b, p in zip(before, runner.model.parameters()))


def test_cpu_memory_accounting():
    def step():
        x = torch.ones(1000)  # 4000 B
        y = x + 1  # +4000 B: peak 8000
        del x, y
        return torch.ones(500)  # 2000 B after both were freed

    # (+ a few bytes of scalar temporaries that aten allocates, e.g. the wrapped `1`)
    assert 8000 <= bm.cpu_step_peak_bytes(step) <= 8000 + 64
    a = torch.zeros(10, 10)
    assert bm.tensor_bytes([a, a[2:], a.t()], {'b': torch.zeros(3, dtype=torch.float64)}) == 424


def test_cpu_memory_counts_dbp_matrices(monkeypatch):
    """The R matrices of DBPOptimWrapper live outside the model and the optimizer; the CPU peak
    counts them as resident (they were missed: DBP's memory looked 4 * sum(d_in^2) smaller)."""
    monkeypatch.setattr(bm, 'cpu_step_peak_bytes', lambda fn: 0)  # the resident part only
    resident = {}
    for dbp in (False, True):
        cfg = tiny_classifier_cfg()
        cfg.optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3))
        if dbp:
            cfg.optim_wrapper.update(type='DBPOptimWrapper', decor_lr=1e-3)
        runner = bm.StepRunner(cfg, batch_size=2, mode='train')
        runner.step_fn()  # optimiser state exists, DBP attached
        resident[dbp] = runner.cpu_peak_memory()
    # fp32 R per backbone linear: qkv, proj, fc1 (d_in = 24) and fc2 (d_in = 40), 2 blocks
    assert resident[True] - resident[False] == 2 * (3 * 24**2 + 40**2) * 4


# ---------------------------------------------------------------------------------------------
# Config adaptation
# ---------------------------------------------------------------------------------------------
def _ow_cfg(ow):
    return Config(dict(optim_wrapper=ow))


def test_set_amp_variants():
    amp_cfg = dict(type='AmpOptimWrapper', loss_scale='dynamic',
                   optimizer=dict(type='AdamW', lr=1.))
    cfg = _ow_cfg(amp_cfg)
    bm.set_amp(cfg, 'config', 'cpu')
    assert cfg.optim_wrapper.type == 'OptimWrapper' and 'loss_scale' not in cfg.optim_wrapper
    cfg = _ow_cfg(dict(amp_cfg, dtype='bfloat16'))
    bm.set_amp(cfg, 'config', 'cpu')
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
    cfg = _ow_cfg(amp_cfg)
    bm.set_amp(cfg, 'config', 'cuda')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    cfg = _ow_cfg(amp_cfg)
    bm.set_amp(cfg, 'bf16', 'cuda')
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    assert 'loss_scale' not in cfg.optim_wrapper
    cfg = _ow_cfg(amp_cfg)
    bm.set_amp(cfg, 'fp16', 'cuda')
    assert cfg.optim_wrapper.dtype == 'float16'
    with pytest.raises(ValueError, match='--amp fp16 needs a GPU'):
        bm.set_amp(_ow_cfg(amp_cfg), 'fp16', 'cpu')
    # a wrapper that wraps another one (DBPOptimWrapper): the inner one is switched, keys that
    # would reach the inner wrapper from the outer level are removed
    dbp = _ow_cfg(dict(type='DBPOptimWrapper', loss_scale='dynamic',
                       optim_wrapper=dict(type='AmpOptimWrapper'),
                       optimizer=dict(type='AdamW', lr=1.)))
    bm.set_amp(dbp, 'bf16', 'cuda')
    assert dbp.optim_wrapper.type == 'DBPOptimWrapper' and 'loss_scale' not in dbp.optim_wrapper
    assert dbp.optim_wrapper.optim_wrapper.type == 'AutocastOptimWrapper'


def test_drop_pretrained():
    model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='x.pth'),
                               pretrained='y.pth'),
                 neck=dict(init_cfg=[dict(type='Xavier'), dict(type='Pretrained_Part')]),
                 head=[dict(init_cfg=dict(type='Normal'))],
                 teacher_ckpt='teacher.pth', teacher=dict(type='ImageClassifier'))
    bm.drop_pretrained(model)
    assert model['backbone'] == dict(init_cfg=None, pretrained=None)
    assert model['teacher_ckpt'] is None and model['teacher'] == dict(type='ImageClassifier')
    assert model['neck']['init_cfg'] == [dict(type='Xavier')]
    assert model['head'][0]['init_cfg'] == dict(type='Normal')


def test_top_level_data_preprocessor_is_merged_as_the_runner_does():
    """mmpretrain-style configs put normalisation, to_rgb and num_classes in a top-level
    ``data_preprocessor`` (here: the demo EViT config, via imagenet_bs64_cls.py and
    demo_in1k_cls.py); mmengine's Runner merges it into a model config that has none. The
    harness must build the same model: checked on the built preprocessor and on the batch it
    produces, against normalisation done here by hand."""
    cfg = bm.prepare_config(osp.join(ROOT, 'configs/evit/evit_vit-demo-d12-p8_1xb32-keep0.7-5e_'
                                           'demo-in1k.py'), mode='test')
    assert 'data_preprocessor' not in cfg.model  # only at the top level
    runner = bm.StepRunner(cfg, batch_size=2, mode='test')
    pre = runner.model.data_preprocessor
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    torch.testing.assert_close(pre.mean, mean)
    torch.testing.assert_close(pre.std, std)
    assert pre.num_classes == 10
    raw = runner.batch['inputs'].float()  # BGR uint8 from the pipeline (default_collate)
    expected = (raw[:, [2, 1, 0]] - mean) / std
    torch.testing.assert_close(pre(runner.batch, False)['inputs'], expected)
    # a model config with its own data_preprocessor keeps it, unmerged (Runner: setdefault)
    own = Config(dict(model=dict(type='M', data_preprocessor=dict(mean=[1.] * 3)),
                      data_preprocessor=dict(num_classes=3, std=[2.] * 3)))
    assert bm.model_config(own)['data_preprocessor'] == dict(mean=[1.] * 3)
    assert 'data_preprocessor' not in own.model or own.model.data_preprocessor == dict(
        mean=[1.] * 3)  # the config itself is not modified


def test_set_fused_optimizer():
    cfg = _ow_cfg(dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1., foreach=True)))
    bm.set_fused_optimizer(cfg, True)
    assert cfg.optim_wrapper.optimizer.fused is True
    assert 'foreach' not in cfg.optim_wrapper.optimizer
    with pytest.raises(ValueError, match='--fused applies to AdamW/Adam/SGD'):
        bm.set_fused_optimizer(_ow_cfg(dict(optimizer=dict(type='LAMB'))), True)


def test_host_package_config_paths():
    path = bm.resolve_config_path('mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')
    assert osp.isfile(path)
    with pytest.raises(FileNotFoundError, match='no such config in the installed mmpretrain'):
        bm.resolve_config_path('mmpretrain::mae/nope.py')
    with pytest.raises(FileNotFoundError, match='Config file not found'):
        bm.resolve_config_path('configs/nope.py')


def test_synthetic_segmentation_batch_through_mmseg_pipeline():
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/ade20k_512x512.py'))
    cfg.model = dict(decode_head=dict(num_classes=150))
    cfg.train_dataloader.dataset.pipeline[3]['crop_size'] = (48, 48)  # RandomCrop
    with DefaultScope.overwrite_default_scope('mmseg'):
        batch = bm.synthetic_batch(cfg, 2, 'train', src_size=64)
    assert len(batch['inputs']) == 2 and batch['inputs'][0].shape[0] == 3
    seg = batch['data_samples'][0].gt_sem_seg.data
    assert seg.shape[-2:] == batch['inputs'][0].shape[-2:]
    assert set(seg.unique().tolist()) <= set(range(150)) | {255}


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------
def test_append_markdown_row_keeps_other_sections(tmp_path):
    md = tmp_path / 'b.md'
    md.write_text('# B\n\n## Methodology\n\ntext\n\n## MAE fast path\n\nintro\n\n'
                  '## GreenMIM\n\nother helper\'s text\n')
    bm.append_markdown_row(str(md), 'MAE fast path', '| r1 |\n')
    bm.append_markdown_row(str(md), 'MAE fast path', '| r2 |\n')
    bm.append_markdown_row(str(md), 'New section', '| r3 |\n')
    text = md.read_text()
    assert text.count(bm.TABLE_HEADER) == 2
    mae = text[text.index('## MAE fast path'):text.index('## GreenMIM')]
    assert 'intro' in mae and mae.index('| r1 |') < mae.index('| r2 |')
    assert "## GreenMIM\n\nother helper's text\n" in text and '## Methodology\n\ntext\n' in text
    assert text.rstrip().endswith('| r3 |') and '## New section' in text


# ---------------------------------------------------------------------------------------------
# The CLI end to end, with a baseline from mmpretrain
# ---------------------------------------------------------------------------------------------
def test_cli_fast_mae_vs_mmpretrain_mae(tmp_path, monkeypatch):
    tool = _load_tool('benchmark')
    workloads = _load_tool('benchmark_workloads')
    tiny = workloads.mae_small_options(img_size=32, embed_dims=32, num_layers=2, num_heads=2)
    tiny.update({'model.neck.decoder_embed_dim': 16, 'model.neck.decoder_depth': 1,
                 'model.neck.decoder_num_heads': 2})
    monkeypatch.setattr(tool, 'WORKLOADS', tool.WORKLOADS)  # restored after the test
    tool.WORKLOADS.append(dict(
        name='tiny-mae-test', section='MAE fast path', config=workloads.MAE_B,
        baseline=workloads.MMPRETRAIN_MAE_B, mode='train', batch=2, device='cpu', amp='bf16',
        fused=None, compile=False, compile_baseline=False, cfg_options=tiny, warmup=1, iters=1,
        rounds=2))
    try:
        md, out = tmp_path / 'bench.md', tmp_path / 'r.json'
        report = tool.main(['--workload', 'tiny-mae-test', '--md', str(md), '--out', str(out)])
    finally:
        tool.WORKLOADS.pop()
    saved = json.loads(out.read_text())
    assert saved['results'][0]['name'] == 'target' and saved['results'][1]['name'] == 'baseline'
    assert saved['workload'] == 'tiny-mae-test'
    t, b = report['results']
    assert t['model'] == b['model'] == 'MAE' and t['params'] == b['params']
    assert t['precision'] == b['precision'] == 'bf16'
    assert t['flops_per_step'] == b['flops_per_step'] > 0  # the same math
    assert len(t['round_s']) == 2 and t['peak_mem_mib'] > 0
    assert t['images_per_s'] == pytest.approx(2 / (sum(t['round_s']) / 2))  # median of 2
    assert t['speed_ratio_vs_baseline'] == pytest.approx(t['images_per_s'] / b['images_per_s'])
    assert t['cpu_time_ratio_vs_baseline'] == pytest.approx(
        (2 / (sum(t['round_cpu_s']) / 2)) / (2 / (sum(b['round_cpu_s']) / 2)))
    row = [ln for ln in md.read_text().splitlines() if ln.startswith('|')][-1]
    assert row.startswith('| ') and '| tiny-mae-test |' in row and '| train | 2 | bf16 |' in row


def test_pending_workload_is_refused(monkeypatch):
    tool = _load_tool('benchmark')
    monkeypatch.setattr(tool, 'WORKLOADS', tool.WORKLOADS)  # restored after the test
    tool.WORKLOADS.append(dict(name='pending-test', section='Token pruning', config=None,
                               baseline=None, mode='test', batch=1, device='cpu'))
    try:
        with pytest.raises(SystemExit, match='is pending: its config has not been written'):
            tool.main(['--workload', 'pending-test', '--no-md'])
    finally:
        tool.WORKLOADS.pop()


def test_cli_pruning_inference_workload_vs_dense(tmp_path, monkeypatch):
    """A token-pruning workload as the GPU ones are defined (_pruning_cls: pruned classifier vs
    the same config with the dense backbone, test_step), on the demo-size EViT ViT."""
    tool = _load_tool('benchmark')
    workloads = _load_tool('benchmark_workloads')
    arch = dict(embed_dims=16, num_layers=4, num_heads=2, feedforward_channels=32)
    demo = 'configs/evit/evit_vit-demo-d12-p8_1xb32-keep0.7-5e_demo-in1k.py'
    w = workloads._pruning_cls('tiny-evit-test', demo, arch, batch=2)
    w['baseline'] = demo
    w['baseline_options'] = workloads.dense_deit(arch, img_size=64, patch_size=8)
    w.update(device='cpu', amp='none', fused=None, compile=False, compile_baseline=False,
             warmup=1, iters=1, rounds=1, cfg_options={'model.head.in_channels': 16},
             target_options={'model.backbone.arch': dict(_delete_=True, **arch),
                             'model.backbone.pruning_locs': (1, 2)})
    monkeypatch.setattr(tool, 'WORKLOADS', tool.WORKLOADS)
    tool.WORKLOADS.append(w)
    try:
        md = tmp_path / 'bench.md'
        report = tool.main(['--workload', 'tiny-evit-test', '--md', str(md),
                            '--out', str(tmp_path / 'r.json')])
    finally:
        tool.WORKLOADS.pop()
    t, b = report['results']
    assert report['mode'] == 'test' and t['model'] == b['model'] == 'ImageClassifier'
    assert t['params'] == b['params']  # EViT adds no parameters to the dense ViT
    assert 0 < t['flops_per_step'] < b['flops_per_step']  # pruned tokens: less work
    row = [ln for ln in md.read_text().splitlines() if ln.startswith('|')][-1]
    assert '| tiny-evit-test |' in row and f'| dense {arch} (same code path) |' in row


def test_workload_table():
    workloads = _load_tool('benchmark_workloads')
    names = [w['name'] for w in workloads.WORKLOADS]
    assert len(names) == len(set(names))
    sections = {'MAE fast path', 'DBP-MAE', 'GreenMIM', 'MIRL', 'Token pruning'}
    for w in workloads.WORKLOADS:
        assert w['section'] in sections and w['mode'] in ('train', 'test', 'tensor')
        for key, side in (('config', 'target_options'), ('baseline', 'baseline_options')):
            if w[key]:
                path = w[key] if '::' in w[key] else osp.join(ROOT, w[key])
                cfg = bm.load_config(path, dict(w.get('cfg_options') or {}, **w.get(side, {})))
                assert 'model' in cfg, (w['name'], key)
    with pytest.raises(KeyError, match="Unknown workload 'nope'"):
        workloads.get_workload('nope')
