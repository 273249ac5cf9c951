"""MaskedFinetuneViT: training drops patch tokens (fewer tokens reach the blocks), evaluation sees
the full image and equals the plain ViT with the same weights."""
import pytest
import torch

from mmdbp.models.backbones import FastVisionTransformer, MaskedFinetuneViT

ARCH = dict(embed_dims=32, num_layers=3, num_heads=4, feedforward_channels=64)
SMALL = dict(arch=ARCH, img_size=32, patch_size=8)  # 16 patches


def block_input_lengths(model, x):
    lengths = []
    hooks = [b.register_forward_pre_hook(lambda m, a: lengths.append(a[0].shape[1]))
             for b in model.blocks]
    model(x)
    for h in hooks:
        h.remove()
    return lengths


@pytest.mark.parametrize('ratio,kept', [(0.5, 8), (0.75, 4), (0.3, 11)])
def test_training_drops_tokens(ratio, kept):
    model = MaskedFinetuneViT(mask_ratio=ratio, **SMALL).train()
    assert block_input_lengths(model, torch.randn(2, 3, 32, 32)) == [1 + kept] * 3


def test_evaluation_is_unmasked_and_equals_the_plain_vit():
    torch.manual_seed(0)
    model = MaskedFinetuneViT(mask_ratio=0.75, **SMALL)
    model.init_weights()
    plain = FastVisionTransformer(**SMALL)
    plain.load_state_dict(model.state_dict(), strict=True)  # same parameters, same names
    model.eval(), plain.eval()
    x = torch.randn(2, 3, 32, 32)
    assert block_input_lengths(model, x) == [17] * 3
    torch.testing.assert_close(model(x)[0], plain(x)[0])


def test_dropping_not_zeroing():
    """With mask ratio 0 the kept set is every patch (in a random order): the cls output must
    equal the full-image output. Zeroing masked tokens instead would still pass this, so check
    too that the output at ratio 0.5 equals the plain ViT run on the kept patches alone."""
    torch.manual_seed(0)
    model = MaskedFinetuneViT(mask_ratio=0.0, **SMALL)
    model.init_weights()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model.train()(x)[0], model.eval()(x)[0], rtol=1e-5, atol=1e-5)

    model.mask_ratio = 0.5
    torch.manual_seed(1)
    out = model.train()(x)[0]
    torch.manual_seed(1)
    ids = torch.rand(2, 16).argsort(dim=1)[:, :8]  # the draw random_masking makes
    # reference: embed, keep the same patches, run the plain blocks on them only
    with torch.no_grad():
        tokens, _ = model.embed(x)
        patches = torch.stack([tokens[b, 1:][ids[b]] for b in range(2)])
        seq = torch.cat([tokens[:, :1], patches], 1)
        for blk in model.blocks:
            seq = blk(seq)
        ref = model.norm(seq)[:, 0]
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_ratio_range_sampled_per_batch():
    torch.manual_seed(0)
    model = MaskedFinetuneViT(mask_ratio=(0.25, 0.75), **SMALL).train()
    seen = set()
    for _ in range(12):
        lengths = block_input_lengths(model, torch.randn(2, 3, 32, 32))
        assert len(set(lengths)) == 1 and 1 + 4 <= lengths[0] <= 1 + 12
        seen.add(lengths[0])
    assert len(seen) > 1  # the ratio changes between batches


def test_avg_of_kept_tokens():
    """avg_featmap in training = norm_avg of the plain mean of the kept patch tokens' final
    features (the cls token and the dropped patches left out), by hand with the same draw."""
    torch.manual_seed(0)
    model = MaskedFinetuneViT(mask_ratio=0.5, out_type='avg_featmap', **SMALL)
    model.init_weights()
    with torch.no_grad():  # a non-trivial final norm and pooled norm
        for name, p in model.named_parameters():
            if 'norm' in name:
                p.add_(torch.randn_like(p) * 0.3)
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(1)
    out = model.train()(x)[0]
    torch.manual_seed(1)
    ids = torch.rand(2, 16).argsort(dim=1)[:, :8]  # the draw random_masking makes
    with torch.no_grad():
        tokens, _ = model.embed(x)
        expected = []
        for b in range(2):
            seq = torch.cat([tokens[b, :1], tokens[b, 1:][ids[b]]])[None]  # cls + 8 kept
            for blk in model.blocks:
                seq = blk(seq)
            feats = model.norm(seq)[0]
            mean = sum(feats[1 + j] for j in range(8)) / 8  # patch tokens only
            mu, var = mean.mean(), mean.var(unbiased=False)
            ln = model.norm_avg
            expected.append((mean - mu) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias)
    assert out.shape == (2, 32)
    torch.testing.assert_close(out, torch.stack(expected), rtol=1e-5, atol=1e-5)


def test_bad_configs():
    with pytest.raises(ValueError, match='no full feature map'):
        MaskedFinetuneViT(out_type='featmap', **SMALL)
    for bad in (1.0, -0.1, (0.6, 0.2), (0.1, 0.2, 0.3)):
        with pytest.raises(ValueError, match='mask_ratio must be a float in'):
            MaskedFinetuneViT(mask_ratio=bad, **SMALL)
