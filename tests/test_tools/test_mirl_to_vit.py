"""tools/model_converters/mirl_to_vit.py: the converted encoder loads with strict=True into
mmpretrain's and mmseg's VisionTransformer and gives the MIRL encoder's features."""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdbp.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ARCH = dict(embed_dims=24, num_layers=6, num_heads=3, feedforward_channels=96)


def load_tool():
    path = osp.join(ROOT, 'tools', 'model_converters', 'mirl_to_vit.py')
    spec = importlib.util.spec_from_file_location('mirl_to_vit', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def mirl_ckpt(tmp_path_factory):
    cfg = Config(dict(model=dict(
        type='MIRL',
        backbone=dict(type='MIRLViT', arch=ARCH, img_size=32, patch_size=8, num_segments=2),
        neck=dict(type='MIRLMultiDecoder', num_segments=2, num_patches=16, patch_size=8,
                  embed_dim=24, decoder_embed_dim=16, decoder_num_heads=2),
        head=dict(type='MIRLPretrainHead', patch_size=8))))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():  # non-trivial norms and biases, so a wrong mapping shows
        for name, p in model.named_parameters():
            p.add_(torch.randn_like(p) * 0.05)
    path = tmp_path_factory.mktemp('mirl') / 'epoch_1.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(cfg=cfg.pretty_text)), path)
    return model.backbone.eval(), str(path)


def test_mmpretrain_vit_strict_and_same_features(mirl_ckpt, tmp_path):
    from mmpretrain.models import VisionTransformer
    encoder, src = mirl_ckpt
    dst = str(tmp_path / 'vit.pth')
    arch = load_tool().main([src, dst, '--target', 'mmpretrain'])
    assert arch == ARCH  # heads read from the stored config
    ckpt = torch.load(dst, map_location='cpu')
    assert ckpt['meta']['arch'] == ARCH
    assert not any(k.startswith(('segment_norms', 'norm_low', 'decoders')) for k in
                   ckpt['state_dict'])
    vit = VisionTransformer(arch=ckpt['meta']['arch'], img_size=32, patch_size=8,
                            out_type='raw')
    vit.eval()
    vit.load_state_dict(ckpt['state_dict'], strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[0], encoder(x, mask=None)[0], atol=1e-5, rtol=1e-5)


def test_mmseg_vit_strict_and_same_features(mirl_ckpt, tmp_path):
    from mmseg.models.backbones import VisionTransformer
    encoder, src = mirl_ckpt
    dst = str(tmp_path / 'vit_seg.pth')
    load_tool().main([src, dst, '--target', 'mmseg', '--num-heads', '3'])
    ckpt = torch.load(dst, map_location='cpu')
    vit = VisionTransformer(img_size=32, patch_size=8, embed_dims=24, num_layers=6, num_heads=3,
                            mlp_ratio=4, qkv_bias=True, patch_bias=True, final_norm=True,
                            out_indices=5, norm_cfg=dict(type='LN', eps=1e-6))
    vit.eval()  # mmseg's ViT.train() returns None
    vit.load_state_dict(ckpt['state_dict'], strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ours = encoder(x, mask=None)[0][:, 1:]  # B, 16, C
        theirs = vit(x)[0].flatten(2).transpose(1, 2)
    torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=1e-5)


def test_missing_heads_is_a_clear_error(mirl_ckpt, tmp_path):
    _, src = mirl_ckpt
    ckpt = torch.load(src, map_location='cpu')
    bare = str(tmp_path / 'bare.pth')
    torch.save(dict(state_dict=ckpt['state_dict']), bare)
    with pytest.raises(ValueError, match='--num-heads'):
        load_tool().main([bare, str(tmp_path / 'x.pth')])


def test_dbp_matrices_are_folded(mirl_ckpt, tmp_path):
    _, src = mirl_ckpt
    ckpt = torch.load(src, map_location='cpu')
    R = torch.eye(24) + 0.1 * torch.randn(24, 24)
    ckpt['optimizer'] = dict(state={}, param_groups=[],
                             dbp=dict(R={'backbone.blocks.2.mlp.fc1': R}, num_updates=1))
    dbp_src = str(tmp_path / 'dbp.pth')
    torch.save(ckpt, dbp_src)
    dst = str(tmp_path / 'vit.pth')
    load_tool().main([dbp_src, dst])
    out = torch.load(dst, map_location='cpu')
    assert out['meta']['dbp_folded_layers'] == 1
    W = ckpt['state_dict']['backbone.blocks.2.mlp.fc1.weight']
    torch.testing.assert_close(out['state_dict']['layers.2.ffn.layers.0.0.weight'], W @ R)
    torch.testing.assert_close(out['state_dict']['layers.1.ffn.layers.0.0.weight'],
                               ckpt['state_dict']['backbone.blocks.1.mlp.fc1.weight'])
