"""Tests of the DBP building block (mmdbp/models/utils/decorrelation.py).

References are independent of the code under test: explicit ``W (R x)`` with hand-derived
gradients, brute-force correlation matrices (``torch.corrcoef``), layer names spelled out from
mmpretrain's MAE architecture.
"""
import pytest
import torch
import torch.nn as nn

from mmdbp.models.utils.decorrelation import (Decorrelator, decorrelation_update, fold_state_dict,
                                              fold_weight, select_layers)
from shared_helpers import explicit_dbp_update


class TinyNet(nn.Module):
    """backbone (decorrelated) + head (not)."""

    def __init__(self, d_in=6, d_hidden=5, d_out=3, dtype=torch.float64):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(d_in, d_hidden), nn.Tanh(), nn.Linear(d_hidden, d_out))
        self.head = nn.Linear(d_out, 2)
        self.to(dtype)

    def forward(self, x):
        return self.head(self.backbone(x))


def random_near_identity(d, scale=0.3, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.eye(d, dtype=dtype) + scale * torch.randn(d, d, generator=g, dtype=dtype)


def mean_abs_offdiag_corr(z):
    c = torch.corrcoef(z.T.double())
    d = c.shape[0]
    return ((c.abs().sum() - c.diagonal().abs().sum()) / (d * (d - 1))).item()


@pytest.mark.parametrize('rows', [28, 3])  # fused path (rows >= d_out) and explicit path
def test_identity_R_forward_equals_plain_linear_exactly(rows):
    torch.manual_seed(0)
    plain = nn.Linear(16, 8)
    x = torch.randn(rows, 16)
    expected = plain(x)  # before attaching: nn.Linear's own forward

    holder = nn.Module()
    holder.backbone = plain
    Decorrelator(holder, decor_lr=1e-3, sample_frac=1.0, include=['^backbone$'])
    plain.train()
    out = plain(x)
    assert torch.equal(out, expected)
    plain.eval()
    assert torch.equal(plain(x), expected)


@pytest.mark.parametrize('d_out', [4, 20])  # 15 rows: fused W R path, then the explicit W (R x) path
def test_fused_forward_and_grads_match_explicit_reference_fp64(d_out):
    torch.manual_seed(0)
    lin = nn.Linear(6, d_out).double()
    holder = nn.Module()
    holder.backbone = lin
    dec = Decorrelator(holder, decor_lr=0., sample_frac=1.0, include=['^backbone$'],
                       dtype=torch.float64)
    R = random_near_identity(6)
    dec.layers['backbone'].R = R.clone()

    x = torch.randn(3, 5, 6, dtype=torch.float64, requires_grad=True)
    W, b = lin.weight.detach().clone(), lin.bias.detach().clone()
    y = lin(x)

    # naive reference: z = R x per token, y = W z + b, written out per row
    rows = x.detach().reshape(-1, 6)
    z_ref = torch.stack([R @ r for r in rows])
    y_ref = torch.stack([W @ z + b for z in z_ref]).reshape(3, 5, d_out)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)

    # gradients of L = sum(y * G): dL/dW = sum_n g_n z_n^T, dL/dx_n = R^T W^T g_n
    G = torch.randn(3, 5, d_out, dtype=torch.float64)
    (y * G).sum().backward()
    g_rows = G.reshape(-1, d_out)
    dW_ref = sum(torch.outer(g, z) for g, z in zip(g_rows, z_ref))
    dx_ref = torch.stack([R.T @ (W.T @ g) for g in g_rows]).reshape(3, 5, 6)
    torch.testing.assert_close(lin.weight.grad, dW_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x.grad, dx_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lin.bias.grad, g_rows.sum(0), rtol=1e-12, atol=1e-12)


def test_fused_conv_patch_embedding_matches_explicit_reference_fp64():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, kernel_size=2, stride=2).double()
    holder = nn.Module()
    holder.backbone = conv
    dec = Decorrelator(holder, decor_lr=0., sample_frac=1.0, include=['^backbone$'],
                       layer_types=['Conv2d'], dtype=torch.float64)
    R = random_near_identity(8, seed=1)
    dec.layers['backbone'].R = R.clone()
    x = torch.randn(2, 2, 4, 6, dtype=torch.float64)
    y = conv(x)
    # reference: every 2x2 patch flattened (C, kh, kw), z = R p, y = W z + b
    W = conv.weight.detach().reshape(3, -1)
    y_ref = torch.empty(2, 3, 2, 3, dtype=torch.float64)
    for b in range(2):
        for i in range(2):
            for j in range(3):
                p = x[b, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].reshape(-1)
                y_ref[b, :, i, j] = W @ (R @ p) + conv.bias.detach()
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)


