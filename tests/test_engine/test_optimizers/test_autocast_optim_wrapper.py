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
    wrapper = AutocastOptimWrapper(dtype='float32', optimizer=torch.optim.SGD(model.parameters(), 0.1))
    with wrapper.optim_context(model):
        assert model(torch.randn(2, 3)).dtype == torch.float32


@pytest.mark.parametrize('dtype', ['float16', torch.float16, 'int8'])
def test_rejects_dtypes_that_need_scaling(dtype):
    model = nn.Linear(3, 3)
    with pytest.raises(ValueError, match='AutocastOptimWrapper: dtype must be'):
        AutocastOptimWrapper(dtype=dtype, optimizer=torch.optim.SGD(model.parameters(), 0.1))
