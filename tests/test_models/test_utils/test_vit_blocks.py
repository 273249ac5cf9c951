"""Shared ViT blocks against naive fp64 references (explicit softmax, hand-written residuals)."""
import math

import pytest
import torch

from mmdbp.models.utils.vit_blocks import (Attention, CrossAttention, CrossAttentionBlock,
                                           DropPath, Mlp, TransformerBlock, drop_path)


def naive_attention(q_in, kv_in, w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o, heads, mask=None):
    """softmax(q k^T / sqrt(d) + mask) v with explicit per-head loops; mask bool (True = attend)
    or additive float, broadcastable to (B, h, N, M)."""
    B, N, C = q_in.shape
    M = kv_in.shape[1]
    d = C // heads
    q = (q_in @ w_q.T + b_q).view(B, N, heads, d)
    k = (kv_in @ w_k.T + b_k).view(B, M, heads, d)
    v = (kv_in @ w_v.T + b_v).view(B, M, heads, d)
    out = torch.zeros(B, N, heads, d, dtype=q_in.dtype)
    for b in range(B):
        for h in range(heads):
            logits = q[b, :, h] @ k[b, :, h].T / math.sqrt(d)  # N, M
            if mask is not None:
                m = mask.expand(B, heads, N, M)[b, h]
                logits = logits.masked_fill(~m, float('-inf')) if m.dtype == torch.bool \
                    else logits + m
            p = torch.exp(logits - logits.max(-1, keepdim=True).values)
            out[b, :, h] = (p / p.sum(-1, keepdim=True)) @ v[b, :, h]
    return out.reshape(B, N, C) @ w_o.T + b_o


def self_attention_ref(attn, x, mask=None):
    C = x.shape[-1]
    w, b = attn.qkv.weight, attn.qkv.bias
    return naive_attention(x, x, w[:C], b[:C], w[C:2 * C], b[C:2 * C], w[2 * C:], b[2 * C:],
                           attn.proj.weight, attn.proj.bias, attn.num_heads, mask)


def ln(x, mod):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu)**2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + mod.eps) * mod.weight + mod.bias


def mlp_ref(x, mlp):
    h = x @ mlp.fc1.weight.T + mlp.fc1.bias
    h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))  # exact GELU
    return h @ mlp.fc2.weight.T + mlp.fc2.bias