def test_update_rule_matches_equation():
    torch.manual_seed(0)
    d, n, lr, kappa = 5, 40, 0.1, 0.3
    R = random_near_identity(d)
    z = torch.randn(n, d, dtype=torch.float64)
    X = z.T @ z / n
    torch.testing.assert_close(decorrelation_update(R, X @ R, torch.diagonal(X), lr, kappa),
                               explicit_dbp_update(R, z, lr, kappa))


@pytest.mark.parametrize('rows', [3, 40])  # fewer / more sampled rows than d: both product orders
def test_layer_update_from_recorded_samples_matches_equation(rows):
    torch.manual_seed(0)
    d, lr, kappa = 6, 0.1, 0.3
    lin = nn.Linear(d, 4).double()
    holder = nn.Module()
    holder.backbone = lin
    dec = Decorrelator(holder, decor_lr=lr, kappa=kappa, sample_frac=1.0, include=['^backbone$'],
                       dtype=torch.float64)
    R = random_near_identity(d)
    dec.layers['backbone'].R = R.clone()
    x1, x2 = torch.randn(rows, d, dtype=torch.float64), torch.randn(2, d, dtype=torch.float64)
    lin(x1).sum().backward()  # two forwards in one step (e.g. accumulation): pooled
    lin(x2).sum().backward()
    dec.update()
    z = torch.cat([x1, x2]) @ R.T
    torch.testing.assert_close(dec.layers['backbone'].R, explicit_dbp_update(R, z, lr, kappa))


def test_statistics_use_a_random_sample_frac_of_the_rows():
    """Only round(sample_frac * rows) rows of z = R x enter the statistics, drawn at random
    (not the first rows), and the update is the paper's rule on exactly those rows."""
    torch.manual_seed(0)
    d, lr, kappa = 6, 0.1, 0.3
    lin = nn.Linear(d, 4).double()
    holder = nn.Module()
    holder.backbone = lin
    dec = Decorrelator(holder, decor_lr=lr, kappa=kappa, sample_frac=0.25,
                       include=['^backbone$'], dtype=torch.float64)
    R = random_near_identity(d)
    dec.layers['backbone'].R = R.clone()
    x = torch.randn(4, 16, d, dtype=torch.float64)  # 64 token rows
    lin(x).sum().backward()
    samples = dec.layers['backbone'].samples
    z_all = x.reshape(-1, d) @ R.T
    z = torch.cat(samples)
    assert z.shape == (16, d)  # 25% of 64, not all of them
    # every sampled row is the z of one input row
    dist = (z[:, None] - z_all[None]).abs().amax(-1)  # 16 x 64
    picked = dist.argmin(1)
    assert (dist.min(1).values < 1e-12).all()
    assert picked.tolist() != list(range(16))  # a random draw, not the leading rows
    assert len(set(picked.tolist())) > 8  # spread over the batch
    dec.update()
    torch.testing.assert_close(dec.layers['backbone'].R,
                               explicit_dbp_update(R, z_all[picked], lr, kappa))


def test_logged_correlation_is_the_brute_force_correlation_of_z():
    """The per-layer value DBP logs (mean |off-diagonal Pearson correlation| of the step's z)
    equals torch.corrcoef on z = R x of the recorded rows (R as in the forward)."""
    torch.manual_seed(0)
    net = TinyNet()
    dec = Decorrelator(net, decor_lr=0.1, kappa=0.2, sample_frac=1.0, dtype=torch.float64)
    Rs = {}
    for i, (name, layer) in enumerate(dec.layers.items()):
        layer.R = random_near_identity(layer.dim, seed=i)
        Rs[name] = layer.R.clone()
    inputs = {}
    hooks = [m.register_forward_pre_hook(lambda m, a, n=n: inputs.setdefault(n, a[0].detach()))
             for n, m in net.named_modules() if n in dec.layers]
    mix = torch.eye(6, dtype=torch.float64) + 0.8  # correlated inputs, means far from 0
    x = torch.randn(50, 6, dtype=torch.float64) @ mix + 3.
    net(x).sum().backward()
    for h in hooks:
        h.remove()
    dec.update(keep_stats=True)
    corr = dec.correlations()
    assert set(corr) == set(dec.layers) == set(inputs)
    for name, value in corr.items():
        expected = mean_abs_offdiag_corr(inputs[name] @ Rs[name].T)
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-12), name
    assert dec.correlations() == {}  # reported once per kept update


