"""GreenMIM checkpoint conversion to mmpretrain's / mmseg's Swin layout."""
import re

import pytest
import torch
from mmpretrain.models.backbones import SwinTransformer as MMPretrainSwin
from mmseg.models.backbones import SwinTransformer as MMSegSwin

from mmdbp.models.backbones import GreenMIMSwin
from mmdbp.models.utils.greenmim_ckpt_convert import (convert_greenmim_to_swin,
                                                      resize_relative_position_bias_table)

TINY = dict(embed_dims=8, depths=[2, 2, 2, 2], num_heads=[2, 2, 4, 4])


def randomised(model):
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3 + (p.dim() == 1) * 0.5)
    return model


def dense_outputs(model, x):
    model.double().eval()  # (the host Swins' train() returns None: no chaining)
    with torch.no_grad():
        return model(x, mask=None) if isinstance(model, GreenMIMSwin) else model(x)


def test_swin_merge_order_is_permuted_to_unfold():
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    official_order = randomised(GreenMIMSwin(arch=TINY, img_size=64, window_size=2,
                                             merge_order='swin', out_indices=(0, 1, 2, 3)))
    ckpt = {f'backbone.{k}': v for k, v in official_order.state_dict().items()}
    ckpt['neck.decoder_embed.weight'] = torch.zeros(1)
    weights = convert_greenmim_to_swin(ckpt, merge_order='swin')
    ref = MMPretrainSwin(arch=TINY, img_size=64, window_size=2, out_indices=(0, 1, 2, 3),
                         drop_path_rate=0.)
    ref.load_state_dict(weights, strict=True)
    for a, b in zip(dense_outputs(official_order, x), dense_outputs(ref, x)):
        torch.testing.assert_close(a, b)


def test_official_checkpoint_layout():
    """Rename our weights to the official timm-style names, convert back, compare."""
    ours = randomised(GreenMIMSwin(arch=TINY, img_size=64, window_size=2, merge_order='swin'))
    official = {}
    for k, v in ours.state_dict().items():
        k = re.sub(r'^stages\.', 'layers.', k)
        k = k.replace('attn.w_msa.', 'attn.').replace('ffn.layers.0.0.', 'mlp.fc1.')
        k = k.replace('ffn.layers.1.', 'mlp.fc2.').replace('patch_embed.projection.',
                                                            'patch_embed.proj.')
        k = k.replace('norm3.', 'norm.')
        official[f'encoder.{k}'] = v
    official['decoder_pred.weight'] = torch.zeros(1)
    weights = convert_greenmim_to_swin(official)
    expected = convert_greenmim_to_swin(ours.state_dict(), merge_order='swin')
    assert weights.keys() == expected.keys()
    for k in weights:
        torch.testing.assert_close(weights[k], expected[k])


def test_window_resize_loads_strictly_and_matches_mmseg_resizing(tmp_path):
    ours = randomised(GreenMIMSwin(arch=TINY, img_size=64, patch_size=2, window_size=2))
    ckpt = {f'backbone.{k}': v for k, v in ours.state_dict().items()}
    weights = convert_greenmim_to_swin(ckpt, window_size=4)
    # mmpretrain Swin with window 4 (all stages larger than 4 except the last, 4x4)
    ref = MMPretrainSwin(arch=TINY, img_size=64, patch_size=2, window_size=4)
    ref.load_state_dict(weights, strict=True)
    # mmseg resizes the tables itself when loading a pre-trained checkpoint (but keeps the
    # index buffers, so they must be absent): same tables
    path = tmp_path / 'ckpt.pth'
    torch.save({'state_dict': {k: v for k, v in ckpt.items() if 'position_index' not in k}},
               path)
    seg = MMSegSwin(embed_dims=8, depths=[2, 2, 2, 2], num_heads=[2, 2, 4, 4], patch_size=2,
                    strides=(2, 2, 2, 2), window_size=4,
                    init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    seg.init_weights()
    seg_state = seg.state_dict()
    for k, v in weights.items():
        if k.endswith('relative_position_bias_table'):
            assert v.shape == (49, seg_state[k].shape[1])
            torch.testing.assert_close(v, seg_state[k])


def test_resize_identity_and_errors():
    table = torch.randn(9, 2)
    assert resize_relative_position_bias_table(table, 2) is table
    with pytest.raises(ValueError, match='not a square number'):
        resize_relative_position_bias_table(torch.randn(8, 2), 3)
    with pytest.raises(ValueError, match='No Swin encoder weights'):
        convert_greenmim_to_swin({'neck.x': torch.zeros(1)})
    with pytest.raises(ValueError, match='one value per stage'):
        convert_greenmim_to_swin(GreenMIMSwin(arch=TINY, img_size=64, window_size=2).state_dict(),
                                 window_size=[2, 2])
