"""MIRLViT: analytic parameter counts of the deep ViTs, segmentation rules, outputs."""
import pytest
import torch

from mmdbp.models.backbones import FastVisionTransformer, MIRLViT
from mmdbp.models.backbones.mirl_vit import equal_segment_ends


def analytic_vit_params(dim: int, depth: int, patch: int, img: int = 224, in_ch: int = 3,
                        mlp_ratio: int = 4) -> int:
    """Parameters of a plain ViT, all of them (the fixed sin-cos pos_embed is an nn.Parameter
    in the state dict, so it counts; it is simply not trainable)."""
    num_patches = (img // patch)**2
    patch_embed = in_ch * patch * patch * dim + dim  # conv weight + bias
    cls_token = dim
    pos_embed = (num_patches + 1) * dim
    hidden = mlp_ratio * dim
    block = (2 * dim  # norm1
             + dim * 3 * dim + 3 * dim  # qkv
             + dim * dim + dim  # proj
             + 2 * dim  # norm2
             + dim * hidden + hidden  # fc1
             + hidden * dim + dim)  # fc2
    final_norm = 2 * dim
    return patch_embed + cls_token + pos_embed + depth * block + final_norm


def count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.fixture
def on_meta_device(monkeypatch):
    """Build the 100-340 M parameter models without allocating or initialising them: shapes
    are all a parameter count needs. (The drop-path schedule is computed with ``linspace``
    ``.tolist()``, which needs real values: keep that one on the CPU.)"""
    linspace = torch.linspace
    monkeypatch.setattr(torch, 'linspace', lambda *a, **k: linspace(*a, **{**k, 'device': 'cpu'}))
    with torch.device('meta'):
        yield


@pytest.mark.parametrize('arch,dim,depth', [('small-54', 384, 54), ('base-48', 768, 48)])
def test_deep_vit_param_count_is_analytic(arch, dim, depth, on_meta_device):
    vit = FastVisionTransformer(arch=arch, img_size=224, patch_size=16)
    assert count(vit) == analytic_vit_params(dim, depth, 16)
    # MIRL pre-training adds 5 segment LayerNorms and the low_feat LayerNorm (2 C each).
    mirl = MIRLViT(arch=arch, img_size=224, patch_size=16)
    assert count(mirl) == analytic_vit_params(dim, depth, 16) + 6 * 2 * dim
    # Only the fixed position embedding is frozen.
    frozen = sum(p.numel() for p in mirl.parameters() if not p.requires_grad)
    assert frozen == 197 * dim
    assert len(mirl.blocks) == depth and mirl.num_heads == 12


def test_known_totals():
    # Independent anchor: timm's vit_base_patch16_224 has 86,567,656 parameters including its
    # 1000-class head (768 * 1000 + 1000).
    assert analytic_vit_params(768, 12, 16) + 768 * 1000 + 1000 == 86_567_656
    # ViT-S-54 ~ 96.2 M and ViT-B-48 ~ 341 M (the paper: same cost as ViT-B / ViT-L level).
    assert analytic_vit_params(384, 54, 16) == 96_193_152
    assert analytic_vit_params(768, 48, 16) == 340_962_048


def test_equal_segments_match_official_split():
    assert equal_segment_ends(54, 6) == [8, 17, 26, 35, 44, 53]
    assert equal_segment_ends(48, 6) == [7, 15, 23, 31, 39, 47]
    vit = MIRLViT(arch=dict(embed_dims=16, num_layers=12, num_heads=2, feedforward_channels=32),
                  img_size=16, patch_size=4, num_segments=4)
    assert vit.segment_ends == (2, 5, 8, 11)


def tiny(**kw):
    arch = dict(embed_dims=16, num_layers=6, num_heads=2, feedforward_channels=32)
    return MIRLViT(arch=arch, img_size=16, patch_size=4, **kw)


def test_segment_ends_config_errors():
    with pytest.raises(ValueError, match='out of range'):
        tiny(segment_ends=[1, 3, 6])
    with pytest.raises(ValueError, match='out of range'):
        tiny(segment_ends=[-1, 3])
    with pytest.raises(ValueError, match='strictly increasing'):
        tiny(segment_ends=[3, 1])
    with pytest.raises(ValueError, match='strictly increasing'):
        tiny(segment_ends=[1, 1, 3])
    with pytest.raises(ValueError, match='even number of segments'):
        tiny(segment_ends=[1, 3])  # + the final block = 3 segments
    with pytest.raises(ValueError, match='even number of segments'):
        tiny(num_segments=3)
    with pytest.raises(ValueError, match='equal segments'):
        tiny(num_segments=4)  # 6 blocks
    with pytest.raises(ValueError, match='final_norm=True'):
        tiny(final_norm=False)
    # Without a cls token the decoders would take the first visible patch for it.
    with pytest.raises(ValueError, match='with_cls_token=True'):
        tiny(with_cls_token=False)
    # The final block may be listed or left out.
    assert tiny(segment_ends=[0, 2, 4]).segment_ends == (0, 2, 4, 5)
    assert tiny(segment_ends=[0, 5]).segment_ends == (0, 5)


def test_forward_segments_match_a_manual_pass():
    torch.manual_seed(0)
    vit = tiny(segment_ends=[0, 2, 4], mask_ratio=0.5).eval()
    vit.init_weights()
    x = torch.randn(2, 3, 16, 16)
    torch.manual_seed(1)
    out = vit(x)
    assert len(out.segment_feats) == 4
    assert out.mask.shape == (2, 16) and out.mask.sum().item() == 16
    assert out.low_feat.shape == (2, 1 + 8, 16)

    # Manual pass with the same noise: visible tokens chosen by the returned mask.
    tokens = vit.patch_embed(x)[0] + vit.pos_embed[:, 1:]
    kept = torch.stack([tokens[b][out.mask[b] == 0] for b in range(2)])  # patch order
    # random_masking keeps tokens in shuffle order: reorder by ids_restore rank.
    order = [torch.argsort(out.ids_restore[b][out.mask[b] == 0]) for b in range(2)]
    kept = torch.stack([kept[b][order[b]] for b in range(2)])
    h = torch.cat([(vit.cls_token + vit.pos_embed[:, :1]).expand(2, -1, -1), kept], 1)
    torch.testing.assert_close(out.low_feat, vit.norm_low(h))
    norms = [*vit.segment_norms, vit.norm]
    expected, s = [], 0
    for i, blk in enumerate(vit.blocks):
        h = blk(h)
        if i in (0, 2, 4, 5):
            expected.append(norms[s](h))
            s += 1
    for got, want in zip(out.segment_feats, expected):
        torch.testing.assert_close(got, want)


def test_unmasked_forward_is_the_plain_vit():
    torch.manual_seed(0)
    vit = tiny(segment_ends=[2]).eval()
    plain = FastVisionTransformer(
        arch=dict(embed_dims=16, num_layers=6, num_heads=2, feedforward_channels=32),
        img_size=16, patch_size=4, out_type='raw', pos_embed_type='sincos').eval()
    plain.load_state_dict(vit.state_dict(), strict=False)
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(vit(x, mask=None)[0], plain(x)[0])
    with pytest.raises(ValueError, match='img_size'):
        vit(torch.randn(1, 3, 32, 32))