def _train_decorrelation(kappa, steps, lr, seed=0):
    """Feed strongly correlated inputs (x = A g, g ~ N(0, I)) through a decorrelated layer."""
    g = torch.Generator().manual_seed(seed)
    d = 8
    A = 0.25 * torch.randn(d, d, generator=g) + 0.6  # all rows share a big common component
    A = 1.5 * A / A.norm(dim=1, keepdim=True)  # rows of norm 1.5: variances 2.25, not 1
    lin = nn.Linear(d, 4)
    holder = nn.Module()
    holder.backbone = lin
    dec = Decorrelator(holder, decor_lr=lr, kappa=kappa, sample_frac=0.5, include=['^backbone$'])
    for _ in range(steps):
        x = torch.randn(256, d, generator=g) @ A.T
        lin(x).sum().backward()  # statistics are recorded in training forwards
        dec.update()
    dec.check()
    x_eval = torch.randn(20000, d, generator=g) @ A.T
    R = dec.layers['backbone'].R
    return x_eval, x_eval @ R.T


def test_decorrelation_reduces_offdiagonal_correlation_tenfold():
    x, z = _train_decorrelation(kappa=0., steps=600, lr=0.05)
    before, after = mean_abs_offdiag_corr(x), mean_abs_offdiag_corr(z)
    assert before > 0.5
    assert after <= before / 10, (before, after)


def test_kappa_drives_variances_to_one():
    x, z = _train_decorrelation(kappa=0.5, steps=600, lr=0.05)
    assert (x.var(0) - 2.25).abs().max() < 0.2  # the inputs' variances are far from 1
    torch.testing.assert_close(z.var(0), torch.ones(8), atol=0.1, rtol=0)
    assert mean_abs_offdiag_corr(z) <= mean_abs_offdiag_corr(x) / 10


def test_no_statistics_outside_training():
    lin = nn.Linear(4, 2)
    holder = nn.Module()
    holder.backbone = lin
    dec = Decorrelator(holder, decor_lr=0.1, sample_frac=1.0, include=['^backbone$'])
    lin.eval()
    lin(torch.randn(10, 4))
    lin.train()
    with torch.no_grad():
        lin(torch.randn(10, 4))
    dec.update()
    assert torch.equal(dec.layers['backbone'].R, torch.eye(4))


def build_mmpretrain_mae(MAE, num_layers):
    return MAE(
        backbone=dict(type='MAEViT', arch=dict(embed_dims=32, num_layers=num_layers, num_heads=2,
                                               feedforward_channels=64), img_size=32, patch_size=8),
        neck=dict(type='MAEPretrainDecoder', num_patches=16, patch_size=8, embed_dim=32,
                  decoder_embed_dim=16, decoder_depth=2, decoder_num_heads=2),
        head=dict(type='MAEPretrainHead', patch_size=8,
                  loss=dict(type='PixelReconstructionLoss', criterion='L2')))


def test_selection_picks_exactly_the_encoder_linears_of_mmpretrain_mae():
    from mmengine.registry import DefaultScope
    from mmpretrain.models import MAE, MAEPretrainDecoder, MAEPretrainHead, MAEViT
    num_layers = 2
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = build_mmpretrain_mae(MAE, num_layers)
    assert isinstance(model.backbone, MAEViT) and isinstance(model.neck, MAEPretrainDecoder)
    assert isinstance(model.head, MAEPretrainHead)
    names = {name for name, _ in select_layers(model)}
    expected = {f'backbone.layers.{i}.{n}' for i in range(num_layers)
                for n in ('attn.qkv', 'attn.proj', 'ffn.layers.0.0', 'ffn.layers.1')}
    assert names == expected
    decoder_linears = {n for n, m in model.named_modules()
                       if isinstance(m, nn.Linear) and n.startswith('neck.')}
    assert decoder_linears and not names & decoder_linears

    with_patch_embed = {name for name, _ in select_layers(model, layer_types=['Linear', 'Conv2d'])}
    assert with_patch_embed == expected | {'backbone.patch_embed.projection'}


