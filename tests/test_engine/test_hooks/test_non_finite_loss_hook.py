"""NonFiniteLossHook: training stops at the first non-finite loss with the iteration, the loss
terms and the last good checkpoint, and writes no checkpoint of the broken state; with DBP the
message names the layer whose R became non-finite."""
import math
import os
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.runner import Runner

from mmdbp.engine.hooks.non_finite_loss_hook import NonFiniteLossHook


class _PoisonAt(Hook):
    """Before iteration ``at``: NaN into one encoder weight, or into one DBP layer's R."""
    priority = 'VERY_HIGH'

    def __init__(self, at, layer=None, scale=None):
        self.at = at
        self.layer = layer
        self.scale = scale  # scale the layer's R instead (finite, beyond max_r_norm)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 != self.at:
            return
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        with torch.no_grad():
            if self.layer is None:
                model.backbone.blocks[0].mlp.fc1.weight[0, 0] = float('nan')
            elif self.scale is not None:
                runner.optim_wrapper.decorrelator.layers[self.layer].R.mul_(self.scale)
            else:
                runner.optim_wrapper.decorrelator.layers[self.layer].R[0, 0] = float('nan')


def _train(cfg, poison, hook=True):
    cfg['val_dataloader'] = cfg['val_cfg'] = cfg['val_evaluator'] = None
    cfg['default_hooks']['checkpoint'] = dict(type='AtomicCheckpointHook', by_epoch=False, interval=1)
    cfg['custom_hooks'] = [dict(type='NonFiniteLossHook')] if hook else []
    cfg['experiment_name'] = f'nonfinite_{os.getpid()}_{id(cfg)}'
    runner = Runner.from_cfg(cfg)
    runner.register_hook(poison)
    with pytest.raises(FloatingPointError) as info:
        runner.train()
    return str(info.value), runner


def test_stops_at_the_first_non_finite_loss_and_names_the_last_good_checkpoint(mae_run_cfg, tmp_path):
    cfg = mae_run_cfg(work_dir=str(tmp_path), max_iters=6, val_interval=100)
    msg, runner = _train(cfg, _PoisonAt(3))
    assert msg.startswith('Non-finite loss at iteration 3 (epoch 1): loss=nan')
    assert f'The last good checkpoint is {osp.join(str(tmp_path), "iter_2.pth")}' in msg
    assert f'--resume {osp.join(str(tmp_path), "iter_2.pth")}' in msg
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth')) == ['iter_1.pth', 'iter_2.pth']
    good = torch.load(tmp_path / 'iter_2.pth', weights_only=False)['state_dict']
    assert all(torch.isfinite(v).all() for v in good.values() if v.is_floating_point())


def test_dbp_names_the_layer_whose_r_became_non_finite(mae_run_cfg, tmp_path):
    cfg = mae_run_cfg(work_dir=str(tmp_path), max_iters=6, val_interval=100, dbp=True)
    cfg['optim_wrapper']['check_interval'] = 1000  # DBP's own check would stop it later
    layer = 'backbone.blocks.1.attn.qkv'
    msg, runner = _train(cfg, _PoisonAt(2, layer=layer))
    assert 'iteration 2' in msg and 'loss=nan' in msg
    # the NaN reaches the inputs, hence the statistics and R, of the later layers in the same
    # step; the message names the first one (model order) and the others
    names = list(runner.optim_wrapper.decorrelator.layers)
    later = names[names.index(layer) + 1:]
    bad = [n for n, lay in runner.optim_wrapper.decorrelator.layers.items()
           if not torch.isfinite(lay.R).all()]
    assert bad == [layer] + later and later
    assert f'R is non-finite first in layer {layer} (then in: {", ".join(later)})' in msg
    assert f'The last good checkpoint is {osp.join(str(tmp_path), "iter_1.pth")}' in msg


