"""DBPOptimWrapper with ``update_interval`` > 1: R updated every k real optimiser steps, logs and
checks on the steps' schedule, exact resume from a checkpoint between two updates."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch.utils.data import Dataset

import mmdbp  # noqa: F401  (registers DBPOptimWrapper)
from mmdbp.engine.optimizers import DBPOptimWrapper
from mmdbp.registry import OPTIM_WRAPPERS


class TinyMLP(BaseModel):
    """``backbone`` (two linears, decorrelated) + ``head``; deterministic."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 5))
        self.head = nn.Linear(5, 2)

    def forward(self, inputs, targets=None, mode='tensor'):
        out = self.head(self.backbone(inputs))
        if mode == 'loss':
            return dict(loss=F.mse_loss(out, targets))
        return out


class ToyData(Dataset):

    def __init__(self, n=24):
        g = torch.Generator().manual_seed(3)
        self.x = torch.randn(n, 6, generator=g) @ (torch.eye(6) + 0.5)  # correlated inputs
        self.y = torch.randn(n, 2, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], targets=self.y[i])


def make_model():
    torch.manual_seed(0)
    return TinyMLP()


def test_R_moves_every_kth_real_step_and_logs_on_the_step_schedule(monkeypatch):
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    w = OPTIM_WRAPPERS.build(dict(type='DBPOptimWrapper', optimizer=opt, decor_lr=0.05,
                                  sample_frac=0.5, update_interval=3, log_interval=4,
                                  check_interval=4))
    logged, checked = [], []
    monkeypatch.setattr(w, '_log_correlations', lambda dec: logged.append(dec.num_updates))
    data = ToyData()
    for step in range(1, 13):
        with w.optim_context(model):
            loss = model(data.x[:8], data.y[:8], mode='loss')['loss']
        if step == 1:
            monkeypatch.setattr(w.decorrelator, 'check',
                                lambda: checked.append(w.decorrelator.num_updates))
            R0 = {k: layer.R.clone() for k, layer in w.decorrelator.layers.items()}
        w.update_params(loss)
        assert w.decorrelator.num_updates == step // 3
        moved = [not torch.equal(layer.R, R0[k]) for k, layer in w.decorrelator.layers.items()]
        assert all(moved) if step >= 3 else not any(moved)
    # updates at steps 3, 6, 9, 12; the first update at or after steps 4, 8 and 12 logs/checks
    assert logged == [2, 3, 4] and checked == [2, 3, 4]
    with pytest.raises(ValueError, match='update_interval .* must be an int >= 1'):
        DBPOptimWrapper(opt, update_interval=0)


def run_training(work_dir, max_iters, resume_from=None, ckpt_interval=None):
    from mmengine.runner import Runner
    runner = Runner(
        model=make_model(),
        work_dir=work_dir,
        train_dataloader=dict(dataset=ToyData(), sampler=dict(type='DefaultSampler', shuffle=True),
                              batch_size=4, num_workers=0, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(type='DBPOptimWrapper', optimizer=dict(type='AdamW', lr=1e-2),
                           decor_lr=0.05, kappa=0.3, sample_frac=0.5, update_interval=3),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False,
                                           interval=ckpt_interval or max_iters)),
        randomness=dict(seed=7),
        load_from=resume_from, resume=resume_from is not None,
        default_scope='mmengine')
    runner.train()
    return runner


def test_resume_from_a_checkpoint_between_two_updates_continues_exactly(tmp_path):
    straight = run_training(str(tmp_path / 'straight'), 8, ckpt_interval=4)
    ckpt = torch.load(str(tmp_path / 'straight' / 'iter_4.pth'), map_location='cpu',
                      weights_only=False)
    dbp = ckpt['optimizer']['dbp']
    assert dbp['num_updates'] == 1 and dbp['pending_steps'] == 1  # 4 = 3 + 1 pooled step
    assert set(dbp['pending_samples']) == set(straight.optim_wrapper.decorrelator.layers)
    resumed = run_training(str(tmp_path / 'resumed'), 8,
                           resume_from=str(tmp_path / 'straight' / 'iter_4.pth'))
    assert resumed.optim_wrapper.decorrelator.num_updates == 2
    for name, layer in straight.optim_wrapper.decorrelator.layers.items():
        assert torch.equal(resumed.optim_wrapper.decorrelator.layers[name].R, layer.R), name
    for (name, p), q in zip(straight.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(p, q), name