def test_selection_on_fast_mae_vit_and_patterns():
    from mmdbp.models.backbones import FastMAEViT
    holder = nn.Module()
    holder.backbone = FastMAEViT(arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                           feedforward_channels=64), img_size=32, patch_size=8)
    holder.neck = nn.Linear(32, 32)
    names = {n for n, _ in select_layers(holder)}
    assert names == {f'backbone.blocks.{i}.{n}' for i in range(2)
                     for n in ('attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2')}
    names = {n for n, _ in select_layers(holder, exclude=[r'mlp\.fc2$'])}
    assert names == {f'backbone.blocks.{i}.{n}' for i in range(2)
                     for n in ('attn.qkv', 'attn.proj', 'mlp.fc1')}


def test_bad_configs_raise_clear_errors():
    net = TinyNet()
    with pytest.raises(ValueError, match='select no trainable Linear layer'):
        select_layers(net, include=['^decoder\\.'])
    with pytest.raises(TypeError, match='lists of strings'):
        select_layers(net, include='^backbone')
    with pytest.raises(ValueError, match='layer_types must be a non-empty subset'):
        select_layers(net, layer_types=['Conv1d'])
    with pytest.raises(ValueError, match='kappa must be in'):
        Decorrelator(net, decor_lr=1e-3, kappa=1.5)
    with pytest.raises(ValueError, match='sample_frac must be in'):
        Decorrelator(net, decor_lr=1e-3, sample_frac=0.)
    with pytest.raises(ValueError, match='decor_lr must be a finite number'):
        Decorrelator(net, decor_lr=-1.)
    with pytest.raises(ValueError, match='max_r_norm bounds'):
        Decorrelator(net, decor_lr=1e-3, max_r_norm=0.5)
    Decorrelator(net, decor_lr=1e-3)
    with pytest.raises(RuntimeError, match='attached twice'):
        Decorrelator(net, decor_lr=1e-3)


def test_exploding_R_stops_with_the_layer_name():
    net = TinyNet(dtype=torch.float32)
    dec = Decorrelator(net, decor_lr=50., kappa=0., sample_frac=1.0, max_r_norm=10.)
    x = torch.randn(64, 6) @ (torch.ones(6, 6) + 0.1 * torch.randn(6, 6)) * 10
    net(x).sum().backward()
    dec.update()
    with pytest.raises(FloatingPointError, match=r'backbone\.0 \(\|\|R\|\|_F/sqrt\(d\) = '):
        dec.check()


def test_fold_keeps_the_function_and_state_dict_fold_matches():
    torch.manual_seed(0)
    net = TinyNet()
    dec = Decorrelator(net, decor_lr=0., sample_frac=1.0, dtype=torch.float64)
    for i, layer in enumerate(dec.layers.values()):
        layer.R = random_near_identity(layer.dim, seed=i)
    x = torch.randn(7, 6, dtype=torch.float64)
    net.eval()
    expected = net(x)
    saved_R = {k: v.clone() for k, v in dec.state_dict()['R'].items()}
    unfolded = {k: v.detach().clone() for k, v in net.named_parameters()}

    folded = fold_state_dict(unfolded, saved_R)
    # while attached, the model's state dict already holds W R: a plain copy of the net loads it
    # and computes the DBP net's function
    attached_state = net.state_dict()
    for k, v in attached_state.items():
        torch.testing.assert_close(v, folded[k], rtol=1e-12, atol=1e-12)
    plain = TinyNet().eval()
    plain.load_state_dict(attached_state)
    torch.testing.assert_close(plain(x), expected, rtol=1e-12, atol=1e-12)
    assert not torch.equal(net.backbone[0].weight, attached_state['backbone.0.weight'])  # W kept

    dec.detach(fold=True)  # W <- W R in place, plain forwards again
    assert 'forward' not in net.backbone[0].__dict__
    torch.testing.assert_close(net(x), expected, rtol=1e-12, atol=1e-12)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(folded[k], v, rtol=1e-12, atol=1e-12)
    # explicit reference of one fold
    torch.testing.assert_close(fold_weight(unfolded['backbone.0.weight'], saved_R['backbone.0']),
                               unfolded['backbone.0.weight'] @ saved_R['backbone.0'])
    with pytest.raises(KeyError, match='has no'):
        fold_state_dict(unfolded, {'backbone.9': saved_R['backbone.0']})