def test_no_checkpoint_yet_and_bad_arguments(tmp_path):
    MessageHub.get_instance(f'fresh_{os.getpid()}')  # the current hub: no last_ckpt
    hook = NonFiniteLossHook()
    msg = hook._message(type('R', (), dict(iter=0, epoch=0, work_dir=str(tmp_path)))(),
                        dict(loss=math.inf, loss_rec=1.5), None, [])
    assert msg.startswith('Non-finite loss at iteration 1 (epoch 1): loss=inf, loss_rec=1.5.')
    assert 'No checkpoint was saved before it' in msg
    with pytest.raises(ValueError, match='amp_patience must be an int >= 0'):
        NonFiniteLossHook(amp_patience=-1)


def test_dbp_r_beyond_max_r_norm_stops_at_that_step(mae_run_cfg, tmp_path):
    """A finite loss but an R beyond max_r_norm (DBP's own check runs every check_interval
    steps; the hook reads the same sticky flags every step)."""
    cfg = mae_run_cfg(work_dir=str(tmp_path), max_iters=6, val_interval=100, dbp=True)
    cfg['optim_wrapper'].update(check_interval=1000, max_r_norm=100., decor_lr=1e-4)
    layer = 'backbone.blocks.0.mlp.fc2'
    msg, runner = _train(cfg, _PoisonAt(3, layer=layer, scale=1e3))
    assert msg.startswith('DBP stopped at iteration 3: loss terms loss=')
    assert f'exceeded max_r_norm=100 in layer(s): {layer} (||R||_F/sqrt(d) = ' in msg
    assert 'Lower decor_lr (now 0.0001)' in msg and 'iter_2.pth' in msg


def test_dbp_own_check_says_where_and_which_checkpoint(mae_run_cfg, tmp_path):
    """Without the hook, DBPOptimWrapper's check (every check_interval updates) raises with the
    layer, the iteration and the last checkpoint saved."""
    cfg = mae_run_cfg(work_dir=str(tmp_path), max_iters=6, val_interval=100, dbp=True)
    cfg['optim_wrapper'].update(check_interval=1, max_r_norm=100.)
    layer = 'backbone.blocks.0.mlp.fc2'
    msg, _ = _train(cfg, _PoisonAt(3, layer=layer, scale=1e3), hook=False)
    assert f'in layer(s): {layer} (' in msg
    assert f'Found at iteration 3; the last checkpoint saved is {osp.join(str(tmp_path), "iter_2.pth")}' in msg


def test_amp_tolerates_non_finite_losses_while_the_scaler_recovers(tmp_path):
    """Under AmpOptimWrapper (dynamic loss scale skips the overflowing steps) training stops
    only when the loss stays non-finite for more than amp_patience iterations."""
    from types import SimpleNamespace

    from mmengine.optim import AmpOptimWrapper, OptimWrapper
    MessageHub.get_instance(f'amp_{os.getpid()}')
    amp = object.__new__(AmpOptimWrapper)  # AmpOptimWrapper() itself needs a GPU
    hook = NonFiniteLossHook(amp_patience=3)
    runner = SimpleNamespace(optim_wrapper=amp, iter=0, epoch=0, work_dir=str(tmp_path))
    nan, one = dict(loss=torch.tensor(float('nan'))), dict(loss=torch.tensor(1.))
    for outputs in (nan, nan, nan, one, nan, nan, nan):  # a finite loss resets the count
        hook.after_train_iter(runner, 0, outputs=outputs)
        runner.iter += 1
    with pytest.raises(FloatingPointError, match='iteration 8 .*stayed non-finite for 4 iterations'):
        hook.after_train_iter(runner, 0, outputs=nan)
    plain = SimpleNamespace(optim_wrapper=object.__new__(OptimWrapper), iter=0, epoch=0,
                            work_dir=str(tmp_path))
    with pytest.raises(FloatingPointError, match='iteration 1 '):
        NonFiniteLossHook(amp_patience=3).after_train_iter(plain, 0, outputs=nan)