def randomize(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    return module


MASKS = {
    'none': lambda B, h, N: None,
    'bool_bhnn': lambda B, h, N: torch.rand(B, h, N, N) > 0.3,
    'bool_b1nn': lambda B, h, N: torch.rand(B, 1, N, N) > 0.5,
    'bool_key_padding': lambda B, h, N: torch.rand(B, 1, 1, N) > 0.4,
    'float_nn': lambda B, h, N: torch.randn(N, N, dtype=torch.float64),
    'float_with_neg_inf': lambda B, h, N: torch.where(
        torch.rand(B, 1, N, N) > 0.3, 0., float('-inf')).double(),
}


def _fix_empty_rows(mask):
    """Every query must see at least itself (a row without keys has no defined softmax)."""
    if mask is None:
        return None
    N = mask.shape[-1]
    eye = torch.eye(N, dtype=torch.bool)
    if mask.dtype == torch.bool:
        return mask | eye if mask.shape[-2] == N else mask | eye[:1]
    return torch.where(eye, torch.zeros_like(mask), mask) if mask.shape[-2] == N else mask


@pytest.mark.parametrize('mask_kind', list(MASKS))
def test_attention_matches_naive_softmax(mask_kind):
    torch.manual_seed(0)
    B, N, C, h = 2, 7, 12, 3
    attn = randomize(Attention(C, h)).double().eval()
    x = torch.randn(B, N, C, dtype=torch.float64, requires_grad=True)
    mask = MASKS[mask_kind](B, h, N)
    if mask is not None and mask.dtype == torch.bool and mask.shape[-2] == 1:
        mask = mask.clone()
        mask[..., 0] = True  # key padding: keep one key per sample
    mask = _fix_empty_rows(mask)
    out = attn(x, mask)
    ref = self_attention_ref(attn, x, mask)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    g_out, = torch.autograd.grad(out.square().sum(), x)
    g_ref, = torch.autograd.grad(ref.square().sum(), x)
    torch.testing.assert_close(g_out, g_ref, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize('mask_kind', ['none', 'bool_b1nn', 'bool_key_padding', 'float_nn'])
def test_attention_with_cls_row_matches_naive(mask_kind):
    """Fused output == naive attention; the cls row == row 0 of the explicit per-head softmax,
    computed here from the raw qkv weights; gradients through both equal the reference's."""
    torch.manual_seed(4)
    B, N, C, h = 2, 6, 8, 2
    attn = randomize(Attention(C, h)).double().eval()
    x = torch.randn(B, N, C, dtype=torch.float64, requires_grad=True)
    mask = _fix_empty_rows(MASKS[mask_kind](B, h, N))
    out, row = attn.forward_with_cls_attention(x, mask)
    assert row.shape == (B, h, N)
    torch.testing.assert_close(out, self_attention_ref(attn, x, mask), rtol=1e-10, atol=1e-10)
    w, b = attn.qkv.weight, attn.qkv.bias
    q = (x @ w[:C].T + b[:C]).view(B, N, h, C // h)
    k = (x @ w[C:2 * C].T + b[C:2 * C]).view(B, N, h, C // h)
    expected = torch.zeros(B, h, N, dtype=torch.float64)
    for i in range(B):
        for j in range(h):
            logits = k[i, :, j] @ q[i, 0, j] / math.sqrt(C // h)  # N
            if mask is not None:
                m = mask.expand(B, h, N, N)[i, j, 0]
                logits = logits.masked_fill(~m, float('-inf')) if m.dtype == torch.bool \
                    else logits + m
            expected[i, j] = torch.exp(logits) / torch.exp(logits).sum()
    torch.testing.assert_close(row, expected, rtol=1e-10, atol=1e-12)
    loss = lambda o, r: o.square().sum() + (r * torch.arange(N)).sum()  # noqa: E731
    g, = torch.autograd.grad(loss(out, row), x)
    g_ref, = torch.autograd.grad(loss(self_attention_ref(attn, x, mask), expected), x)
    torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=1e-10)


def test_cross_attention_matches_naive():
    torch.manual_seed(2)
    C, h = 8, 2
    attn = randomize(CrossAttention(C, h)).double().eval()
    x = torch.randn(2, 4, C, dtype=torch.float64)
    ctx = torch.randn(2, 9, C, dtype=torch.float64)
    w, b = attn.kv.weight, attn.kv.bias
    ref = naive_attention(x, ctx, attn.q.weight, attn.q.bias, w[:C], b[:C], w[C:], b[C:],
                          attn.proj.weight, attn.proj.bias, h)
    torch.testing.assert_close(attn(x, ctx), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('mask_kind', ['none', 'bool_b1nn', 'float_nn'])
def test_transformer_block_matches_naive(mask_kind):
    torch.manual_seed(3)
    B, N, C, h = 2, 6, 8, 2
    block = randomize(TransformerBlock(C, h, mlp_ratio=3.)).double().eval()
    x = torch.randn(B, N, C, dtype=torch.float64)
    mask = _fix_empty_rows(MASKS[mask_kind](B, h, N))
    y = x + self_attention_ref(block.attn, ln(x, block.norm1), mask)
    ref = y + mlp_ref(ln(y, block.norm2), block.mlp)
    torch.testing.assert_close(block(x, mask), ref, rtol=1e-10, atol=1e-10)
    assert block.mlp.fc1.out_features == 24
    assert TransformerBlock(C, h, mlp_hidden=5).mlp.fc1.out_features == 5


def test_cross_attention_block_matches_naive():
    torch.manual_seed(4)
    C, h = 8, 4
    block = randomize(CrossAttentionBlock(C, h, mlp_ratio=2.)).double().eval()
    x = torch.randn(2, 5, C, dtype=torch.float64)
    ctx = torch.randn(2, 3, C, dtype=torch.float64)
    ca = block.cross_attn
    w, b = ca.kv.weight, ca.kv.bias
    y = x + self_attention_ref(block.attn, ln(x, block.norm1))
    y = y + naive_attention(ln(y, block.norm_q), ln(ctx, block.norm_context), ca.q.weight,
                            ca.q.bias, w[:C], b[:C], w[C:], b[C:], ca.proj.weight, ca.proj.bias, h)
    ref = y + mlp_ref(ln(y, block.norm2), block.mlp)
    torch.testing.assert_close(block(x, ctx), ref, rtol=1e-10, atol=1e-10)


def test_mlp_matches_naive():
    mlp = randomize(Mlp(6, 10, 4)).double()
    x = torch.randn(3, 6, dtype=torch.float64)
    torch.testing.assert_close(mlp(x), mlp_ref(x, mlp), rtol=1e-10, atol=1e-10)


def test_drop_path_keeps_or_drops_whole_samples():
    x = torch.ones(2000, 3, 4)
    torch.manual_seed(0)
    y = drop_path(x, 0.25, training=True)
    per_sample = y.flatten(1)
    kept = per_sample[:, 0] > 0
    assert torch.all(per_sample[kept] == 1 / 0.75) and torch.all(per_sample[~kept] == 0)
    assert abs(kept.float().mean().item() - 0.75) < 0.05
    assert drop_path(x, 0.25, training=False) is x
    module = DropPath(0.5).eval()
    assert module(x) is x and 'drop_prob=0.5' in repr(module)


@pytest.mark.parametrize('cls', [Attention, CrossAttention])
def test_heads_must_divide_width(cls):
    with pytest.raises(ValueError, match=r'dim \(10\) must be divisible by num_heads \(3\)'):
        cls(10, 3)


def test_sdpa_dropout_only_in_training():
    attn = Attention(8, 2, attn_drop=0.9).eval()
    x = torch.randn(1, 4, 8)
    torch.testing.assert_close(attn(x), attn(x))
    attn.train()
    torch.manual_seed(0)
    assert not torch.allclose(attn(x), attn(x))
