"""DBPOptimWrapper in a config that inherits an ``AmpOptimWrapper`` (mmpretrain's MAE configs):
the inherited ``loss_scale`` / ``dtype`` choose the wrapped optim wrapper instead of reaching the
fp32 ``OptimWrapper``, which cannot take them."""
import logging
from unittest import mock

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import OptimWrapper, build_optim_wrapper

import mmdbp  # noqa: F401  (registers DBPOptimWrapper)
from mmdbp.engine.optimizers.dbp_optim_wrapper import inner_wrapper_cfg

BASE = """optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic', clip_grad=dict(max_norm=1.),
                     optimizer=dict(type='AdamW', lr=1e-3))
"""


@pytest.mark.parametrize('inner,inherited,expected', [
    # no inner type: the inherited AMP keys mean the base trained with AMP
    ({}, dict(loss_scale='dynamic'), dict(type='AmpOptimWrapper', loss_scale='dynamic')),
    ({}, dict(dtype='bfloat16', clip_grad=None),
     dict(type='AmpOptimWrapper', dtype='bfloat16', clip_grad=None)),
    ({}, dict(accumulative_counts=2), dict(type='OptimWrapper', accumulative_counts=2)),
    ({}, {}, dict(type='OptimWrapper')),
    # explicit fp32 wrapper: the AMP keys are dropped, the others kept
    (dict(type='OptimWrapper'), dict(loss_scale='dynamic', clip_grad=dict(max_norm=1.)),
     dict(type='OptimWrapper', clip_grad=dict(max_norm=1.))),
    # explicit AMP wrapper: its own keys win over the inherited ones
    (dict(type='AmpOptimWrapper', loss_scale=512.), dict(loss_scale='dynamic'),
     dict(type='AmpOptimWrapper', loss_scale=512.)),
    # any other wrapper gets what was inherited, as before
    (dict(type='AutocastOptimWrapper'), dict(dtype='bfloat16'),
     dict(type='AutocastOptimWrapper', dtype='bfloat16')),
])
def test_inner_wrapper_cfg(inner, inherited, expected):
    assert inner_wrapper_cfg(inner, inherited) == expected


def user_config(tmp_path, child: str) -> Config:
    (tmp_path / 'base.py').write_text(BASE)
    (tmp_path / 'user.py').write_text("_base_ = './base.py'\n" + child)
    return Config.fromfile(str(tmp_path / 'user.py'))


def test_inherited_amp_wrapper_builds_dbp_around_amp(tmp_path):
    """Only ``type`` and the DBP keys changed: DBP wraps an AmpOptimWrapper with the base's
    loss scale and clipping (on a CPU, mmengine's AmpOptimWrapper itself refuses to start)."""
    cfg = user_config(tmp_path, "optim_wrapper = dict(type='DBPOptimWrapper', decor_lr=1e-3)\n")
    model = nn.Linear(4, 4)
    if torch.cuda.is_available():
        wrapper = build_optim_wrapper(model.cuda(), cfg.optim_wrapper)
        assert type(wrapper.inner).__name__ == 'AmpOptimWrapper'
        assert wrapper.clip_grad_kwargs == dict(max_norm=1.)
    else:
        # the error of AmpOptimWrapper, not "OptimWrapper got an unexpected keyword 'loss_scale'"
        with pytest.raises(AssertionError, match='AmpOptimizerWrapper`` is only available'):
            build_optim_wrapper(model, cfg.optim_wrapper)


def test_explicit_fp32_inner_wrapper_drops_the_inherited_amp_keys(tmp_path):
    cfg = user_config(tmp_path, "optim_wrapper = dict(type='DBPOptimWrapper', "
                      "optim_wrapper=dict(type='OptimWrapper'))\n")
    with mock.patch('mmdbp.engine.optimizers.dbp_optim_wrapper.print_log') as log:
        wrapper = build_optim_wrapper(nn.Linear(4, 4), cfg.optim_wrapper)
    assert type(wrapper.inner) is OptimWrapper
    assert wrapper.clip_grad_kwargs == dict(max_norm=1.)
    warnings = [c for c in log.call_args_list if c.kwargs.get('level') == logging.WARNING]
    assert len(warnings) == 1 and "AMP keys ['loss_scale'] are ignored" in warnings[0].args[0]
