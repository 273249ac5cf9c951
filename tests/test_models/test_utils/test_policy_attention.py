"""DynamicViT's policy-masked attention against running the block on the kept subset only.

The reference is explicit fp64 math (per-sample loops, hand-written LayerNorm / softmax / MLP):
for every kept query, masked attention over the full batch must equal plain attention over the
kept tokens; a pruned query attends to the kept tokens and to itself.
"""
import math

import pytest
import torch

from mmdbp.models.utils.policy_attention import block_forward_with_policy, softmax_with_policy
from mmdbp.models.utils.vit_blocks import TransformerBlock


def ln(x, mod):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu)**2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + mod.eps) * mod.weight + mod.bias


def naive_block(block, x):
    """Plain pre-norm block on tokens x (N, C) of ONE sample, with explicit attention."""
    N, C = x.shape
    h, d = block.attn.num_heads, C // block.attn.num_heads
    y = ln(x, block.norm1)
    qkv = y @ block.attn.qkv.weight.T + block.attn.qkv.bias
    q, k, v = qkv[:, :C], qkv[:, C:2 * C], qkv[:, 2 * C:]
    heads = []
    for i in range(h):
        sl = slice(i * d, (i + 1) * d)
        logits = q[:, sl] @ k[:, sl].T / math.sqrt(d)
        p = torch.exp(logits - logits.max(-1, keepdim=True).values)
        heads.append((p / p.sum(-1, keepdim=True)) @ v[:, sl])
    x = x + torch.cat(heads, -1) @ block.attn.proj.weight.T + block.attn.proj.bias
    y = ln(x, block.norm2)
    hid = y @ block.mlp.fc1.weight.T + block.mlp.fc1.bias
    hid = 0.5 * hid * (1 + torch.erf(hid / math.sqrt(2)))
    return x + hid @ block.mlp.fc2.weight.T + block.mlp.fc2.bias


@pytest.fixture
def block():
    torch.manual_seed(0)
    blk = TransformerBlock(16, 4, mlp_ratio=2).double().eval()
    with torch.no_grad():
        for p in blk.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return blk


def test_masked_attention_equals_attention_on_kept_subset(block):
    torch.manual_seed(1)
    B, N = 3, 9
    x = torch.randn(B, N, 16, dtype=torch.float64)
    policy = (torch.rand(B, N, 1) > 0.5).double()
    policy[:, 0] = 1  # the cls token is always kept
    policy[0, 1:] = 0  # a sample with only the cls token left
    out = block_forward_with_policy(block, x, policy)
    assert out.shape == x.shape  # the batch keeps its shape
    for b in range(B):
        kept = policy[b, :, 0].bool()
        ref_kept = naive_block(block, x[b, kept])
        torch.testing.assert_close(out[b, kept], ref_kept, rtol=1e-5, atol=1e-5)
        for j in torch.nonzero(~kept).flatten().tolist():  # a pruned query: kept keys + itself
            visible = kept.clone()
            visible[j] = True
            ref_j = naive_block(block, x[b, visible])[visible[:j].sum()]
            torch.testing.assert_close(out[b, j], ref_j, rtol=1e-5, atol=1e-5)


def test_all_ones_policy_equals_plain_block(block):
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    out = block_forward_with_policy(block, x, torch.ones(2, 7, 1, dtype=torch.float64))
    ref = torch.stack([naive_block(block, x[b]) for b in range(2)])
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_softmax_with_policy_is_fp32_and_differentiable():
    torch.manual_seed(0)
    attn = torch.randn(2, 3, 5, 5, dtype=torch.bfloat16) * 30  # large logits: exp overflows bf16
    policy = torch.tensor([[1., 1., 0., 1., 0.], [1., 0., 0., 0., 1.]], requires_grad=True)
    probs = softmax_with_policy(attn, policy)
    assert probs.dtype == torch.bfloat16 and torch.isfinite(probs.float()).all()
    torch.testing.assert_close(probs.float().sum(-1), torch.ones(2, 3, 5), atol=2e-2, rtol=0)
    # pruned keys get (almost) nothing from other queries (logits of moderate spread: where a
    # pruned key dominates the kept ones by more than ~14, the released code's eps smoothing
    # makes the row uniform, see test_softmax_with_policy_equals_the_official_one)
    probs = softmax_with_policy(attn.float() / 30, policy)
    assert probs[0, :, [0, 1, 3]][..., 2].max() < 1e-3
    weights = torch.randn(2, 3, 5, 5)
    (softmax_with_policy(attn.float(), policy) * weights).sum().backward()
    assert policy.grad is not None and policy.grad.abs().sum() > 0  # straight-through path


