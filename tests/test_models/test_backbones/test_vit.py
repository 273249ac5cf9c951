"""FastVisionTransformer / FastMAEViT against mmpretrain's and mmseg's ViTs (fp32, same weights).

The reference backbones are the host libraries' own code; mmdbp's weights reach them only through
``convert_vit`` and ``load_state_dict(strict=True)``.
"""
import pytest
import torch
from mmpretrain.models import VisionTransformer as PretrainViT
from mmpretrain.models.selfsup.mae import MAEViT
from mmseg.models.backbones import VisionTransformer as SegViT

from mmdbp.models.backbones import FastMAEViT, FastVisionTransformer
from mmdbp.models.utils import convert_vit

ARCH = dict(embed_dims=32, num_layers=3, num_heads=4, feedforward_channels=64)
TOL = dict(rtol=1e-5, atol=1e-5)


def build_pair(out_type='cls_token', out_indices=-1, with_cls_token=True, final_norm=True,
               img_size=32, patch_size=8):
    torch.manual_seed(0)
    fast = FastVisionTransformer(ARCH, img_size=img_size, patch_size=patch_size,
                                 out_indices=out_indices, out_type=out_type,
                                 with_cls_token=with_cls_token, final_norm=final_norm)
    fast.init_weights()
    with torch.no_grad():  # non-trivial norms and biases
        for name, p in fast.named_parameters():
            if 'norm' in name or name.endswith('bias'):
                p.add_(torch.randn_like(p) * 0.1)
    ref = PretrainViT(dict(ARCH), img_size=img_size, patch_size=patch_size,
                      out_indices=list(out_indices) if isinstance(out_indices, (list, tuple))
                      else out_indices, out_type=out_type, with_cls_token=with_cls_token,
                      final_norm=final_norm)
    ref.load_state_dict(convert_vit(fast.state_dict(), 'mmpretrain'), strict=True)
    fast.eval()
    ref.eval()  # (mmpretrain's ViT.train() returns None: no chaining)
    return fast, ref


@pytest.mark.parametrize('out_type,out_indices', [
    ('cls_token', -1),
    ('featmap', [0, 1, 2]),
    ('featmap', [-2, -1]),
    ('avg_featmap', [1, 2]),
    ('raw', -1),
])
def test_matches_mmpretrain_vit(out_type, out_indices):
    fast, ref = build_pair(out_type, out_indices)
    x = torch.randn(2, 3, 32, 32)
    outs, refs = fast(x), ref(x)
    assert len(outs) == len(refs) == (len(out_indices) if isinstance(out_indices, list) else 1)
    for o, r in zip(outs, refs):
        assert o.shape == r.shape
        torch.testing.assert_close(o, r, **TOL)


def test_matches_mmpretrain_vit_without_cls_token_and_final_norm():
    fast, ref = build_pair('featmap', [2], with_cls_token=False, final_norm=False)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(fast(x)[0], ref(x)[0], **TOL)


def test_matches_mmpretrain_vit_at_another_resolution():
    """Inputs larger than img_size: both resize the position embedding bicubically."""
    fast, ref = build_pair('featmap', [2])
    x = torch.randn(1, 3, 48, 40)
    out, expected = fast(x)[0], ref(x)[0]
    assert out.shape == (1, 32, 6, 5)
    torch.testing.assert_close(out, expected, **TOL)


@pytest.mark.parametrize('with_cls_token', [True, False])
def test_matches_mmseg_vit(with_cls_token):
    torch.manual_seed(1)
    fast = FastVisionTransformer(ARCH, img_size=32, patch_size=8, out_indices=[0, 1, 2],
                                 out_type='featmap', with_cls_token=with_cls_token)
    fast.init_weights()
    ref = SegViT(img_size=32, patch_size=8, embed_dims=32, num_layers=3, num_heads=4,
                 mlp_ratio=2, out_indices=[0, 1, 2], with_cls_token=with_cls_token,
                 patch_bias=True, norm_cfg=dict(type='LN', eps=1e-6), final_norm=True)
    ref.load_state_dict(convert_vit(fast.state_dict(), 'mmseg'), strict=True)
    fast.eval(), ref.eval()
    x = torch.randn(2, 3, 32, 32)
    outs, refs = fast(x), ref(x)
    assert len(outs) == len(refs) == 3
    for o, r in zip(outs, refs):
        torch.testing.assert_close(o, r, **TOL)


def test_unmasked_mae_encoder_matches_mmpretrain_maevit():
    torch.manual_seed(2)
    fast = FastMAEViT(ARCH, img_size=32, patch_size=8)
    fast.init_weights()
    ref = MAEViT(dict(ARCH), img_size=32, patch_size=8)
    ref.load_state_dict(convert_vit(fast.state_dict(), 'mmpretrain'), strict=True)
    # same fixed sin-cos positions as mmpretrain's own initialisation
    ref_init = MAEViT(dict(ARCH), img_size=32, patch_size=8)
    ref_init.init_weights()
    torch.testing.assert_close(fast.pos_embed, ref_init.pos_embed)
    assert not fast.pos_embed.requires_grad
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(fast(x, mask=None)[0], ref(x, mask=None)[0], **TOL)


