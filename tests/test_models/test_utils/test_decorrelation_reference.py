"""DBP's update rules against an independent transcription of the authors' reference code.

``ReferenceDecorrelation`` below is written from ``artcogsys/decorbp``,
``decorrelation/decorrelation.py`` (``Decorrelation.forward`` in training without down-sampling,
and ``Decorrelation.update`` for ``method='standard'`` and ``'normalized'``), in float64. mmdbp's
:class:`Decorrelator` runs the same steps on a ``nn.Linear`` (all rows, ``sample_frac=1``) with
``update_rule='reference'`` / ``'reference_normalized'``, and R must follow the reference step
by step. ``'paper'`` is checked against the papers' equation ``diag(v) R`` and shown to differ
from the reference for 0 < kappa < 1 (and to agree at kappa = 0 and 1 from R = I).
"""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdbp.models.utils.decorrelation import Decorrelator


class ReferenceDecorrelation:
    """artcogsys/decorbp ``Decorrelation`` (full R, ``downsample_perc=1``), transcribed."""

    def __init__(self, in_features, method, decor_lr, kappa):
        self.in_features = in_features
        self.method = method
        self.decor_lr = decor_lr
        self.kappa = kappa
        self.weight = torch.eye(in_features, dtype=torch.float64)  # nn.init.eye_

    def forward(self, input):
        input_flat = input.reshape(-1, input.shape[-1])
        self.decor_state = F.linear(input_flat, self.weight)
        return self.decor_state

    def update(self):
        X = self.decor_state.T @ self.decor_state / len(self.decor_state)
        C = X - torch.diag(torch.diag(X))
        v = torch.mean(self.decor_state**2 - 1.0, axis=0)
        if self.method == 'standard':
            self.weight -= self.decor_lr * ((1.0 - self.kappa) * C @ self.weight
                                            + self.kappa * v * self.weight)
        elif self.method == 'normalized':
            self.weight -= self.decor_lr * (((1.0 - self.kappa) / (self.in_features - 1)) * C
                                            @ self.weight + self.kappa * 2 * v * self.weight)
        else:
            raise ValueError(self.method)


def paper_update(R, z, lr, kappa):
    """The papers' rule, R - lr [(1 - kappa) C R + kappa diag(v) R], written out per entry."""
    n, d = z.shape
    X = z.T @ z / n
    new = R.clone()
    for i in range(d):
        for j in range(d):
            cr = sum(X[i, k] * R[k, j] for k in range(d) if k != i)
            new[i, j] = R[i, j] - lr * ((1 - kappa) * cr + kappa * (X[i, i] - 1) * R[i, j])
    return new


D_IN, D_OUT = 6, 10