def official_softmax_with_policy(attn, policy, eps=1e-6):
    """DynamicViT's released ``Attention.softmax_with_policy`` (raoyongming/DynamicViT,
    ``models/dyvit.py``), transcribed: max over ALL keys in the input dtype, fp32 exp, policy
    with the diagonal forced on, ``+eps/N`` smoothing."""
    B, N, _ = policy.size()
    attn_policy = policy.reshape(B, 1, 1, N)
    eye = torch.eye(N, dtype=attn_policy.dtype, device=attn_policy.device).view(1, 1, N, N)
    attn_policy = attn_policy + (1.0 - attn_policy) * eye
    max_att = torch.max(attn, dim=-1, keepdim=True)[0]
    attn = attn - max_att
    attn = attn.to(torch.float32).exp_() * attn_policy.to(torch.float32)
    attn = (attn + eps / N) / (attn.sum(dim=-1, keepdim=True) + eps)
    return attn.type_as(max_att)


def _policy(B, N, seed):
    g = torch.Generator().manual_seed(seed)
    policy = (torch.rand(B, N, 1, generator=g) > 0.5).float()
    policy[:, 0] = 1
    policy[-1, 1:] = 0  # only the cls token left
    return policy


@pytest.mark.parametrize('gap', [0., 5., 20., 60., 88., 90., 200., 1e4])
def test_softmax_with_policy_equals_the_official_one(gap):
    """Random fp32 logits where one pruned key per row dominates the kept ones by ``gap``: the
    official code is finite for all of them (its max is over all keys), so mmdbp must equal it.
    Beyond ~88.7 a max over the kept keys only gave exp(gap) = inf, times gate 0 = NaN."""
    torch.manual_seed(0)
    B, h, N = 3, 2, 7
    policy = _policy(B, N, seed=1)
    attn = torch.randn(B, h, N, N) * 3
    for b in range(B):
        pruned = torch.nonzero(policy[b, :, 0] == 0).flatten()
        if len(pruned):
            attn[b, :, :, pruned[0]] = attn[b].amax() + gap
    ref = official_softmax_with_policy(attn, policy)
    assert torch.isfinite(ref).all()
    out = softmax_with_policy(attn, policy)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-7)
    # the pruned dominant key still gets nothing from the other queries: only the eps share
    for b in range(B):
        pruned = torch.nonzero(policy[b, :, 0] == 0).flatten()
        if len(pruned) and gap >= 20:
            others = [i for i in range(N) if i != pruned[0]]
            assert out[b, :, others, pruned[0]].max() <= 1.01 / N


def test_softmax_with_policy_matches_the_official_values_and_gradients_fp64():
    torch.manual_seed(2)
    B, h, N = 2, 3, 6
    attn = (torch.randn(B, h, N, N, dtype=torch.float64) * 4).requires_grad_()
    policy = torch.rand(B, N, 1, dtype=torch.float64).requires_grad_()  # soft policy
    w = torch.randn(B, h, N, N, dtype=torch.float64)
    (softmax_with_policy(attn, policy) * w).sum().backward()
    got = attn.grad.clone(), policy.grad.clone()
    attn.grad = policy.grad = None
    # the official casts to fp32 for the exp; the fp64 transcription below keeps fp64 throughout
    B_, N_ = B, N
    gate = policy.reshape(B_, 1, 1, N_)
    gate = gate + (1 - gate) * torch.eye(N_, dtype=torch.float64)
    e = (attn - attn.max(-1, keepdim=True)[0]).exp() * gate
    ref = (e + 1e-6 / N_) / (e.sum(-1, keepdim=True) + 1e-6)
    (ref * w).sum().backward()
    torch.testing.assert_close(softmax_with_policy(attn, policy), ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(got[0], attn.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got[1], policy.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16, torch.float64])
def test_softmax_with_policy_is_finite_for_infinite_logits(dtype):
    N = 5
    policy = torch.tensor([[1., 0., 1., 0., 1.]]).reshape(1, N, 1)
    attn = torch.randn(1, 1, N, N).to(dtype)
    attn[0, 0, 0, 1] = float('inf')  # a pruned key at +inf: the official gives inf - inf = NaN
    attn[0, 0, 2, 2] = float('inf')  # an attended key at +inf: it takes the row
    attn[0, 0, 3] = float('-inf')  # a row of -inf: the official gives NaN
    attn[0, 0, 4, 0] = float('-inf')  # one -inf key: weight 0 (official finite, equal)
    assert not torch.isfinite(official_softmax_with_policy(attn.float(), policy)).all()
    out = softmax_with_policy(attn, policy).double()
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.sum(-1), torch.ones(1, 1, N, dtype=torch.float64),
                               atol=2e-2 if dtype == torch.bfloat16 else 1e-6, rtol=0)
    assert out[0, 0, 2, 2] > 0.99  # the +inf key takes (almost) everything
    # row 3: all logits equal after clamping: uniform over the kept keys and itself (0, 2, 3, 4)
    expect = torch.tensor([1., 0., 1., 1., 1.], dtype=torch.float64) / 4
    torch.testing.assert_close(out[0, 0, 3], expect, atol=2e-2 if dtype == torch.bfloat16 else 1e-5,
                               rtol=0)
    # row 4 (finite in the official): equal to it
    finite = attn.float().clone()
    ref = official_softmax_with_policy(finite, policy)[0, 0, 4].double()
    torch.testing.assert_close(out[0, 0, 4], ref, atol=1e-2 if dtype == torch.bfloat16 else 1e-6,
                               rtol=0)
