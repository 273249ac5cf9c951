"""EViT backbone: exact token counts, the fused token against an explicit fp64 reference, keep 1.0
== the dense ViT (mmpretrain's own ViT as reference), training vs inference keep rate."""
import math

import pytest
import torch

from mmdbp.models.backbones import EViT
from mmdbp.models.backbones.evit import num_attentive_kept, reorganize_tokens
from mmdbp.models.utils.token_map import PrunedTokenMap

ARCH = dict(embed_dims=32, num_layers=6, num_heads=4, feedforward_channels=64)
SMALL = dict(arch=ARCH, img_size=32, patch_size=8)  # 16 patch tokens


@pytest.mark.parametrize('keep_rate,fuse,expected', [
    # tokens leaving each of the 6 blocks (norm2 inputs: EViT reorganises before the MLP);
    # stages at blocks 1, 3, 4: K = ceil(rate * (N - 1)) (+1 fused token)
    (0.5, True, [17, 10, 10, 7, 5, 5]),  # 8 + 1; ceil(4.5) = 5 + 1; 3 + 1
    (0.5, False, [17, 9, 9, 5, 3, 3]),  # 8; 4; 2
    (0.7, True, [17, 14, 14, 12, 10, 10]),  # ceil(11.2) = 12 + 1; ceil(9.1) = 10 + 1; 8 + 1
    (1.0, True, [17] * 6),
])
def test_keeps_exactly_the_configured_number_of_tokens(keep_rate, fuse, expected, token_counts):
    model = EViT(keep_rate=keep_rate, pruning_locs=(1, 3, 4), fuse_token=fuse, **SMALL).eval()
    assert token_counts(model, torch.randn(2, 3, 32, 32), 'norm2') == expected


def official_left_tokens(N, keep_rate):
    """``left_tokens`` of the released EViT (youweiliang/evit, ``evit.py``, ``Attention.forward``)
    for N tokens (cls included), transcribed: no pruning at keep rate 1, else
    ``math.ceil(keep_rate * (N - 1))``."""
    left_tokens = N - 1
    if keep_rate < 1:
        left_tokens = math.ceil(keep_rate * (N - 1))
    return left_tokens


def test_token_counts_follow_the_official_rounding():
    for N in list(range(2, 80)) + [91, 101, 145, 197, 257, 577]:
        for r100 in range(1, 101):
            rate = r100 / 100
            assert num_attentive_kept(N - 1, rate) == official_left_tokens(N, rate), (N, rate)
    # round-off as the official: 55.00000000000001 -> 56 and the fidelity check's 25 tokens at
    # 0.28: 7.000000000000001 -> 8
    assert num_attentive_kept(100, 0.55) == 56 and num_attentive_kept(25, 0.28) == 8


def test_round_off_follows_the_official_model(token_counts):
    # 0.55 * 100 = 55.00000000000001 in floating point: the official model keeps ceil() = 56
    model = EViT(keep_rate=0.55, pruning_locs=(0, ), fuse_token=False,
                 arch=ARCH, img_size=80, patch_size=8).eval()  # 100 patches
    assert token_counts(model, torch.randn(1, 3, 80, 80), 'norm2')[0] == 1 + 56


def test_train_keep_rate_applies_in_training_only(token_counts):
    model = EViT(keep_rate=0.5, pruning_locs=(1, 3, 4), **SMALL)
    model.train_keep_rate = 1.0
    x = torch.randn(2, 3, 32, 32)
    assert token_counts(model.train(), x, 'norm2') == [17] * 6
    assert token_counts(model.eval(), x, 'norm2') == [17, 10, 10, 7, 5, 5]


@pytest.mark.parametrize('normalize', [False, True])
def test_fused_token_is_the_attention_weighted_combination_of_the_dropped_tokens(normalize):
    torch.manual_seed(0)
    B, N, C, K = 2, 7, 5, 3
    x = torch.randn(B, 1 + N, C, dtype=torch.float64)
    cls_attn = torch.rand(B, N, dtype=torch.float64).softmax(-1)
    out, keep_idx = reorganize_tokens(x, cls_attn, K, fuse_token=True, fuse_normalize=normalize)
    assert out.shape == (B, 1 + K + 1, C)
    for b in range(B):
        ranked = sorted(range(N), key=lambda j: -cls_attn[b, j].item())
        kept, dropped = ranked[:K], ranked[K:]
        assert keep_idx[b].tolist() == kept
        torch.testing.assert_close(out[b, 0], x[b, 0])
        torch.testing.assert_close(out[b, 1:1 + K], x[b, 1:][kept])
        fused = sum(cls_attn[b, j] * x[b, 1 + j] for j in dropped)
        if normalize:
            fused = fused / sum(cls_attn[b, j] for j in dropped)
        torch.testing.assert_close(out[b, -1], fused)


