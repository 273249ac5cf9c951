"""DynamicViT backbone: exact token counts at inference, keep 1.0 == the dense ViT (mmpretrain's
own ViT as reference), gradients into the prediction modules, bad configs."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmdbp.models.backbones import DynamicViT
from mmdbp.models.backbones.dynamic_vit import TokenKeepPredictor, num_tokens_kept

ARCH = dict(embed_dims=32, num_layers=6, num_heads=4, feedforward_channels=64)
SMALL = dict(arch=ARCH, img_size=32, patch_size=8)  # 4 x 4 = 16 patch tokens


@pytest.mark.parametrize('keep_ratio,expected', [
    # tokens entering each of the 6 blocks: cls + int(16 * rho^s) after the stages at 1, 3, 4
    (0.5, [17, 9, 9, 5, 3, 3]),
    (0.75, [17, 13, 13, 10, 7, 7]),  # int(12), int(9), int(6.75)
    (1.0, [17] * 6),
])
def test_inference_keeps_exactly_the_configured_number_of_tokens(keep_ratio, expected,
                                                                token_counts):
    model = DynamicViT(keep_ratio=keep_ratio, pruning_locs=(1, 3, 4), **SMALL).eval()
    assert token_counts(model, torch.randn(2, 3, 32, 32)) == expected


def test_explicit_keep_ratios(token_counts):
    model = DynamicViT(keep_ratios=(0.5, 0.25), pruning_locs=(2, 4), **SMALL).eval()
    assert token_counts(model, torch.randn(1, 3, 32, 32)) == [17, 17, 9, 9, 5, 5]


def official_num_keep(init_n, base_rate):
    """Tokens kept at each stage by the released DynamicViT (raoyongming/DynamicViT):
    ``KEEP_RATE = [r, r ** 2, r ** 3]`` (``main.py``) and ``int(init_n * token_ratio[i])``
    (``models/dyvit.py``), transcribed with the same float arithmetic."""
    keep_rate = [base_rate, base_rate**2, base_rate**3]
    return [int(init_n * keep_rate[i]) for i in range(3)]


def test_token_counts_follow_the_official_rounding():
    """Every (L, rho) on a grid: the official count (a guard keeps 1 where it keeps 0)."""
    model_ratios = {}
    for L in list(range(1, 80)) + [90, 100, 144, 196, 256, 576, 784, 1024]:
        for r100 in range(1, 101):
            rho = r100 / 100
            if rho not in model_ratios:
                model_ratios[rho] = DynamicViT(keep_ratio=rho, pruning_locs=(1, 3, 4),
                                               **SMALL).keep_ratios
            got = [num_tokens_kept(L, ratio) for ratio in model_ratios[rho]]
            assert got == [max(1, n) for n in official_num_keep(L, rho)], (L, rho)
    # the pair the fidelity check found (round-off: 62.99999999999999), 0 -> 1 (guard)
    assert num_tokens_kept(90, 0.7) == 62
    assert num_tokens_kept(16, 0.05) == 1


def test_round_off_follows_the_official_model(token_counts):
    # 0.7 * 90 = 62.99999999999999 in floating point: the official model keeps int() = 62
    model = DynamicViT(keep_ratios=(0.7, ), pruning_locs=(1, ), **SMALL).eval()
    assert token_counts(model, torch.randn(1, 3, 80, 72))[1] == 1 + 62  # 10 x 9 patches


def test_training_keeps_the_batch_shape(token_counts):
    model = DynamicViT(keep_ratio=0.5, pruning_locs=(1, 3, 4), **SMALL).train()
    assert token_counts(model, torch.randn(2, 3, 32, 32)) == [17] * 6


@pytest.mark.parametrize('out_type,out_indices', [('cls_token', -1), ('featmap', [0, 2, 5]),
                                                  ('avg_featmap', [5]), ('raw', [5])])
def test_keep_ratio_one_reproduces_the_dense_vit(out_type, out_indices, perturbed,
                                                 mmpretrain_vit):
    model = perturbed(DynamicViT(keep_ratio=1.0, pruning_locs=(1, 3, 4), out_type=out_type,
                                 out_indices=out_indices, **SMALL)).eval()
    ref = mmpretrain_vit(model, arch=dict(ARCH), img_size=32, patch_size=8, out_type=out_type,
                         out_indices=out_indices)
    x = torch.randn(2, 3, 32, 32)
    outs, refs = model(x), ref(x)
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        if out_type == 'raw':
            # top-k at ratio 1 re-orders the patch tokens: match whole rows (each output token
            # must be one reference token, each used once), not every channel sorted on its own
            dist = torch.cdist(o, r)  # B, 17, 17
            match = dist.argmin(-1)
            for b in range(o.shape[0]):
                assert match[b, 0] == 0  # the cls token stays first
                assert sorted(match[b].tolist()) == list(range(o.shape[1]))
            r = torch.stack([r[b, match[b]] for b in range(o.shape[0])])
        torch.testing.assert_close(o, r, rtol=1e-4, atol=1e-4)


def naive_pruned_forward(model, ref, x, locs, ratios):
    """DynamicViT inference by hand, one image at a time, on mmpretrain's own ViT layers: before
    block ``locs[s]`` score the live patch tokens with ``model.predictors[s]`` (keep = column 0
    of its log-probabilities), keep the ``int(L * ratios[s])`` best by a Python sort, drop the
    rest; returns the final normalised tokens (cls first, kept patches in descending score)."""
    outs = []
    L = (x.shape[-1] // 8) * (x.shape[-2] // 8)
    for img in x:
        tokens, _ = ref.patch_embed(img[None])
        t = torch.cat([ref.cls_token, tokens], 1) + ref.pos_embed  # 1, 1 + L, C
        for i, layer in enumerate(ref.layers):
            if i in locs:
                s = locs.index(i)
                patches = t[:, 1:]
                score = model.predictors[s](patches, torch.ones(1, patches.shape[1], 1))[0, :, 0]
                order = sorted(range(patches.shape[1]), key=lambda j: -score[j].item())
                kept = order[:int(L * ratios[s] + 1e-9)]
                t = torch.cat([t[:, :1], patches[:, kept]], 1)
            t = layer(t)
        outs.append(ref.ln1(t)[0])
    return torch.stack(outs)


def test_inference_keeps_the_top_scored_tokens(perturbed, mmpretrain_vit):
    """Which tokens survive, not only how many: the top-k by the prediction module's keep score
    at every stage, against a by-hand loop on mmpretrain's ViT layers."""
    locs, ratios = (1, 3, 4), (0.5, 0.25, 0.125)
    model = perturbed(DynamicViT(keep_ratio=0.5, pruning_locs=locs, out_type='raw',
                                 **SMALL)).eval()
    with torch.no_grad():  # sharper scores than the near-uniform init, so no near-ties
        for pred in model.predictors:
            pred.out_conv[-2].weight.mul_(50.)
    ref = mmpretrain_vit(model, arch=dict(ARCH), img_size=32, patch_size=8, out_type='raw')
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        out = model(x)[0]
        expected = naive_pruned_forward(model, ref, x, locs, ratios)
    assert out.shape == expected.shape == (3, 1 + 2, 32)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_gradients_reach_every_prediction_module(perturbed):
    torch.manual_seed(0)
    model = perturbed(DynamicViT(keep_ratio=0.5, pruning_locs=(1, 3, 4), **SMALL)).train()
    outs, aux = model.forward_with_aux(torch.randn(4, 3, 32, 32))
    assert [d.shape for d in aux['keep_decisions']] == [(4, 16)] * 3
    assert all(set(d.unique().tolist()) <= {0., 1.} for d in aux['keep_decisions'])
    # decisions are nested: a pruned token never comes back
    d1, d2, d3 = aux['keep_decisions']
    assert (d2 <= d1).all() and (d3 <= d2).all()
    outs[-1].pow(2).sum().backward()  # the classification path only, no ratio loss
    for s, pred in enumerate(model.predictors):
        grads = [p.grad for p in pred.parameters()]
        assert all(g is not None for g in grads), f'stage {s}'
        assert sum(g.abs().sum() for g in grads) > 0, f'stage {s} gets no gradient'


