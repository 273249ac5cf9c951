"""Token-pruning ViTs as mmseg backbones: keep 1.0 == mmseg's own ViT (same weights, also with
corner padding), pruned tokens keep the feature they had when pruned, full-resolution maps in
training and inference."""
import pytest
import torch
import torch.nn.functional as F
from mmseg.models.backbones import VisionTransformer as SegViT

from mmdbp.models.backbones import DynamicViTSeg, EViTSeg
from mmdbp.models.utils import convert_vit

ARCH = dict(embed_dims=32, num_layers=6, num_heads=4, feedforward_channels=64)
SMALL = dict(arch=ARCH, img_size=32, patch_size=8, out_indices=(0, 2, 3, 5),
             pruning_locs=(1, 3, 4))
BACKBONES = {
    'dynamicvit': lambda keep, **kw: DynamicViTSeg(keep_ratio=keep, **{**SMALL, **kw}),
    'evit': lambda keep, **kw: EViTSeg(keep_rate=keep, **{**SMALL, **kw}),
}


def mmseg_vit(model):
    ref = SegViT(img_size=32, patch_size=8, embed_dims=32, num_layers=6, num_heads=4,
                 mlp_ratio=2, out_indices=list(SMALL['out_indices']), patch_bias=True,
                 norm_cfg=dict(type='LN', eps=1e-6), final_norm=True)
    dense = {k: v for k, v in model.state_dict().items() if not k.startswith('predictors')}
    ref.load_state_dict(convert_vit(dense, 'mmseg'), strict=True)
    ref.eval()
    return ref


@pytest.mark.parametrize('name', list(BACKBONES))
@pytest.mark.parametrize('size', [(32, 32), (36, 44)])  # 36 x 44: corner-padded to 40 x 48
def test_keep_one_reproduces_the_dense_vit_feature_maps(name, size, perturbed):
    model = perturbed(BACKBONES[name](1.0)).eval()
    ref = mmseg_vit(model)
    x = torch.randn(2, 3, *size)
    outs, refs = model(x), ref(x)
    assert len(outs) == len(refs) == 4
    for o, r in zip(outs, refs):
        assert o.shape == (2, 32, -(-size[0] // 8), -(-size[1] // 8))
        torch.testing.assert_close(o, r, rtol=1e-4, atol=1e-4)


def capture_before_pruning(model, stage_block):
    """Features of every token at the moment it can be pruned at ``stage_block``: the previous
    block's output for DynamicViT (it prunes before the block), the state after the attention
    residual for EViT (it reorganises inside the block)."""
    store = {}
    if isinstance(model, EViTSeg):
        blk = model.blocks[stage_block]

        def hook(module, args):
            x = args[0]
            normed = F.layer_norm(x, x.shape[-1:], blk.norm1.weight, blk.norm1.bias,
                                  blk.norm1.eps)  # not blk.norm1: this hook sits on it
            store['tokens'] = (x + blk.attn(normed))[:, 1:].detach().clone()

        return store, blk.norm1.register_forward_pre_hook(hook)

    def hook(module, args, out):
        store['tokens'] = out[:, 1:].detach().clone()

    return store, model.blocks[stage_block - 1].register_forward_hook(hook)


@pytest.mark.parametrize('name', list(BACKBONES))
def test_pruned_positions_keep_their_feature_from_when_they_were_pruned(name, perturbed):
    model = perturbed(BACKBONES[name](0.5, pruning_locs=(2, ), out_indices=(3, 5))).eval()
    store, handle = capture_before_pruning(model, 2)
    x = torch.randn(2, 3, 32, 32)
    outs = model(x)
    handle.remove()
    before = store['tokens']  # B, 16, C in patch order (nothing pruned before block 2)
    for level in outs:
        assert level.shape == (2, 32, 4, 4)
        grid = level.flatten(2).transpose(1, 2)  # B, 16, C
        if level is outs[-1]:  # the last level is normalised, stale features included
            before_level = model.norm(before)
        else:
            before_level = before
        same = torch.isclose(grid, before_level, rtol=1e-5, atol=1e-6).all(-1)  # B, 16
        # exactly the 8 pruned positions (rate 0.5 of 16) still hold their old feature; the
        # 8 kept ones were processed further
        assert same.sum(1).tolist() == [8, 8]


def test_dynamicvit_training_maps_are_full_resolution_with_stale_pruned_tokens(perturbed):
    torch.manual_seed(0)
    model = perturbed(BACKBONES['dynamicvit'](0.5, pruning_locs=(2, ), out_indices=(1, 3))).train()
    outs, aux = model.forward_with_aux(torch.randn(2, 3, 32, 32))
    block1, after = (o.flatten(2).transpose(1, 2) for o in outs)
    pruned = aux['keep_decisions'][0] == 0  # B, 16
    assert pruned.any()
    torch.testing.assert_close(after[pruned], block1[pruned])  # the output of block 1
    assert not torch.isclose(after[~pruned], block1[~pruned]).all()
    (outs[-1].sum() + aux['keep_decisions'][0].sum()).backward()
    assert all(p.grad is not None for p in model.predictors.parameters())


@pytest.mark.parametrize('name', list(BACKBONES))
def test_padding_matches_explicit_zero_padding(name, perturbed):
    model = perturbed(BACKBONES[name](0.7)).eval()
    x = torch.randn(1, 3, 36, 44)
    padded = F.pad(x, (0, 4, 0, 4))
    for a, b in zip(model(x), model(padded)):
        torch.testing.assert_close(a, b)