def test_masked_mae_encoder_matches_mmpretrain_maevit():
    torch.manual_seed(3)
    fast = FastMAEViT(ARCH, img_size=32, patch_size=8, mask_ratio=0.5)
    fast.init_weights()
    ref = MAEViT(dict(ARCH), img_size=32, patch_size=8, mask_ratio=0.5)
    ref.load_state_dict(convert_vit(fast.state_dict(), 'mmpretrain'), strict=True)
    x = torch.randn(3, 3, 32, 32)
    torch.manual_seed(7)
    latent, mask, ids_restore = fast(x)
    torch.manual_seed(7)
    r_latent, r_mask, r_ids = ref(x)
    assert latent.shape == (3, 1 + 8, 32)
    torch.testing.assert_close(mask, r_mask, rtol=0, atol=0)
    torch.testing.assert_close(ids_restore, r_ids, rtol=0, atol=0)
    torch.testing.assert_close(latent, r_latent, **TOL)


def test_get_layer_depth_matches_mmpretrain():
    fast, ref = build_pair()
    fast_names = [n for n, _ in fast.named_parameters()]
    ref_names = list(convert_vit({n: None for n in fast_names}, 'mmpretrain'))
    assert len(fast_names) == len(ref_names)
    for fn, rn in zip(fast_names, ref_names):
        assert fast.get_layer_depth('backbone.' + fn, 'backbone.') == \
            ref.get_layer_depth('backbone.' + rn, 'backbone.'), fn
    assert fast.get_layer_depth('head.fc.weight', 'backbone.') == (4, 5)
    assert fast.get_layer_depth('backbone.blocks.2.mlp.fc1.weight', 'backbone.') == (3, 5)


def test_frozen_stages():
    vit = FastVisionTransformer(ARCH, img_size=32, patch_size=8, frozen_stages=2)
    vit.train()
    frozen = {n for n, p in vit.named_parameters() if not p.requires_grad}
    assert {'cls_token', 'pos_embed', 'patch_embed.projection.weight'} <= frozen
    assert all(n in frozen for n, _ in vit.blocks[:2].named_parameters(prefix='blocks'))
    assert not any(n.startswith('blocks.2') for n in frozen)
    assert not vit.blocks[0].training and vit.blocks[2].training


def test_pos_embed_resized_on_load():
    small = FastVisionTransformer(ARCH, img_size=32, patch_size=8)
    big = FastVisionTransformer(ARCH, img_size=64, patch_size=8)
    big.load_state_dict(small.state_dict(), strict=True)
    assert big.pos_embed.shape == (1, 1 + 64, 32)


def test_named_archs():
    for name, (dims, depth, heads) in {'small': (384, 12, 6), 'base': (768, 12, 12),
                                       'large': (1024, 24, 16), 'small-54': (384, 54, 12),
                                       'base-48': (768, 48, 12)}.items():
        arch = FastVisionTransformer.parse_arch(name)
        assert (arch['embed_dims'], arch['num_layers'], arch['num_heads']) == (dims, depth, heads)
        assert arch['feedforward_channels'] == 4 * dims


def test_bad_configs():
    with pytest.raises(KeyError, match="Unknown ViT arch 'giant'"):
        FastVisionTransformer('giant')
    with pytest.raises(ValueError, match='custom ViT arch must be a dict with keys'):
        FastVisionTransformer(dict(embed_dims=32, num_layers=2))
    with pytest.raises(ValueError, match='out_indices 3 is out of range for 3 blocks'):
        FastVisionTransformer(ARCH, img_size=32, patch_size=8, out_indices=[0, 3])
    with pytest.raises(ValueError, match='out_indices -4 is out of range for 3 blocks'):
        FastVisionTransformer(ARCH, img_size=32, patch_size=8, out_indices=-4)
    with pytest.raises(ValueError, match='img_size 30 must be divisible by patch_size 8'):
        FastVisionTransformer(ARCH, img_size=30, patch_size=8)
    with pytest.raises(ValueError, match="out_type must be one of"):
        FastVisionTransformer(ARCH, img_size=32, patch_size=8, out_type='tokens')
    with pytest.raises(ValueError, match='needs with_cls_token=True'):
        FastVisionTransformer(ARCH, img_size=32, patch_size=8, with_cls_token=False)
    with pytest.raises(ValueError, match='pos_embed_type must be'):
        FastVisionTransformer(ARCH, img_size=32, patch_size=8, pos_embed_type='rope')
    with pytest.raises(ValueError, match=r'mask_ratio must be in \[0, 1\)'):
        FastMAEViT(ARCH, img_size=32, patch_size=8, mask_ratio=1.0)


def test_bad_input_sizes():
    vit = FastVisionTransformer(ARCH, img_size=32, patch_size=8)
    with pytest.raises(ValueError, match='Input size 30x32 is not divisible by the patch size 8'):
        vit(torch.randn(1, 3, 30, 32))
    mae = FastMAEViT(ARCH, img_size=32, patch_size=8)
    with pytest.raises(ValueError, match='built for 32x32 px inputs .* but got 48x48'):
        mae(torch.randn(1, 3, 48, 48))