def inputs(steps, seed=0):
    """Correlated, non-unit-variance token batches (B=3, T=5, d=6), float64."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(D_IN, D_IN, generator=g, dtype=torch.float64) + 2 * torch.eye(
        D_IN, dtype=torch.float64)
    return [torch.randn(3, 5, D_IN, generator=g, dtype=torch.float64) @ mix for _ in range(steps)]


def run_mmdbp(rule, kappa, lr, xs):
    model = nn.Sequential(nn.Linear(D_IN, D_OUT)).double().train()
    dec = Decorrelator(model, decor_lr=lr, kappa=kappa, sample_frac=1.0, include=['^0$'],
                       dtype=torch.float64, update_rule=rule)
    Rs = []
    for x in xs:
        model(x).sum().backward()  # a training forward records z = R x (all rows)
        dec.update()
        Rs.append(dec.layers['0'].R.clone())
    return Rs


@pytest.mark.parametrize('rule,method', [('reference', 'standard'),
                                         ('reference_normalized', 'normalized')])
@pytest.mark.parametrize('kappa', [0., 0.3, 0.5, 1.])
def test_reference_rules_follow_the_authors_update(rule, method, kappa):
    lr, xs = 0.02, inputs(8)
    ref = ReferenceDecorrelation(D_IN, method, lr, kappa)
    for step, (x, R) in enumerate(zip(xs, run_mmdbp(rule, kappa, lr, xs))):
        ref.forward(x)
        ref.update()
        torch.testing.assert_close(R, ref.weight, rtol=1e-12, atol=1e-13,
                                   msg=f'step {step}')
    assert (ref.weight - torch.eye(D_IN, dtype=torch.float64)).abs().max() > 1e-2  # R moved


@pytest.mark.parametrize('kappa', [0., 0.5, 1.])
def test_paper_rule_follows_the_papers_equation(kappa):
    lr, xs = 0.02, inputs(4, seed=1)
    R = torch.eye(D_IN, dtype=torch.float64)
    for x, got in zip(xs, run_mmdbp('paper', kappa, lr, xs)):
        R = paper_update(R, x.reshape(-1, D_IN) @ R.T, lr, kappa)
        torch.testing.assert_close(got, R, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize('kappa,same', [(0., True), (1., True), (0.5, False)])
def test_paper_and_reference_differ_only_for_mixed_kappa(kappa, same):
    xs = inputs(6, seed=2)
    paper, ref = run_mmdbp('paper', kappa, 0.02, xs)[-1], run_mmdbp('reference', kappa, 0.02,
                                                                     xs)[-1]
    diff = (paper - ref).abs().max().item()
    assert diff < 1e-12 if same else diff > 1e-5



@pytest.mark.parametrize('rule', ['paper', 'reference'])
def test_both_rules_whiten_a_fixed_input_distribution(rule):
    """With exact statistics of a fixed correlated input distribution (X = R S R^T), both rules
    drive z = R x to unit covariance at kappa = 0.5: the whitening term's placement (rows or
    columns of R) changes the path, not where it ends (the README's reason for the default)."""
    from mmdbp.models.utils.decorrelation import decorrelation_update
    g = torch.Generator().manual_seed(5)
    A = torch.randn(8, 8, generator=g, dtype=torch.float64)
    scales = torch.exp(torch.randn(8, generator=g, dtype=torch.float64) / 2)
    S = (A @ A.T / 8 + 0.1 * torch.eye(8, dtype=torch.float64)) * torch.outer(scales, scales)
    S = S / S.diagonal().mean()
    R = torch.eye(8, dtype=torch.float64)
    for _ in range(3000):
        X = R @ S @ R.T
        R = decorrelation_update(R, X @ R, X.diagonal(), 0.02, 0.5, rule)
    torch.testing.assert_close(R @ S @ R.T, torch.eye(8, dtype=torch.float64), rtol=0,
                               atol=1e-8)

def test_normalized_differs_from_standard():
    xs = inputs(3, seed=3)
    a = run_mmdbp('reference', 0.5, 0.02, xs)[-1]
    b = run_mmdbp('reference_normalized', 0.5, 0.02, xs)[-1]
    assert (a - b).abs().max() > 1e-4


def test_unknown_rule_is_refused():
    model = nn.Sequential(nn.Linear(D_IN, D_OUT))
    with pytest.raises(ValueError, match="update_rule must be one of .*'reference'"):
        Decorrelator(model, decor_lr=1e-3, include=['^0$'], update_rule='columns')


def test_wrapper_passes_the_rule_and_pools_accumulated_micro_batches():
    """Through ``DBPOptimWrapper`` (fp32 R): with ``accumulative_counts=2`` an R update uses the
    rows of both micro-batches (the reference, whose forward overwrites ``decor_state``, would
    use only the last one's)."""
    from mmdbp.engine.optimizers import DBPOptimWrapper
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(D_IN, D_OUT))
    w = DBPOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01), decor_lr=0.02, kappa=0.5,
                        sample_frac=1.0, include=['^0$'], update_rule='reference',
                        accumulative_counts=2, log_interval=0)
    assert w.attach(model).update_rule == 'reference'
    xs = inputs(6, seed=4)
    pooled = ReferenceDecorrelation(D_IN, 'standard', 0.02, 0.5)
    last_only = ReferenceDecorrelation(D_IN, 'standard', 0.02, 0.5)
    for step in range(3):
        a, b = xs[2 * step].float(), xs[2 * step + 1].float()
        for x in (a, b):
            with w.optim_context(model):
                loss = model(x).pow(2).mean()
            w.update_params(loss)
        pooled.forward(torch.cat([a, b]).double())
        pooled.update()
        last_only.forward(b.double())
        last_only.update()
        R = w.decorrelator.layers['0'].R.double()
        torch.testing.assert_close(R, pooled.weight, rtol=1e-5, atol=1e-6)
    assert (R - last_only.weight).abs().max() > 1e-4