def test_training_decisions_follow_the_keep_column_as_inference_does(perturbed):
    """Training draws hard Gumbel-softmax decisions from the same keep column (0) that inference
    ranks by, and a pruned token stays pruned: replay torch's own F.gumbel_softmax on each
    prediction module's output with the random state it was drawn from."""
    torch.manual_seed(0)
    model = perturbed(DynamicViT(keep_ratio=0.5, pruning_locs=(1, 3, 4), **SMALL)).train()
    seen = []  # (log-probabilities, random state right after the module ran)
    hooks = [p.register_forward_hook(
        lambda m, a, out: seen.append((out.detach(), torch.get_rng_state())))
        for p in model.predictors]
    _, aux = model.forward_with_aux(torch.randn(4, 3, 32, 32))
    for h in hooks:
        h.remove()
    live = torch.ones(4, 16)
    with torch.random.fork_rng(devices=[]):
        for s, ((lp, state), d) in enumerate(zip(seen, aux['keep_decisions'])):
            torch.set_rng_state(state)
            live = live * F.gumbel_softmax(lp.float(), hard=True)[..., 0]
            assert torch.equal(d, live), f'stage {s}'
    assert 0 < live.sum() < live.numel()  # some tokens kept, some pruned
    assert all(0 < d.mean() < 1 for d in aux['keep_decisions'])


