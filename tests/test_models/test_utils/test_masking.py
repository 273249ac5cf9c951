"""Patch masking utilities against a naive per-sample loop and mmpretrain's MAEViT masking."""
import pytest
import torch

from mmdbp.models.utils.masking import (gather_tokens, num_kept, random_masking,
                                        unshuffle_with_mask_tokens)


def naive_masking(x, mask_ratio, noise):
    """Per-sample Python loop: keep the patches with the smallest noise, in that order."""
    B, L, C = x.shape
    keep = int(L * (1 - mask_ratio))
    tokens, masks, restores, keeps = [], [], [], []
    for b in range(B):
        order = sorted(range(L), key=lambda i: noise[b, i].item())  # ascending noise
        kept = order[:keep]
        tokens.append(torch.stack([x[b, i] for i in kept]))
        masks.append(torch.tensor([0. if i in kept else 1. for i in range(L)]))
        restore = [0] * L
        for rank, i in enumerate(order):
            restore[i] = rank
        restores.append(torch.tensor(restore))
        keeps.append(torch.tensor(kept))
    return torch.stack(tokens), torch.stack(masks), torch.stack(restores), torch.stack(keeps)


@pytest.mark.parametrize('mask_ratio', [0., 0.5, 0.75, 0.9])
def test_random_masking_matches_naive_loop(mask_ratio):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 16, 5, generator=g)
    noise = torch.rand(3, 16, generator=g)
    out = random_masking(x, mask_ratio, noise)
    tokens, mask, restore, keep = naive_masking(x, mask_ratio, noise)
    torch.testing.assert_close(out.tokens, tokens, rtol=0, atol=0)
    torch.testing.assert_close(out.mask, mask, rtol=0, atol=0)
    torch.testing.assert_close(out.ids_restore, restore, rtol=0, atol=0)
    torch.testing.assert_close(out.ids_keep, keep, rtol=0, atol=0)
    assert out.mask.sum(1).tolist() == [16 - num_kept(16, mask_ratio)] * 3


def test_random_masking_equals_mmpretrain_maevit_masking():
    """Same seed -> the same noise draw -> identical masks as mmpretrain's MAEViT."""
    from mmpretrain.models.selfsup.mae import MAEViT
    x = torch.randn(4, 49, 8)
    torch.manual_seed(3)
    ref_tokens, ref_mask, ref_restore = MAEViT.random_masking(None, x, 0.75)
    torch.manual_seed(3)
    out = random_masking(x, 0.75)
    torch.testing.assert_close(out.tokens, ref_tokens, rtol=0, atol=0)
    torch.testing.assert_close(out.mask, ref_mask, rtol=0, atol=0)
    torch.testing.assert_close(out.ids_restore, ref_restore, rtol=0, atol=0)


def test_mask_stays_fp32_for_low_precision_tokens():
    out = random_masking(torch.randn(2, 10, 4, dtype=torch.bfloat16), 0.6)
    assert out.mask.dtype == torch.float32 and out.tokens.dtype == torch.bfloat16


@pytest.mark.parametrize('ratio', [-0.1, 1.0, 1.5])
def test_bad_mask_ratio(ratio):
    with pytest.raises(ValueError, match=r'mask_ratio must be in \[0, 1\)'):
        random_masking(torch.randn(1, 4, 2), ratio)


def test_gather_tokens_matches_indexing():
    x = torch.randn(2, 7, 3)
    ids = torch.tensor([[6, 0, 3], [1, 1, 5]])
    expected = torch.stack([x[b, ids[b]] for b in range(2)])
    torch.testing.assert_close(gather_tokens(x, ids), expected, rtol=0, atol=0)


@pytest.mark.parametrize('extra', [0, 1, 2])
def test_unshuffle_with_mask_tokens_matches_naive_loop(extra):
    g = torch.Generator().manual_seed(1)
    B, L, C = 2, 12, 4
    x = torch.randn(B, L, C, generator=g)
    out = random_masking(x, 0.75, torch.rand(B, L, generator=g))
    prefix = torch.randn(B, extra, C, generator=g)
    mask_token = torch.randn(1, 1, C, generator=g)
    full = unshuffle_with_mask_tokens(torch.cat([prefix, out.tokens], 1), mask_token,
                                      out.ids_restore, num_extra_tokens=extra)
    assert full.shape == (B, extra + L, C)
    for b in range(B):
        torch.testing.assert_close(full[b, :extra], prefix[b])
        kept = out.ids_keep[b].tolist()
        for i in range(L):
            expected = x[b, i] if i in kept else mask_token[0, 0]
            torch.testing.assert_close(full[b, extra + i], expected, rtol=0, atol=0)


def test_unshuffle_promotes_like_torch_cat():
    """A bf16 x with an fp32 mask token gives fp32 (as MAE's cat under autocast): no cast."""
    ids = torch.arange(4).expand(1, 4)
    out = unshuffle_with_mask_tokens(torch.randn(1, 2, 3, dtype=torch.bfloat16),
                                     torch.zeros(1, 1, 3), ids)
    assert out.dtype == torch.float32
