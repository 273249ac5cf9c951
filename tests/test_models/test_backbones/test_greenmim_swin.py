"""GreenMIM's sparse Swin encoder against mmpretrain's and mmseg's dense SwinTransformer."""
import pytest
import torch
from mmpretrain.models.backbones import SwinTransformer as MMPretrainSwin
from mmseg.models.backbones import SwinTransformer as MMSegSwin

from mmdbp.models.backbones import GreenMIMSwin

TINY = dict(embed_dims=8, depths=[2, 2, 2, 2], num_heads=[2, 2, 4, 4])


def randomise(model):
    """Non-trivial weights everywhere (norms and bias tables included)."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3 + (p.dim() == 1) * 0.5)
    return model


@pytest.mark.parametrize('img_size,patch_size,window,pretrain_windows', [
    # 16, 8, 4, 2 tokens: shifted, shifted, window == grid (no shift), grid < window (shrink)
    (64, 4, 4, [4, 4, 4, 2]),
    # window 2 everywhere; last stage grid == window
    (64, 4, 2, [2, 2, 2, 2]),
    # non-square input: (16, 32), (8, 16), (4, 8), (2, 4)
    ((64, 128), 4, 4, [4, 4, 4, 2]),
])
def test_mask_ratio_zero_reproduces_mmpretrain_swin(img_size, patch_size, window,
                                                     pretrain_windows):
    ours = GreenMIMSwin(arch=TINY, img_size=img_size, patch_size=patch_size, window_size=window,
                        mask_ratio=0., out_indices=(0, 1, 2, 3))
    ref = MMPretrainSwin(arch=TINY, img_size=img_size, patch_size=patch_size,
                         window_size=window, out_indices=(0, 1, 2, 3), drop_path_rate=0.,
                         stage_cfgs=[dict(window_size=w) for w in pretrain_windows])
    randomise(ours)
    missing = ref.load_state_dict(ours.state_dict(), strict=True)  # same keys, same shapes
    assert not missing.missing_keys and not missing.unexpected_keys
    ours.double().eval()
    ref.double().eval()  # (the host Swins' train() returns None: no chaining)
    x = torch.randn(2, 3, *((img_size, ) * 2 if isinstance(img_size, int) else img_size),
                    dtype=torch.float64)
    with torch.no_grad():
        expected = ref(x)
        dense = ours(x, mask=None)
        # the masked path with nothing masked (mask ratio 0) returns the normed last stage
        latent, mask = ours(x, mask=True)
    assert len(dense) == 4
    for a, b in zip(dense, expected):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    assert mask.sum() == 0
    torch.testing.assert_close(latent, expected[3].flatten(2).transpose(1, 2),
                               rtol=1e-9, atol=1e-9)


def test_loads_into_mmseg_swin_and_matches():
    """All stages larger than the window: mmseg's Swin (always shifting) computes the same."""
    ours = GreenMIMSwin(arch=TINY, img_size=64, patch_size=2, window_size=2, mask_ratio=0.,
                        out_indices=(0, 1, 2, 3))
    ref = MMSegSwin(embed_dims=8, depths=[2, 2, 2, 2], num_heads=[2, 2, 4, 4], patch_size=2,
                    strides=(2, 2, 2, 2), window_size=2, drop_path_rate=0.)
    randomise(ours)
    result = ref.load_state_dict(ours.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    ours.double().eval()
    ref.double().eval()  # (the host Swins' train() returns None: no chaining)
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(ours(x, mask=None), ref(x)):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_masked_forward_counts_and_mask_modes():
    torch.manual_seed(0)
    model = GreenMIMSwin(arch=TINY, img_size=64, patch_size=2, window_size=4, mask_ratio=0.75)
    x = torch.randn(3, 3, 64, 64)
    latent, mask = model(x)
    # 64 / (2 * 8) = 4 units per side, 16 units, int(16 * 0.25) = 4 visible
    assert model.unit_grid == (4, 4)
    assert latent.shape == (3, 4, 64)
    assert mask.shape == (3, 16) and (mask.sum(1) == 12).all()
    assert torch.equal(mask[0], mask[1])  # one mask per batch by default
    latent.sum().backward()  # gradients flow through the sparse path


def test_per_image_masks_equal_separate_runs():
    """Packing windows of the whole batch gives each image what it gets alone."""
    torch.manual_seed(0)
    model = GreenMIMSwin(arch=TINY, img_size=64, patch_size=2, window_size=4, mask_ratio=0.5,
                         mask_per_image=True).double().eval()
    randomise(model)
    model.double()
    x = torch.randn(3, 3, 64, 64, dtype=torch.float64)
    unit_mask = model.random_unit_mask(3)
    assert unit_mask.shape == (3, 4, 4) and (unit_mask.flatten(1).sum(1) == 8).all()
    assert not torch.equal(unit_mask[0], unit_mask[1])
    with torch.no_grad():
        latent, mask = model(x, mask=unit_mask)
        for b in range(3):
            alone, mask_b = model(x[b:b + 1], mask=unit_mask[b:b + 1])
            torch.testing.assert_close(latent[b:b + 1], alone, rtol=1e-10, atol=1e-10)
            assert torch.equal(mask[b], mask_b[0])


def test_official_merge_order_and_window_shrink_rules():
    model = GreenMIMSwin(arch='tiny', img_size=224, window_size=14, merge_order='swin')
    # 56, 28, 14, 7 tokens: window 14 shifts by 7 on the first two stages, covers stage 3 whole
    # (no shift) and shrinks to the 7x7 grid of stage 4
    assert model.stage_windows == [(14, 7), (14, 7), (14, 0), (7, 0)]
    assert model.stages[3].blocks[0].attn.w_msa.relative_position_bias_table.shape == (169, 24)
    assert model.stages[0].downsample.merge_order == 'swin'


@pytest.mark.parametrize('kwargs,message', [
    (dict(img_size=100), 'not divisible by the mask unit 32 px'),
    (dict(img_size=224, window_size=5), 'window_size 5 does not tile stage 0'),
    (dict(img_size=224, window_size=[7, 7, 7]), 'one value per stage'),
    (dict(mask_ratio=1.0), r'mask_ratio must be in \[0, 1\)'),
    (dict(mask_ratio=-0.1), r'mask_ratio must be in \[0, 1\)'),
    (dict(img_size=32, mask_ratio=0.5), 'keeps no unit'),
    (dict(arch='huge'), "unknown arch 'huge'"),
    (dict(arch=dict(embed_dims=8)), 'custom arch must be a dict'),
    (dict(out_indices=(0, 1)), 'must contain the last stage'),
])
def test_bad_configs_fail_at_build_time(kwargs, message):
    cfg = dict(arch=TINY, img_size=64, window_size=2)
    cfg.update(kwargs)
    with pytest.raises(ValueError, match=message):
        GreenMIMSwin(**cfg)


def test_bad_inputs():
    model = GreenMIMSwin(arch=TINY, img_size=64, window_size=2)
    with pytest.raises(ValueError, match='differs from img_size'):
        model(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match='mask must be'):
        model(torch.randn(2, 3, 64, 64), mask=torch.zeros(2, 3, 3))


def test_norm_cfg_reaches_every_layer_norm_patch_embedding_included():
    """The official encoder uses eps 1e-6 everywhere; the patch embedding's norm follows
    norm_cfg (it was fixed to the host default 1e-5)."""
    official = GreenMIMSwin(arch=TINY, img_size=64, window_size=2,
                            norm_cfg=dict(type='LN', eps=1e-6))
    norms = [m for m in official.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert official.patch_embed.norm in norms
    assert len(norms) == 1 + 2 * 8 + 3 + 1  # patch embed, 2 per block, 3 mergings, norm3
    assert {m.eps for m in norms} == {1e-6}
    host = GreenMIMSwin(arch=TINY, img_size=64, window_size=2)
    assert {m.eps for m in host.modules() if isinstance(m, torch.nn.LayerNorm)} == {1e-5}
    # patch_cfg's own norm_cfg still wins for the patch embedding
    mixed = GreenMIMSwin(arch=TINY, img_size=64, window_size=2, norm_cfg=dict(type='LN', eps=1e-6),
                         patch_cfg=dict(norm_cfg=dict(type='LN', eps=1e-3)))
    assert mixed.patch_embed.norm.eps == 1e-3


def test_greenmim_base_config_uses_the_official_eps(repo_root):
    from mmengine.config import Config
    cfg = Config.fromfile(f'{repo_root}/configs/greenmim/'
                          'greenmim_swin-base-w7_8xb256-amp-coslr-800e_in1k.py')
    assert cfg.model.backbone.norm_cfg == dict(type='LN', eps=1e-6)
    assert cfg.model.neck.norm_eps == 1e-6
    assert cfg.model.neck.sincos_order == 'mae'
