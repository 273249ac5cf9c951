"""Tests of DBPOptimWrapper: the optimisation step, accumulation, AMP, exact resume, DDP."""
import os
import os.path as osp
import socket

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch.utils.data import Dataset

import mmdbp  # noqa: F401  (registers DBPOptimWrapper)
from mmdbp.engine.optimizers import DBPOptimWrapper
from mmdbp.models.backbones import FastVisionTransformer
from mmdbp.registry import OPTIM_WRAPPERS


class TinyRegressor(BaseModel):
    """A deterministic ViT model (no masking, no dropout): ``backbone`` + linear ``head``."""

    def __init__(self):
        super().__init__()
        self.backbone = FastVisionTransformer(
            arch=dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32),
            img_size=8, patch_size=4, out_type='avg_featmap')
        self.head = nn.Linear(16, 3)

    def forward(self, inputs, targets=None, mode='tensor'):
        out = self.head(self.backbone(inputs)[0])
        if mode == 'loss':
            return dict(loss=F.mse_loss(out, targets))
        return out


class ToyData(Dataset):

    def __init__(self, n=32):
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(n, 3, 8, 8, generator=g)
        self.y = torch.randn(n, 3, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], targets=self.y[i])


def make_model(seed=0):
    torch.manual_seed(seed)
    model = TinyRegressor()
    model.backbone.init_weights()
    return model


def snapshot_R(wrapper):
    return {k: layer.R.clone() for k, layer in wrapper.decorrelator.layers.items()}


def test_config_keys_go_to_the_inner_wrapper_and_bad_configs_fail():
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    w = OPTIM_WRAPPERS.build(dict(type='DBPOptimWrapper', optimizer=opt, clip_grad=dict(max_norm=1.),
                                  accumulative_counts=2, decor_lr=1e-2))
    assert type(w.inner) is OptimWrapper and w.inner.clip_grad_kwargs == dict(max_norm=1.)
    assert w._accumulative_counts == 2 and w.optimizer is opt and w.param_groups is opt.param_groups
    with pytest.raises(ValueError, match='put `optimizer`'):
        DBPOptimWrapper(opt, optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD')))
    with pytest.raises(ValueError, match='cannot wrap another DBPOptimWrapper'):
        DBPOptimWrapper(opt, optim_wrapper=dict(type='DBPOptimWrapper'))
    with pytest.raises(ValueError, match='kappa must be in'):
        DBPOptimWrapper(opt, kappa=-0.1)
    with pytest.raises(ValueError, match='log_interval must be an int'):
        DBPOptimWrapper(opt, log_interval=-1)
    with pytest.raises(ValueError, match='include must be a list of regular expressions'):
        DBPOptimWrapper(opt, include=['(('])  # found when the config is built, not at iteration 1
    w = DBPOptimWrapper(opt)
    with pytest.raises(RuntimeError, match='never given the model'):
        w.update_params(model(torch.randn(2, 3, 8, 8)).sum())


def test_step_updates_weights_and_R_once_per_real_step():
    model = make_model()
    w = DBPOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), decor_lr=0.05,
                        sample_frac=1.0, accumulative_counts=2)
    data = ToyData(8)
    with w.optim_context(model):
        loss = model(data.x[:4], data.y[:4], mode='loss')['loss']
    w.update_params(loss)
    assert w.decorrelator.num_updates == 0  # accumulation iteration: no step, no R update
    assert all(torch.equal(layer.R, torch.eye(layer.dim)) for layer in w.decorrelator.layers.values())
    with w.optim_context(model):
        loss = model(data.x[4:], data.y[4:], mode='loss')['loss']
    w.update_params(loss)
    assert w.decorrelator.num_updates == 1
    R_accumulated = snapshot_R(w)

    # the same update from one batch of 8: statistics of both micro-batches were pooled
    model2 = make_model()
    w2 = DBPOptimWrapper(torch.optim.SGD(model2.parameters(), lr=0.1), decor_lr=0.05, sample_frac=1.0)
    with w2.optim_context(model2):
        loss = model2(data.x, data.y, mode='loss')['loss']
    w2.update_params(loss)
    for k, R in snapshot_R(w2).items():
        assert not torch.equal(R, torch.eye(R.shape[0]))
        torch.testing.assert_close(R_accumulated[k], R, rtol=1e-5, atol=1e-6)
    for p, q in zip(model.parameters(), model2.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_bf16_autocast_keeps_R_and_statistics_fp32():
    model = make_model()
    w = DBPOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), decor_lr=0.05, sample_frac=0.5,
                        optim_wrapper=dict(type='AutocastOptimWrapper', dtype='bfloat16'))
    data = ToyData(8)
    with w.optim_context(model):
        loss = model(data.x, data.y, mode='loss')['loss']
        layer = next(iter(w.decorrelator.layers.values()))
        assert layer.samples and layer.samples[0].dtype == torch.float32
    w.update_params(loss)
    for layer in w.decorrelator.layers.values():
        assert layer.R.dtype == torch.float32 and torch.isfinite(layer.R).all()
        assert not torch.equal(layer.R, torch.eye(layer.dim))


