"""TokenKeepRatioLoss against hand-computed values."""
import pytest
import torch

from mmdbp.models.losses import TokenKeepRatioLoss


def test_analytic_value():
    d1 = torch.tensor([[1., 1., 1., 0.], [1., 0., 0., 0.]])  # kept 0.75, 0.25; target 0.5
    d2 = torch.tensor([[1., 0., 0., 0.], [0., 0., 0., 0.]])  # kept 0.25, 0.00; target 0.25
    loss = TokenKeepRatioLoss(loss_weight=2.0)([d1, d2], [0.5, 0.25])
    # stage 1: (0.25^2 + 0.25^2) / 2 = 0.0625; stage 2: (0 + 0.0625) / 2 = 0.03125
    assert loss.item() == pytest.approx(2.0 * (0.0625 + 0.03125) / 2)


def test_zero_at_target_and_gradient():
    d = torch.tensor([[1., 0., 1., 0.]], requires_grad=True)
    assert TokenKeepRatioLoss()([d], [0.5]).item() == 0.
    TokenKeepRatioLoss()([d], [0.25]).backward()
    assert torch.allclose(d.grad, torch.full((1, 4), 2.0 * 2 * 0.25 / 4))


def test_bad_inputs():
    with pytest.raises(ValueError, match='keep decisions for'):
        TokenKeepRatioLoss()([torch.ones(1, 4)], [0.5, 0.25])
    with pytest.raises(ValueError, match='at least one pruning stage'):
        TokenKeepRatioLoss()([], [])
