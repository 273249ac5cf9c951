"""MIRLMultiDecoder against a naive fp64 reference (explicit loops, softmax, LayerNorm, GELU,
weight normalisation), for the first decoder (no earlier segment: context = low_feat only) and
for deeper decoders (context = several earlier segments' embeddings + low_feat)."""
import math

import pytest
import torch

from mmdbp.models.necks import MIRLMultiDecoder
from mmdbp.models.utils import random_masking

B, L, K, C, D, HEADS, P = 2, 16, 4, 12, 8, 2, 2  # 16 patches of 2x2 px, 4 visible


def ln(x, mod):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu)**2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + mod.eps) * mod.weight + mod.bias


def linear(x, mod):
    return x @ mod.weight.T + mod.bias


def attention(q_in, kv_in, wq, bq, wk, bk, wv, bv, proj, heads):
    """Multi-head attention with per-head loops and an explicit softmax."""
    n, m, c = q_in.shape[0], kv_in.shape[0], q_in.shape[1]
    d = c // heads
    out = torch.zeros(n, c, dtype=q_in.dtype)
    for h in range(heads):
        sl = slice(h * d, (h + 1) * d)
        q = q_in @ wq[sl].T + bq[sl]
        k = kv_in @ wk[sl].T + bk[sl]
        v = kv_in @ wv[sl].T + bv[sl]
        logits = q @ k.T / math.sqrt(d)  # n, m
        assert logits.shape == (n, m)
        w = torch.exp(logits - logits.max(-1, keepdim=True).values)
        out[:, sl] = (w / w.sum(-1, keepdim=True)) @ v
    return out @ proj.weight.T + proj.bias


def block_ref(x, ctx, blk):
    """x + SA(LN x); x + CA(LN x, LN ctx); x + MLP(LN x) for one sample (x: N, D; ctx: M, D)."""
    qkv_w, qkv_b = blk.attn.qkv.weight, blk.attn.qkv.bias
    h = ln(x, blk.norm1)
    x = x + attention(h, h, qkv_w[:D], qkv_b[:D], qkv_w[D:2 * D], qkv_b[D:2 * D],
                      qkv_w[2 * D:], qkv_b[2 * D:], blk.attn.proj, HEADS)
    ca = blk.cross_attn
    kv_w, kv_b = ca.kv.weight, ca.kv.bias
    x = x + attention(ln(x, blk.norm_q), ln(ctx, blk.norm_context), ca.q.weight, ca.q.bias,
                      kv_w[:D], kv_b[:D], kv_w[D:], kv_b[D:], ca.proj, HEADS)
    h = linear(ln(x, blk.norm2), blk.mlp.fc1)
    h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))
    return x + linear(h, blk.mlp.fc2)


def decoder_ref(neck, s, low_feat, feats, ids_restore):
    """Prediction of decoder ``s`` built token by token."""
    dec = neck.decoders[s]
    preds = []
    for b in range(B):
        low = linear(low_feat[b], neck.low_embed)  # 1 + K, D
        earlier = [linear(feats[j][b], neck.decoders[j].embed) for j in range(s)]
        ctx = torch.cat(earlier + [low], 0)
        assert ctx.shape[0] == (s + 1) * (1 + K)
        e = linear(feats[s][b], dec.embed)
        seq = [e[0]]  # cls
        for patch in range(L):
            rank = int(ids_restore[b, patch])
            seq.append(e[1 + rank] if rank < K else dec.mask_token[0, 0])
        x = torch.stack(seq) + dec.pos_embed[0]
        for blk in dec.blocks:
            x = block_ref(x, ctx, blk)
        v = dec.pred.weight  # out, in; gain 1, unit-norm column per input feature
        w = v / torch.sqrt((v**2).sum(0, keepdim=True))
        preds.append((ln(x, dec.norm) @ w.T + dec.pred.bias)[1:])
    return torch.stack(preds)


def make_neck(num_segments=4, depth=2):
    torch.manual_seed(0)
    neck = MIRLMultiDecoder(num_segments=num_segments, num_patches=L, patch_size=P, in_chans=3,
                            embed_dim=C, decoder_embed_dim=D, decoder_depth=depth,
                            decoder_num_heads=HEADS)
    neck.init_weights()
    neck = neck.double()
    with torch.no_grad():  # random (not init) values everywhere, so no term can hide
        for name, p in neck.named_parameters():
            if 'pos_embed' not in name:
                p.copy_(torch.randn_like(p) * 0.3)
    return neck


def inputs(num_segments, seed=1):
    g = torch.Generator().manual_seed(seed)
    masked = random_masking(torch.zeros(B, L, 1), 1 - K / L, noise=torch.rand(B, L, generator=g))
    low = torch.randn(B, 1 + K, C, generator=g, dtype=torch.float64)
    feats = [torch.randn(B, 1 + K, C, generator=g, dtype=torch.float64)
             for _ in range(num_segments)]
    return low, feats, masked.ids_restore


@pytest.mark.parametrize('segment', [0, 1, 3], ids=['first-no-earlier', 'one-earlier',
                                                    'three-earlier'])
def test_decoder_matches_naive_reference(segment):
    neck = make_neck(num_segments=4)
    low, feats, ids_restore = inputs(4)
    preds = neck(low, feats, ids_restore)
    assert len(preds) == 4 and preds[segment].shape == (B, L, P * P * 3)
    torch.testing.assert_close(preds[segment],
                               decoder_ref(neck, segment, low, feats, ids_restore))


def test_later_segments_do_not_change_earlier_predictions():
    neck = make_neck(num_segments=4, depth=1)
    low, feats, ids_restore = inputs(4)
    base = neck(low, feats, ids_restore)
    feats2 = [f.clone() for f in feats]
    feats2[3] += 1.
    again = neck(low, feats2, ids_restore)
    for s in range(3):
        torch.testing.assert_close(base[s], again[s])
    assert not torch.allclose(base[3], again[3])
    # ...while an earlier segment reaches the later decoders through their context.
    feats3 = [f.clone() for f in feats]
    feats3[0] += 1.
    assert not torch.allclose(neck(low, feats3, ids_restore)[2], base[2])


def test_weight_norm_gain_is_fixed():
    neck = make_neck(num_segments=2, depth=1)
    pred = neck.decoders[0].pred
    names = {n for n, _ in pred.named_parameters()}
    assert names == {'weight', 'bias'}  # no learnable gain
    w = pred.normalized_weight()
    torch.testing.assert_close(w.norm(dim=0), torch.ones(D, dtype=w.dtype))
    with torch.no_grad():
        pred.weight.mul_(5.)  # scaling the direction changes nothing
    low, feats, ids_restore = inputs(2)
    torch.testing.assert_close(pred.normalized_weight(), w)


def test_bad_configs():
    with pytest.raises(ValueError, match='not divisible by decoder_num_heads'):
        MIRLMultiDecoder(decoder_embed_dim=100, decoder_num_heads=12)
    with pytest.raises(ValueError, match='even number'):
        MIRLMultiDecoder(num_segments=5)
    with pytest.raises(ValueError, match='square number'):
        MIRLMultiDecoder(num_patches=15)
    neck = MIRLMultiDecoder(num_segments=2, num_patches=L, patch_size=P, embed_dim=C,
                            decoder_embed_dim=D, decoder_num_heads=HEADS)
    low, feats, ids_restore = inputs(4)
    with pytest.raises(ValueError, match='num_segments'):
        neck(low.float(), [f.float() for f in feats], ids_restore)