def run_training(work_dir, max_iters, resume_from=None, ckpt_interval=None):
    from mmengine.runner import Runner
    runner = Runner(
        model=make_model(),
        work_dir=work_dir,
        train_dataloader=dict(dataset=ToyData(), sampler=dict(type='DefaultSampler', shuffle=True),
                              batch_size=4, num_workers=0, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(type='DBPOptimWrapper', optimizer=dict(type='AdamW', lr=1e-2),
                           decor_lr=0.05, kappa=0.3, sample_frac=0.5, log_interval=2),
        param_scheduler=dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=max_iters),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False,
                                           interval=ckpt_interval or max_iters)),
        randomness=dict(seed=7),
        load_from=resume_from, resume=resume_from is not None,
        default_scope='mmengine')
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    return runner, losses


def test_resume_continues_exactly(tmp_path):
    k = 3
    straight, straight_losses = run_training(str(tmp_path / 'straight'), 2 * k, ckpt_interval=k)
    ckpt = torch.load(str(tmp_path / 'straight' / f'iter_{k}.pth'), map_location='cpu', weights_only=False)
    assert set(ckpt['optimizer']['dbp']['R']) == set(straight.optim_wrapper.decorrelator.layers)
    assert not any(k.endswith('.R') for k in ckpt['state_dict'])  # model layout untouched

    resumed, resumed_losses = run_training(str(tmp_path / 'resumed'), 2 * k,
                                           resume_from=str(tmp_path / 'straight' / f'iter_{k}.pth'))
    assert resumed.optim_wrapper.decorrelator.num_updates == 2 * k
    for name, layer in straight.optim_wrapper.decorrelator.layers.items():
        R = resumed.optim_wrapper.decorrelator.layers[name].R
        assert not torch.equal(R, torch.eye(layer.dim))
        assert torch.equal(R, layer.R), name
    for (name, p), q in zip(straight.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(p, q), name
    assert len(straight_losses) == len(resumed_losses) == 2 * k
    assert (straight_losses[k:] == resumed_losses[k:]).all()


# ---------------------------------------------------------------- DDP (2 gloo processes) ----
def _ddp_steps(model, wrapper, x, y, steps=3):
    for _ in range(steps):
        with wrapper.optim_context(model):
            loss = F.mse_loss(model(x), y)
        wrapper.update_params(loss)


def _ddp_worker(rank, world, port, out_dir):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=world)
    try:
        data = ToyData(8)
        model = make_model()
        ddp = DistributedDataParallel(model)
        wrapper = DBPOptimWrapper(torch.optim.SGD(ddp.parameters(), lr=0.1), decor_lr=0.05,
                                  kappa=0.2, sample_frac=1.0)
        shard = slice(4 * rank, 4 * rank + 4)
        _ddp_steps(ddp, wrapper, data.x[shard], data.y[shard])
        torch.save(dict(R=snapshot_R(wrapper), params=[p.detach() for p in model.parameters()]),
                   osp.join(out_dir, f'rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_ddp_two_processes_equal_one_process_on_the_global_batch(tmp_path):
    # fork: the workers inherit the imported modules (a spawn would re-import mmdbp twice)
    mp.start_processes(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True,
                       start_method='fork')
    r0 = torch.load(str(tmp_path / 'rank0.pth'), weights_only=False)
    r1 = torch.load(str(tmp_path / 'rank1.pth'), weights_only=False)

    data = ToyData(8)
    model = make_model()
    wrapper = DBPOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), decor_lr=0.05,
                              kappa=0.2, sample_frac=1.0)
    _ddp_steps(model, wrapper, data.x, data.y)
    reference = snapshot_R(wrapper)
    for name, R in reference.items():
        assert torch.equal(r0['R'][name], r1['R'][name]), name  # every rank holds the same R
        assert not torch.equal(R, torch.eye(R.shape[0]))
        torch.testing.assert_close(r0['R'][name], R, rtol=1e-5, atol=1e-6)
    for p, q in zip(model.parameters(), r0['params']):
        torch.testing.assert_close(q, p.detach(), rtol=1e-5, atol=1e-6)


