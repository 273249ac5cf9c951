"""Key mapping of convert_vit / extract_backbone (behavioural equivalence is tested in
tests/test_models/test_backbones/test_vit.py by loading into the host ViTs)."""
import pytest
import torch

from mmdbp.models.utils import convert_vit, extract_backbone


def test_key_mapping_for_both_targets():
    sd = {k: torch.zeros(1) for k in [
        'cls_token', 'pos_embed', 'patch_embed.projection.weight', 'blocks.10.norm1.weight',
        'blocks.10.attn.qkv.weight', 'blocks.10.attn.qkv.bias', 'blocks.10.attn.proj.bias',
        'blocks.10.norm2.bias', 'blocks.10.mlp.fc1.weight', 'blocks.10.mlp.fc2.bias',
        'norm.weight', 'norm_avg.bias']}
    assert list(convert_vit(sd, 'mmpretrain')) == [
        'cls_token', 'pos_embed', 'patch_embed.projection.weight', 'layers.10.ln1.weight',
        'layers.10.attn.qkv.weight', 'layers.10.attn.qkv.bias', 'layers.10.attn.proj.bias',
        'layers.10.ln2.bias', 'layers.10.ffn.layers.0.0.weight', 'layers.10.ffn.layers.1.bias',
        'ln1.weight', 'ln2.bias']
    assert list(convert_vit(sd, 'mmseg')) == [
        'cls_token', 'pos_embed', 'patch_embed.projection.weight', 'layers.10.ln1.weight',
        'layers.10.attn.attn.in_proj_weight', 'layers.10.attn.attn.in_proj_bias',
        'layers.10.attn.attn.out_proj.bias', 'layers.10.ln2.bias',
        'layers.10.ffn.layers.0.0.weight', 'layers.10.ffn.layers.1.bias', 'ln1.weight']


def test_mmseg_gets_a_cls_slot_when_the_source_has_none():
    pos = torch.randn(1, 4, 6)
    out = convert_vit({'pos_embed': pos}, 'mmseg')
    assert out['cls_token'].shape == (1, 1, 6) and not out['cls_token'].any()
    assert torch.equal(out['pos_embed'][:, 1:], pos) and not out['pos_embed'][:, 0].any()
    assert 'cls_token' not in convert_vit({'pos_embed': pos}, 'mmpretrain')


def test_unknown_keys_and_targets():
    sd = {'blocks.0.norm1.weight': torch.zeros(1), 'decoder.fc.weight': torch.zeros(1)}
    assert list(convert_vit(sd)) == ['layers.0.ln1.weight']
    with pytest.raises(KeyError,
                       match=r"No mmseg name for these ViT keys: \['decoder.fc.weight'\]"):
        convert_vit(sd, 'mmseg', drop_unknown=False)
    with pytest.raises(ValueError, match="target must be one of .* got 'timm'"):
        convert_vit(sd, 'timm')


def test_extract_backbone():
    sd = {'backbone.pos_embed': 1, 'neck.mask_token': 2, 'backbone.blocks.0.norm1.weight': 3}
    assert extract_backbone(sd) == {'pos_embed': 1, 'blocks.0.norm1.weight': 3}
