"""AutocastOptimWrapper: bf16 autocast without loss scaling, on CPU as on GPU."""
import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper

from mmdbp.engine.optimizers import AutocastOptimWrapper


def test_bf16_step_equals_manual_autocast_step():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.GELU(), nn.Linear(5, 2))
    manual = nn.Sequential(nn.Linear(6, 5), nn.GELU(), nn.Linear(5, 2))
    manual.load_state_dict(model.state_dict())
    wrapper = build_optim_wrapper(model, dict(type='AutocastOptimWrapper', dtype='bfloat16',
                                              optimizer=dict(type='SGD', lr=0.1)))
    assert isinstance(wrapper, AutocastOptimWrapper) and not hasattr(wrapper, 'loss_scaler')
    opt = torch.optim.SGD(manual.parameters(), lr=0.1)
    x = torch.randn(4, 6)
    with wrapper.optim_context(model):
        out = model(x)
        assert out.dtype == torch.bfloat16  # autocast is on
        loss = out.float().square().mean()
    wrapper.update_params(loss)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        ref_loss = manual(x).float().square().mean()
    ref_loss.backward()
    opt.step()
    torch.testing.assert_close(loss, ref_loss, rtol=0, atol=0)
    for p, q in zip(model.parameters(), manual.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_float32_disables_autocast():
    model = nn.Linear(3, 3)
    wrapper = AutocastOptimWrapper(dtype='float32',
                                   optimizer=torch.optim.SGD(model.parameters(), 0.1))
    with wrapper.optim_context(model):
        assert model(torch.randn(2, 3)).dtype == torch.float32


@pytest.mark.parametrize('dtype', ['float16', torch.float16, 'int8'])
def test_rejects_dtypes_that_need_scaling(dtype):
    model = nn.Linear(3, 3)
    with pytest.raises(ValueError, match='AutocastOptimWrapper: dtype must be'):
        AutocastOptimWrapper(dtype=dtype, optimizer=torch.optim.SGD(model.parameters(), 0.1))


def test_paramwise_groups_are_plain_dicts_so_compiled_steps_trace():
    """mmengine builds paramwise groups as ConfigDicts, which torch.compile of a train step
    (mmengine's compile=True) cannot trace; the wrapper hands the optimizer plain dicts."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 1))
    wrapper = build_optim_wrapper(model, dict(
        type='AutocastOptimWrapper', dtype='float32',
        optimizer=dict(type='SGD', lr=0.1, weight_decay=0.05),
        paramwise_cfg=dict(custom_keys={'1.': dict(decay_mult=0.), 'bias': dict(decay_mult=0.)})))
    groups = wrapper.optimizer.param_groups
    assert len(groups) == 6 and all(type(g) is dict for g in groups)
    assert sorted(g['weight_decay'] for g in groups) == [0., 0., 0., 0., 0.05, 0.05]
    x = torch.randn(8, 4)

    def train_step():
        with wrapper.optim_context(model):
            loss = model(x).square().mean()
        wrapper.update_params(loss)
        return loss

    step = torch.compile(train_step, backend='eager')
    first, second = step().item(), step().item()
    assert second < first