def naive_reorganizing_block(blk, x, num_keep, heads=4):
    """EViT block by hand in fp64, one sample at a time, explicit per-head softmax:
    ``x + Attn(LN(x))``; a = mean over heads of the cls row of softmax(q k^T / sqrt(d)); keep the
    top-K patches by a, fuse the rest as sum_j a_j x_j; ``+ MLP(LN(.))``.
    Returns (block output, kept indices, reduced tokens before the MLP); differentiable."""
    C = x.shape[-1]
    d = C // heads
    outs, kept_all, reduced_all = [], [], []
    for xb in x:
        y = torch.nn.functional.layer_norm(xb, (C, ), blk.norm1.weight, blk.norm1.bias,
                                           blk.norm1.eps)
        qkv = y @ blk.attn.qkv.weight.T + blk.attn.qkv.bias
        q, k, v = qkv[:, :C], qkv[:, C:2 * C], qkv[:, 2 * C:]
        probs, head_out = [], []
        for h in range(heads):
            sl = slice(h * d, (h + 1) * d)
            p = torch.softmax(q[:, sl] @ k[:, sl].T / math.sqrt(d), -1)
            probs.append(p)
            head_out.append(p @ v[:, sl])
        after_attn = xb + torch.cat(head_out, -1) @ blk.attn.proj.weight.T + blk.attn.proj.bias
        a = torch.stack(probs).mean(0)[0, 1:]  # cls attention to the patches
        ranked = sorted(range(a.numel()), key=lambda j: -a[j].item())
        kept, dropped = ranked[:num_keep], ranked[num_keep:]
        fused = sum(a[j] * after_attn[1 + j] for j in dropped)
        reduced = torch.cat([after_attn[:1], after_attn[1:][kept], fused[None]])
        z = torch.nn.functional.layer_norm(reduced, (C, ), blk.norm2.weight, blk.norm2.bias,
                                           blk.norm2.eps)
        hid = z @ blk.mlp.fc1.weight.T + blk.mlp.fc1.bias
        hid = 0.5 * hid * (1 + torch.erf(hid / math.sqrt(2)))
        outs.append(reduced + hid @ blk.mlp.fc2.weight.T + blk.mlp.fc2.bias)
        kept_all.append(kept)
        reduced_all.append(reduced)
    return torch.stack(outs), kept_all, torch.stack(reduced_all)


@pytest.mark.parametrize('training', [False, True])
def test_reorganizing_block_against_explicit_attention(training, perturbed):
    """The fused-attention block (SDPA output + the cls row on the side) equals the explicit
    fp64 reference in block output, kept indices (in descending attention), fused token, and,
    in training, the gradients w.r.t. the input and the attention weights."""
    torch.manual_seed(0)
    model = perturbed(EViT(keep_rate=0.5, pruning_locs=(0, ), **SMALL)).double()
    model.train(training)
    blk = model.blocks[0]
    x = torch.randn(2, 17, 32, dtype=torch.float64, requires_grad=True)
    captured = []
    hook = blk.norm2.register_forward_pre_hook(lambda m, a: captured.append(a[0]))
    token_map = PrunedTokenMap(2, 16, x.device)
    out = model._reorganizing_block(blk, x, 0.5, token_map)
    hook.remove()
    ref, kept, reduced = naive_reorganizing_block(blk, x, 8)
    assert out.shape == ref.shape == (2, 1 + 8 + 1, 32)
    assert token_map.ids[:, :8].tolist() == kept  # first stage: grid position == index
    torch.testing.assert_close(captured[0], reduced, rtol=1e-10, atol=1e-10)  # fused: last
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    if training:
        weights = torch.randn_like(ref)
        params = [x, blk.attn.qkv.weight, blk.norm1.weight]
        grads = torch.autograd.grad((out * weights).sum(), params)
        grads_ref = torch.autograd.grad((ref * weights).sum(), params)
        for g, g_ref in zip(grads, grads_ref):
            torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize('out_type,out_indices', [('cls_token', -1), ('featmap', [0, 3, 5]),
                                                  ('avg_featmap', [5])])
def test_keep_rate_one_reproduces_the_dense_vit(out_type, out_indices, perturbed,
                                                mmpretrain_vit):
    model = perturbed(EViT(keep_rate=1.0, pruning_locs=(1, 3, 4), out_type=out_type,
                           out_indices=out_indices, **SMALL)).eval()
    ref = mmpretrain_vit(model, arch=dict(ARCH), img_size=32, patch_size=8, out_type=out_type,
                         out_indices=out_indices)
    x = torch.randn(2, 3, 32, 32)
    for o, r in zip(model(x), ref(x)):
        torch.testing.assert_close(o, r, rtol=1e-4, atol=1e-4)


def test_training_backward(perturbed):
    model = perturbed(EViT(keep_rate=0.5, pruning_locs=(1, 3, 4), **SMALL)).train()
    model(torch.randn(2, 3, 32, 32))[-1].sum().backward()
    assert model.blocks[0].attn.qkv.weight.grad.abs().sum() > 0


def test_bad_configs():
    with pytest.raises(ValueError, match='keep_rate must be in'):
        EViT(keep_rate=1.5, pruning_locs=(1, 2), **SMALL)
    with pytest.raises(ValueError, match='strictly increasing block indices'):
        EViT(pruning_locs=(4, 2), **SMALL)
    with pytest.raises(ValueError, match='needs with_cls_token=True'):
        EViT(with_cls_token=False, out_type='featmap', pruning_locs=(1, 2), **SMALL)