def test_torch_compile_traces_dbp_without_graph_breaks():
    import torch._dynamo
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    data = ToyData(8)
    eager, compiled = make_model(), make_model()
    w_eager = DBPOptimWrapper(torch.optim.SGD(eager.parameters(), lr=0.1), decor_lr=0.05,
                              sample_frac=1.0)
    w_comp = DBPOptimWrapper(torch.optim.SGD(compiled.parameters(), lr=0.1), decor_lr=0.05,
                             sample_frac=1.0)
    step = torch.compile(lambda x, y: compiled(x, y, mode='loss')['loss'], backend='eager')
    for _ in range(3):
        with w_eager.optim_context(eager):
            loss_eager = eager(data.x, data.y, mode='loss')['loss']
        w_eager.update_params(loss_eager)
        with w_comp.optim_context(compiled):
            loss_comp = step(data.x, data.y)
        w_comp.update_params(loss_comp)
        torch.testing.assert_close(loss_comp, loss_eager)
    for name, R in snapshot_R(w_eager).items():
        assert not torch.equal(R, torch.eye(R.shape[0]))
        torch.testing.assert_close(w_comp.decorrelator.layers[name].R, R)
    # sub-sampled statistics: drawn from the global RNG inside the graph, still no break
    sampled = make_model()
    w_sampled = DBPOptimWrapper(torch.optim.SGD(sampled.parameters(), lr=0.1), decor_lr=0.05,
                                sample_frac=0.5)
    step = torch.compile(lambda x, y: sampled(x, y, mode='loss')['loss'], backend='eager')
    for _ in range(2):
        with w_sampled.optim_context(sampled):
            loss = step(data.x, data.y)
        w_sampled.update_params(loss)
    assert w_sampled.decorrelator.num_updates == 2
    assert not torch._dynamo.utils.counters['graph_break']
    torch._dynamo.reset()


def test_correlation_log_and_explosion_stop(monkeypatch):
    import logging

    from mmengine.logging import MessageHub

    import mmdbp.engine.optimizers.dbp_optim_wrapper as module
    logged = []
    monkeypatch.setattr(module, 'print_log',
                        lambda msg, logger=None, level=logging.INFO: logged.append((level, msg)))
    hub = MessageHub.get_instance('test_dbp_corr_log')
    monkeypatch.setattr(MessageHub, 'get_current_instance', classmethod(lambda cls: hub))
    model = make_model()
    data = ToyData(8)
    w = DBPOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), decor_lr=0.05, sample_frac=1.0,
                        log_interval=2)
    for _ in range(4):
        with w.optim_context(model):
            loss = model(data.x, data.y, mode='loss')['loss']
        w.update_params(loss)
    debug = [msg for level, msg in logged if level == logging.DEBUG]
    assert len(debug) == 2  # updates 2 and 4
    assert all(f'{name}=' in debug[-1] for name in w.decorrelator.layers)
    values = hub.get_scalar('train/dbp_corr').data[0]
    assert len(values) == 2 and all(0 <= v <= 1 for v in values)

    # an exploding R stops training at the next check, naming the layer
    fresh = make_model()
    w = DBPOptimWrapper(torch.optim.SGD(fresh.parameters(), lr=0.), decor_lr=1e3, kappa=0.,
                        sample_frac=1.0, check_interval=1, log_interval=0)
    with pytest.raises(FloatingPointError, match=r'in layer\(s\): backbone\.blocks\.0\.attn\.qkv'):
        for _ in range(3):
            with w.optim_context(fresh):
                loss = fresh(data.x * 100, data.y, mode='loss')['loss']
            w.update_params(loss)


class CPUAmpOptimWrapper(AmpOptimWrapper):
    """mmengine's AmpOptimWrapper (its own backward/step: scale, unscale, skip on inf/NaN
    gradients, update the scale) with torch's CPU GradScaler, as mmengine refuses CPU."""

    def __init__(self, **kwargs):
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu', init_scale=2.**10)
        self.cast_dtype = None


def test_step_skipped_by_the_loss_scaler_leaves_R_alone():
    """A batch whose forward overflows (inf activations, as fp16 can) gives inf/NaN gradients:
    the loss scaler skips the optimiser step and training goes on. DBP must skip its update
    too (before: R became NaN from that batch's statistics and training stopped)."""
    data = ToyData(8)
    bad = data.x.clone()
    bad[0, 0, 0, 0] = float('inf')

    def run(batches):
        model = make_model()
        w = DBPOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1),
                            optim_wrapper=dict(type=CPUAmpOptimWrapper), decor_lr=0.05, kappa=0.2,
                            sample_frac=1.0, check_interval=1)
        w.attach(model)  # forwards outside optim_context: no CPU autocast
        for x in batches:
            w.update_params(model(x, data.y, mode='loss')['loss'])
        return model, w, w.inner

    model, w, inner = run([bad, data.x])  # no FloatingPointError
    ref_model, ref_w, _ = run([data.x])  # the reference never saw the bad batch
    assert inner.loss_scaler.get_scale() == 2.**9  # the scaler did skip one step
    assert w.decorrelator.num_updates == 1
    for name, R in snapshot_R(ref_w).items():
        assert not torch.equal(R, torch.eye(R.shape[0]))
        assert torch.equal(w.decorrelator.layers[name].R, R), name
    for p, q in zip(model.parameters(), ref_model.parameters()):
        assert torch.equal(p, q)
