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
    attn = torch.randn(2, 3, 5, 5, dtype=torch.bfloat16) * 30  # large logits: exp overflows bf16
    policy = torch.tensor([[1., 1., 0., 1., 0.], [1., 0., 0., 0., 1.]], requires_grad=True)
    probs = softmax_with_policy(attn, policy)
    assert probs.dtype == torch.bfloat16 and torch.isfinite(probs.float()).all()
    torch.testing.assert_close(probs.float().sum(-1), torch.ones(2, 3, 5), atol=2e-2, rtol=0)
    # pruned keys get (almost) nothing from other queries
    assert probs[0, :, [0, 1, 3]][..., 2].float().max() < 1e-3
    weights = torch.randn(2, 3, 5, 5)
    (softmax_with_policy(attn.float(), policy) * weights).sum().backward()
    assert policy.grad is not None and policy.grad.abs().sum() > 0  # straight-through path
