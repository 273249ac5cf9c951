"""DBP's ``update_interval``: R updated every k optimiser steps from the pooled sub-samples.

References are written out independently of the code under test: the paper's update rule as
equations on the rows that were recorded (``X = z^T z / n``, ``C = X - diag X``,
``v = mean(z^2 - 1)``), and a straight run for the resume check.
"""
import pytest
import torch
import torch.nn as nn

from mmdbp.models.utils.decorrelation import Decorrelator
from shared_helpers import explicit_dbp_update


def make(d=6, k=3, frac=0.3, lr=0.05, kappa=0.3, seed=0):
    torch.manual_seed(seed)
    holder = nn.Module()
    holder.backbone = nn.Linear(d, 4).double()
    dec = Decorrelator(holder, decor_lr=lr, kappa=kappa, sample_frac=frac, include=['^backbone$'],
                       dtype=torch.float64, update_interval=k, seed=11)
    g = torch.Generator().manual_seed(5)
    dec.layers['backbone'].R = torch.eye(d, dtype=torch.float64) + 0.2 * torch.randn(
        d, d, generator=g, dtype=torch.float64)
    return holder.backbone, dec


def rows_of(z, x, R):
    """Indices of the input rows whose R x are the recorded z (each must be one of them)."""
    z_all = x.reshape(-1, x.shape[-1]) @ R.T
    dist = (z[:, None] - z_all[None]).abs().amax(-1)
    assert (dist.min(1).values < 1e-12).all()
    return dist.argmin(1)


def test_R_waits_for_the_kth_step_and_each_forward_samples_frac_over_k():
    d, k, frac, lr, kappa = 6, 3, 0.3, 0.05, 0.3
    lin, dec = make(d, k, frac, lr, kappa)
    layer = dec.layers['backbone']
    R0 = layer.R.clone()
    xs = [torch.randn(40, d, dtype=torch.float64) for _ in range(k)]
    for i, x in enumerate(xs):
        lin(x).sum().backward()
        # each forward records round(frac / k * rows) = 4 of its 40 rows, not frac * rows = 12
        assert sum(s.shape[0] for s in layer.samples) == 4 * (i + 1)
        updated = dec.step()
        if i < k - 1:
            assert not updated and torch.equal(layer.R, R0)  # R waits for the k-th step
            assert dec.pending_steps == i + 1
    assert updated and dec.num_updates == 1 and dec.pending_steps == 0
    assert not torch.equal(layer.R, R0)


def test_pooled_samples_come_from_each_steps_input_and_give_the_update():
    """The k-th step's update is the paper's rule on the pooled rows (4 from each step's own
    input, z = R x with the R of that step), at the rate k * decor_lr."""
    d, k, frac, lr, kappa = 6, 3, 0.3, 0.05, 0.3
    lin, dec = make(d, k, frac, lr, kappa)
    layer = dec.layers['backbone']
    R0 = layer.R.clone()
    xs = [torch.randn(40, d, dtype=torch.float64) for _ in range(k)]
    recorded = []
    for x in xs:
        lin(x).sum().backward()
        recorded.append(layer.samples[-1].clone())
        dec.step()
    for z, x in zip(recorded, xs):
        assert z.shape == (4, d)
        rows_of(z, x, R0)  # every recorded row is R0 x of a row of that step's input
    expected = explicit_dbp_update(R0, torch.cat(recorded), k * lr, kappa)
    torch.testing.assert_close(layer.R, expected, rtol=1e-12, atol=1e-12)
    assert layer.samples == []


def test_interval_one_is_the_per_step_rule():
    d, lr, kappa = 6, 0.05, 0.3
    lin, dec = make(d, 1, 1.0, lr, kappa)
    layer = dec.layers['backbone']
    R0 = layer.R.clone()
    x = torch.randn(10, d, dtype=torch.float64)
    lin(x).sum().backward()
    assert dec.step()
    torch.testing.assert_close(layer.R, explicit_dbp_update(R0, x @ R0.T, lr, kappa),
                               rtol=1e-12, atol=1e-12)


def test_discard_drops_only_the_skipped_steps_samples():
    d = 6
    lin, dec = make(d, 3, 0.3)
    layer = dec.layers['backbone']
    lin(torch.randn(40, d, dtype=torch.float64)).sum().backward()
    dec.step()
    kept = [s.clone() for s in layer.samples]
    lin(torch.randn(40, d, dtype=torch.float64)).sum().backward()  # a step the scaler skips
    assert len(layer.samples) == 2
    dec.discard()
    assert len(layer.samples) == 1 and torch.equal(layer.samples[0], kept[0])


def test_resume_between_two_updates_continues_exactly():
    d, k = 6, 4
    xs = [torch.randn(2, 20, d, dtype=torch.float64) for _ in range(2 * k)]

    lin, straight = make(d, k)
    for x in xs:
        lin(x).sum().backward()
        straight.step()

    lin1, first = make(d, k)
    for x in xs[:k + 2]:  # stop two steps after the first update
        lin1(x).sum().backward()
        first.step()
    state = first.state_dict()
    assert state['pending_steps'] == 2 and state['pending_samples']['backbone'].shape == (6, d)  # 2 x round(0.3 / 4 * 40)
    lin2, resumed = make(d, k, seed=1)  # another model init: everything comes from the state
    lin2.weight.data.copy_(lin1.weight.data)
    lin2.bias.data.copy_(lin1.bias.data)
    resumed.load_state_dict(state)
    for x in xs[k + 2:]:
        lin2(x).sum().backward()
        resumed.step()
    assert resumed.num_updates == straight.num_updates == 2
    assert torch.equal(resumed.layers['backbone'].R, straight.layers['backbone'].R)

    # a run with a shorter interval cannot continue a pooled interval it would have closed
    lin3, short = make(d, 2)
    with pytest.raises(ValueError, match='update_interval=2.*interval > 2'):
        short.load_state_dict(state)


@pytest.mark.parametrize('bad', [0, -1, 1.5, True, '2'])
def test_bad_update_interval_is_refused(bad):
    holder = nn.Module()
    holder.backbone = nn.Linear(3, 2)
    with pytest.raises(ValueError, match='update_interval .* must be an int >= 1'):
        Decorrelator(holder, decor_lr=1e-3, include=['^backbone$'], update_interval=bad)


def test_resume_with_other_settings_warns_and_names_each_change():
    """A checkpoint of the 'paper' rule at decor_lr 0.05, loaded by a run with the 'reference'
    rule at 0.02, warns naming both changes (old -> new); the same settings load silently."""
    from unittest import mock
    _, saved_dec = make()
    state = saved_dec.state_dict()
    holder = nn.Module()
    holder.backbone = nn.Linear(6, 4).double()
    other = Decorrelator(holder, decor_lr=0.02, kappa=0.3, sample_frac=0.3, include=['^backbone$'],
                         dtype=torch.float64, update_interval=3, update_rule='reference', seed=11)
    with mock.patch('mmdbp.models.utils.decorrelation.print_log') as log:
        other.load_state_dict(state)
    assert log.call_count == 1
    message = log.call_args[0][0]
    assert "update_rule 'paper' -> 'reference'" in message and 'decor_lr 0.05 -> 0.02' in message
    assert 'kappa' not in message and 'update_interval' not in message
    _, same = make()
    with mock.patch('mmdbp.models.utils.decorrelation.print_log') as log:
        same.load_state_dict(state)
    assert log.call_count == 0
