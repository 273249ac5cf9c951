"""tools/model_converters/dbp_mae_to_vit.py: a DBP-MAE checkpoint, folded and converted, loads with
strict=True into mmpretrain's and mmseg's VisionTransformer and gives the DBP encoder's features
(for mmdbp's FastMAEViT and for mmpretrain's own MAEViT)."""
import importlib.util
import os.path as osp

import pytest
import torch

from mmdbp.engine.optimizers import DBPOptimWrapper
from mmdbp.models.utils.ckpt_convert import MMSEG_VIT_KWARGS
from mmdbp.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ARCH = dict(embed_dims=24, num_layers=2, num_heads=3, feedforward_channels=48)


def load_tool():
    path = osp.join(ROOT, 'tools', 'model_converters', 'dbp_mae_to_vit.py')
    spec = importlib.util.spec_from_file_location('dbp_mae_to_vit', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_mae(encoder: str):
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    backbone = dict(type=encoder, arch=ARCH, img_size=32, patch_size=8, mask_ratio=0.5)
    neck = (dict(type='FastMAEDecoder', num_patches=16, patch_size=8, embed_dim=24,
                 decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)
            if encoder == 'FastMAEViT' else
            dict(type='MAEPretrainDecoder', num_patches=16, patch_size=8, embed_dim=24,
                 decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2))
    torch.manual_seed(0)
    model = MODELS.build(dict(type='MAE', backbone=backbone, neck=neck,
                              head=dict(type='MAEPretrainHead', patch_size=8, norm_pix=True,
                                        loss=dict(type='PixelReconstructionLoss', criterion='L2'))))
    model.init_weights()
    return model


def dbp_checkpoint(encoder: str, tmp_path):
    """Train a few DBP steps (big decor_lr, so R is far from I) and save like mmengine does."""
    model = build_mae(encoder)
    wrapper = DBPOptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3), decor_lr=0.2,
                              kappa=0.5, sample_frac=0.5, layer_types=['Linear', 'Conv2d'])
    for _ in range(4):
        with wrapper.optim_context(model):
            loss = model(torch.randn(4, 3, 32, 32), mode='loss')['loss']
        wrapper.update_params(loss)
    moved = max((layer.R - torch.eye(layer.dim)).abs().max().item()
                for layer in wrapper.decorrelator.layers.values())
    assert moved > 1e-2
    path = str(tmp_path / f'{encoder}.pth')
    torch.save(dict(state_dict=model.state_dict(), optimizer=wrapper.state_dict(),
                    meta=dict(iter=4)), path)
    return model, path


def dbp_features(model, x):
    model.eval()
    with torch.no_grad():
        return model.backbone(x, mask=None)[0]  # (B, 1 + L, C): all tokens, final norm