def naive_predictor(pred, x, live):
    """DynamicViT's PredictorLG written out for one image: LayerNorm -> Linear -> GELU, the
    first half of the channels stays local, the second half is averaged over the live tokens
    (a plain mean of the live rows), then the MLP C -> C/2 -> C/4 -> 2 with GELUs and a
    log-softmax."""
    ln, lin = pred.in_conv[0], pred.in_conv[1]
    f1, f2, f3 = pred.out_conv[0], pred.out_conv[2], pred.out_conv[4]

    def gelu(t):
        return 0.5 * t * (1 + torch.erf(t / math.sqrt(2)))

    C = x.shape[-1]
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu)**2).mean(-1, keepdim=True)
    h = gelu(((x - mu) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias) @ lin.weight.T
             + lin.bias)
    rows = [h[j, C // 2:] for j in range(x.shape[0]) if live[j]]
    g = sum(rows) / len(rows)
    h = torch.cat([h[:, :C // 2], g.expand(x.shape[0], -1)], -1)
    h = gelu(h @ f1.weight.T + f1.bias)
    h = gelu(h @ f2.weight.T + f2.bias)
    logits = h @ f3.weight.T + f3.bias
    return logits - torch.logsumexp(logits, -1, keepdim=True)


def test_predictor_global_feature_uses_only_live_tokens():
    torch.manual_seed(0)
    pred = TokenKeepPredictor(8).double()
    with torch.no_grad():  # non-trivial norm, biases and scores
        for p in pred.parameters():
            p.copy_(torch.randn_like(p) * 0.7)
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    policy = torch.tensor([[1., 1., 0., 1., 0.], [0., 1., 1., 1., 1.]],
                          dtype=torch.float64).unsqueeze(-1)
    out = pred(x, policy)
    for b in range(2):
        torch.testing.assert_close(out[b], naive_predictor(pred, x[b], policy[b, :, 0]),
                                   rtol=1e-10, atol=1e-10)
    changed = x.clone()
    changed[0, [2, 4]] = torch.randn(2, 8, dtype=torch.float64)  # only pruned tokens change
    torch.testing.assert_close(out[0, [0, 1, 3]], pred(changed, policy)[0, [0, 1, 3]])


def test_bad_configs():
    with pytest.raises(ValueError, match='keep_ratio must be in'):
        DynamicViT(keep_ratio=0., pruning_locs=(1, 2), **SMALL)
    with pytest.raises(ValueError, match='strictly increasing block indices'):
        DynamicViT(pruning_locs=(3, 3), **SMALL)
    with pytest.raises(ValueError, match='strictly increasing block indices'):
        DynamicViT(pruning_locs=(2, 6), **SMALL)
    with pytest.raises(ValueError, match='one ratio per pruning location'):
        DynamicViT(keep_ratios=(0.5, ), pruning_locs=(1, 2), **SMALL)
    with pytest.raises(ValueError, match='non-increasing values'):
        DynamicViT(keep_ratios=(0.5, 0.7), pruning_locs=(1, 2), **SMALL)
    with pytest.raises(ValueError, match='needs the cls token'):
        DynamicViT(with_cls_token=False, out_type='featmap', pruning_locs=(1, 2), **SMALL)
    with pytest.raises(ValueError, match='divisible by 4'):
        TokenKeepPredictor(6)
