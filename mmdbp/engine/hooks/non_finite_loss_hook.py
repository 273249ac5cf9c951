"""``NonFiniteLossHook``: stop training at the first non-finite loss, with a message that says
where and what to do.

Without it an mmengine run whose loss became NaN trains on (every later loss NaN), keeps saving
checkpoints of NaN weights and may rotate the last good checkpoint away. This hook checks the
loss terms of every iteration (one host-device sync, which mmengine's logging does anyway) and,
at the first non-finite one, raises ``FloatingPointError`` naming the iteration, every loss term
with its value and the last checkpoint saved before it (written before this iteration, so
finite), with the command to resume from it. It runs before ``CheckpointHook`` in the same
iteration, so no checkpoint of the broken state is written.

With ``DBPOptimWrapper``, the same sync reads DBP's (sticky) per-layer flags, so training also
stops, naming the layer, at the first step whose decorrelation matrix R became non-finite or
exceeded ``max_r_norm``; a non-finite loss lists the layers whose R is non-finite too.

Mixed precision: ``AmpOptimWrapper`` with a dynamic loss scale skips the steps whose fp16
gradients overflow and lowers the scale; the weights stay finite. A non-finite *loss* under AMP
is tolerated for ``amp_patience`` consecutive iterations (the scaler's recovery) before the
hook stops training.
"""
import math
import os.path as osp
from typing import Dict, List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.optim import AmpOptimWrapper

from mmdbp.registry import HOOKS


def last_good_checkpoint(work_dir: Optional[str] = None) -> Optional[str]:
    """The checkpoint the running training saved last (the message hub's ``last_ckpt``, else the
    work dir's ``last_checkpoint``), or None."""
    hub = MessageHub.get_current_instance()
    path = hub.get_info('last_ckpt', None)
    if not path and work_dir:
        save_file = osp.join(work_dir, 'last_checkpoint')
        if osp.isfile(save_file):
            with open(save_file, errors='replace') as f:
                path = f.read().strip() or None
    return path


def where_training_stopped(work_dir: Optional[str] = None) -> str:
    """``'at iteration N; the last checkpoint saved is X: ...'`` from the running training's
    message hub, for error messages raised deep in the training step."""
    hub = MessageHub.get_current_instance()
    it = hub.get_info('iter', None)
    where = f'at iteration {it + 1}' if isinstance(it, int) else 'during training'
    ckpt = last_good_checkpoint(work_dir)
    if ckpt:
        return (f'{where}; the last checkpoint saved is {ckpt}: fix the cause, then continue '
                f'with `--resume {ckpt}` (or an earlier checkpoint).')
    return f'{where}; no checkpoint was saved yet.'


def _dbp_decorrelator(optim_wrapper):
    """The attached ``Decorrelator`` of a DBPOptimWrapper (also inside an OptimWrapperDict)."""
    wrappers = getattr(optim_wrapper, 'optim_wrappers', None)
    for wrapper in (wrappers.values() if isinstance(wrappers, dict) else [optim_wrapper]):
        dec = wrapper.__dict__.get('decorrelator') if hasattr(wrapper, '__dict__') else None
        if dec is not None and getattr(dec, 'layers', None):
            return dec
    return None


def _is_amp(optim_wrapper) -> bool:
    inner = optim_wrapper.__dict__.get('inner', optim_wrapper) if hasattr(
        optim_wrapper, '__dict__') else optim_wrapper
    return isinstance(inner, AmpOptimWrapper) or isinstance(optim_wrapper, AmpOptimWrapper)


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training with a clear message at the first non-finite loss (see the module
    docstring). One config line switches it on (mmdbp's runtime bases do)::

        custom_hooks = [dict(type='NonFiniteLossHook')]

    Args:
        amp_patience (int): Under ``AmpOptimWrapper``, consecutive non-finite losses tolerated
            while the loss scaler recovers. Defaults to 10.
    """
    # after RuntimeInfoHook (VERY_HIGH), before CheckpointHook (VERY_LOW) writes this iteration
    priority = 'ABOVE_NORMAL'

    def __init__(self, amp_patience: int = 10) -> None:
        if not isinstance(amp_patience, int) or amp_patience < 0:
            raise ValueError(f'NonFiniteLossHook: amp_patience must be an int >= 0, got '
                             f'{amp_patience!r}.')
        self.amp_patience = amp_patience
        self._amp_bad = 0

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not isinstance(outputs, dict):
            return
        names: List[str] = []
        values: List[torch.Tensor] = []
        for name, value in outputs.items():
            if isinstance(value, torch.Tensor) and value.is_floating_point() and 'loss' in name:
                names.append(name)
                values.append(value.detach().float().mean().reshape(1))
            elif isinstance(value, float) and 'loss' in name:
                names.append(name)
                values.append(torch.tensor([value]))
        dec = _dbp_decorrelator(runner.optim_wrapper)
        flags = [layer.bad.reshape(1).float() for layer in dec.layers.values()] if dec else []
        if not values and not flags:
            return
        device = (values or flags)[0].device
        host = torch.cat([t.to(device) for t in values + flags]).tolist()  # the one sync
        losses = dict(zip(names, host[:len(values)]))
        bad_layers = [name for name, b in zip(dec.layers, host[len(values):]) if b] if dec else []
        loss_ok = all(math.isfinite(v) for v in losses.values())
        if loss_ok and not bad_layers:
            self._amp_bad = 0
            return
        if not loss_ok and not bad_layers and _is_amp(runner.optim_wrapper):
            self._amp_bad += 1
            if self._amp_bad <= self.amp_patience:
                return
        raise FloatingPointError(self._message(runner, losses, dec, bad_layers))

    def _message(self, runner, losses: Dict[str, float], dec, bad_layers: List[str]) -> str:
        terms = ', '.join(f'{k}={v:.6g}' for k, v in losses.items())
        nonfinite_r = [name for name, layer in dec.layers.items()
                       if not bool(torch.isfinite(layer.R).all())] if dec else []
        parts = []
        if any(not math.isfinite(v) for v in losses.values()):
            parts.append(f'Non-finite loss at iteration {runner.iter + 1} (epoch '
                         f'{runner.epoch + 1}): {terms}.')
            if self._amp_bad:
                parts.append(f'It stayed non-finite for {self._amp_bad} iterations under AMP.')
        else:
            parts.append(f'DBP stopped at iteration {runner.iter + 1}: loss terms {terms}.')
        if nonfinite_r:  # in model order: the first one is where it started
            later = f' (then in: {", ".join(nonfinite_r[1:])})' if nonfinite_r[1:] else ''
            parts.append(f'DBP: R is non-finite first in layer {nonfinite_r[0]}{later}.')
        if bad_layers:
            norms = ', '.join(f'{n} (||R||_F/sqrt(d) = {float(dec.layers[n].norm):.4g})'
                              for n in bad_layers)
            parts.append(f'DBP: the decorrelation matrix R became non-finite or exceeded '
                         f'max_r_norm={dec.max_r_norm:g} in layer(s): {norms}. Lower decor_lr '
                         f'(now {dec.decor_lr:g}) or kappa, raise sample_frac, or exclude the '
                         'layer.')
        ckpt = last_good_checkpoint(runner.work_dir)
        if ckpt:
            parts.append(f'The last good checkpoint is {ckpt}: lower the learning rate (or use '
                         f'gradient clipping), then continue with `--resume {ckpt}`.')
        else:
            parts.append('No checkpoint was saved before it; lower the learning rate (or use '
                         'gradient clipping) and train again.')
        return ' '.join(parts)