def test_state_dict_round_trip_and_mismatch():
    net = TinyNet()
    dec = Decorrelator(net, decor_lr=0.1, sample_frac=0.5, seed=3, dtype=torch.float64)
    net(torch.randn(16, 6, dtype=torch.float64)).sum().backward()
    dec.update()
    state = dec.state_dict()
    net2 = TinyNet()
    dec2 = Decorrelator(net2, decor_lr=0.1, sample_frac=0.5, seed=0, dtype=torch.float64)
    dec2.load_state_dict(state)
    assert dec2.num_updates == 1 and dec2.seed == 3
    for k in state['R']:
        assert torch.equal(dec2.layers[k].R, dec.layers[k].R)
    # a resumed model first loads the folded state dict (W R); the DBP state puts W back exactly
    net2.load_state_dict(net.state_dict())
    assert not torch.equal(net2.backbone[0].weight, net.backbone[0].weight)
    dec2.load_state_dict(state)
    for (k, p), p2 in zip(net.named_parameters(), net2.parameters()):
        assert torch.equal(p, p2), k
    net3 = TinyNet()
    dec3 = Decorrelator(net3, decor_lr=0.1, include=[r'^backbone\.0$'])
    with pytest.raises(KeyError, match='does not match the selected layers'):
        dec3.load_state_dict(state)


def test_layers_whose_forward_dbp_cannot_replace_are_refused():
    from mmcv.cnn.bricks.wrappers import Linear as MMCVLinear

    from mmdbp.models.utils.weight_norm_linear import WeightNormLinear

    class Net(nn.Module):

        def __init__(self, last):
            super().__init__()
            self.backbone = nn.Sequential(MMCVLinear(4, 4), last)

    # mmcv's Linear only guards empty inputs: selected like nn.Linear
    names = [n for n, _ in select_layers(Net(nn.Linear(4, 4)))]
    assert names == ['backbone.0', 'backbone.1']
    # weight normalisation would be silently dropped by the fused forward
    with pytest.raises(ValueError, match=r'backbone\.1: WeightNormLinear has its own forward'):
        select_layers(Net(WeightNormLinear(4, 4)))
    # MultiheadAttention reads out_proj.weight directly: R would never act
    with pytest.raises(ValueError, match=r'backbone\.1\.out_proj: nn.MultiheadAttention'):
        select_layers(Net(nn.MultiheadAttention(4, 2)))
    names = [n for n, _ in select_layers(Net(nn.MultiheadAttention(4, 2)), exclude=['out_proj'])]
    assert names == ['backbone.0']


def _new_bytes_saved_for_backward(model, x):
    """Bytes of the tensors autograd keeps for the backward that are not already resident
    (parameters, DBP's R, the input), each storage counted once."""
    resident = {p.data_ptr() for p in model.parameters()} | {x.data_ptr()}
    dec = getattr(model, 'dec', None)
    if dec is not None:
        resident |= {layer.R.data_ptr() for layer in dec.layers.values()}
    saved = {}

    def pack(t):
        if t.data_ptr() not in resident:
            saved[t.data_ptr()] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
            torch.autocast('cpu', dtype=torch.bfloat16):
        model(x).float().sum().backward()
    return sum(saved.values())


def test_fused_forward_under_bf16_autocast_keeps_no_extra_tensor_for_backward():
    """Under bf16 autocast, the plain layer keeps the bf16 W (and its input) for the backward;
    the DBP layer keeps the bf16 W R in its place and nothing else (no bf16 copy of R)."""
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(24, 40), nn.Linear(40, 8)).train()
    dbp = nn.Sequential(nn.Linear(24, 40), nn.Linear(40, 8)).train()
    dbp.load_state_dict(plain.state_dict())
    dbp.dec = Decorrelator(dbp, decor_lr=0.1, include=['.*'], sample_frac=0.25)
    for i, layer in enumerate(dbp.dec.layers.values()):
        layer.R = random_near_identity(layer.dim, seed=i).float()
    x = torch.randn(64, 24)
    assert _new_bytes_saved_for_backward(dbp, x) == _new_bytes_saved_for_backward(plain, x)
    # and the gradient of W is still (dL/dW_eff) R^T, as in the fp64 reference above
    for (name, layer), lin in zip(dbp.dec.layers.items(), dbp):
        assert lin.weight.grad is not None and lin.weight.grad.dtype == torch.float32, name