@pytest.mark.parametrize('encoder', ['FastMAEViT', 'MAEViT'])
def test_folded_encoder_matches_dbp_model_in_mmpretrain_and_mmseg_vit(encoder, tmp_path):
    from mmpretrain.models import VisionTransformer as PretrainViT
    from mmseg.models.backbones import VisionTransformer as SegViT
    model, src = dbp_checkpoint(encoder, tmp_path)
    x = torch.randn(2, 3, 32, 32)
    expected = dbp_features(model, x)
    tool = load_tool()

    dst = str(tmp_path / 'vit_mmpretrain.pth')
    tool.main([src, dst, '--target', 'mmpretrain'])
    ckpt = torch.load(dst, map_location='cpu', weights_only=False)
    assert ckpt['meta']['dbp_folded_layers'] == 4 * ARCH['num_layers'] + 1
    vit = PretrainViT(arch=ARCH, img_size=32, patch_size=8, out_type='raw')
    vit.eval()
    vit.load_state_dict(ckpt['state_dict'], strict=True)
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[0], expected, atol=1e-5, rtol=1e-5)

    dst = str(tmp_path / 'vit_mmseg.pth')
    tool.main([src, dst, '--target', 'mmseg'])
    state = torch.load(dst, map_location='cpu', weights_only=False)['state_dict']
    seg = SegViT(img_size=32, patch_size=8, embed_dims=24, num_layers=2, num_heads=3,
                 mlp_ratio=2, out_indices=(1, ), qkv_bias=True, with_cls_token=True,
                 **MMSEG_VIT_KWARGS)
    seg.eval()
    seg.load_state_dict(state, strict=True)
    with torch.no_grad():
        featmap = seg(x)[0]  # (B, C, 4, 4) patch tokens
    torch.testing.assert_close(featmap.flatten(2).transpose(1, 2), expected[:, 1:],
                               atol=1e-5, rtol=1e-5)

    # the saved state dict is folded already (a plain mmpretrain ViT may load it directly); the
    # unfolded W kept for resuming gives other features: the test sees a missing fold
    saved = torch.load(src, weights_only=False)
    assert saved['optimizer']['dbp']['state_dict_folded']
    direct = tool.convert_dbp_mae(dict(state_dict=saved['state_dict']), 'mmpretrain')[0]
    vit.load_state_dict(direct, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[0], expected, atol=1e-5, rtol=1e-5)
    raw = dict(saved['state_dict'])
    raw.update({f'{name}.weight': w for name, w in saved['optimizer']['dbp']['weights'].items()})
    vit.load_state_dict(tool.convert_dbp_mae(dict(state_dict=raw), 'mmpretrain')[0], strict=True)
    with torch.no_grad():
        assert (vit(x)[0] - expected).abs().max() > 1e-3


def test_checkpoint_with_unfolded_state_dict_is_folded(tmp_path):
    """Checkpoints from before the state dict was saved folded (unfolded W in ``state_dict``, no
    ``state_dict_folded`` flag) are folded by the tool."""
    model, src = dbp_checkpoint('FastMAEViT', tmp_path)
    x = torch.randn(2, 3, 32, 32)
    expected = dbp_features(model, x)
    saved = torch.load(src, weights_only=False)
    dbp = saved['optimizer']['dbp']
    saved['state_dict'].update({f'{n}.weight': w for n, w in dbp.pop('weights').items()})
    del dbp['state_dict_folded']
    state, folded = load_tool().convert_dbp_mae(saved, 'mmdbp')
    assert folded == len(dbp['R'])
    name = 'backbone.blocks.0.attn.qkv'
    W = saved['state_dict'][f'{name}.weight']
    torch.testing.assert_close(state['blocks.0.attn.qkv.weight'], W @ dbp['R'][name])
    fresh = build_mae('FastMAEViT')
    fresh.backbone.load_state_dict(state, strict=True)
    torch.testing.assert_close(dbp_features(fresh, x), expected, atol=1e-5, rtol=1e-5)


def test_full_fold_is_a_plain_mae_checkpoint(tmp_path):
    model, src = dbp_checkpoint('FastMAEViT', tmp_path)
    x = torch.randn(2, 3, 32, 32)
    expected = dbp_features(model, x)
    dst = str(tmp_path / 'full.pth')
    load_tool().main([src, dst, '--full'])
    plain = build_mae('FastMAEViT')
    plain.eval()
    plain.load_state_dict(torch.load(dst, weights_only=False)['state_dict'], strict=True)
    with torch.no_grad():
        torch.testing.assert_close(plain.backbone(x, mask=None)[0], expected, atol=1e-5, rtol=1e-5)


def test_baseline_checkpoint_converts_without_folding_and_errors(tmp_path):
    model = build_mae('FastMAEViT')
    path = str(tmp_path / 'mae.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    tool = load_tool()
    state, folded = tool.convert_dbp_mae(torch.load(path, weights_only=False), 'mmdbp')
    assert folded == 0
    assert torch.equal(state['blocks.0.attn.qkv.weight'],
                       model.state_dict()['backbone.blocks.0.attn.qkv.weight'])
    with pytest.raises(KeyError, match='no weights under'):
        tool.convert_dbp_mae(dict(state_dict=model.state_dict()), 'mmseg', prefix='encoder.')
