"""The official MAE release (facebookresearch/mae ``mae_pretrain_vit_base.pth``) in mmdbp's ViT.

The state dict is laid out as the release (``{'model': ...}``; ``cls_token``, ``pos_embed``,
``patch_embed.proj``, ``blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``,
``norm``) at a tiny size, and the official encoder (``models_mae.MaskedAutoencoderViT`` on timm's
``Block``, LayerNorm eps 1e-6) is transcribed below in float64, independently of mmdbp's blocks.
"""
import pytest
import torch
import torch.nn.functional as F
from shared_helpers import load_tool, official_sincos_2d

from mmdbp.models.backbones import FastMAEViT, FastVisionTransformer

C, DEPTH, HEADS, P, IMG = 16, 2, 2, 4, 16
ARCH = dict(embed_dims=C, num_layers=DEPTH, num_heads=HEADS, feedforward_channels=4 * C)


def official_table(dim, grid):
    """get_2d_sincos_pos_embed(dim, grid, cls_token=True) of mae/util/pos_embed.py."""
    return torch.from_numpy(official_sincos_2d(dim, grid, cls_token=True)[None]).float()


def official_release(seed=0):
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, mean=0., std=0.3):
        return torch.randn(*shape, generator=g) * std + mean

    model = {'cls_token': rand(1, 1, C, std=0.02), 'pos_embed': official_table(C, IMG // P),
             'patch_embed.proj.weight': rand(C, 3, P, P), 'patch_embed.proj.bias': rand(C)}
    for i in range(DEPTH):
        b = f'blocks.{i}'
        for name, shape in [('attn.qkv', (3 * C, C)), ('attn.proj', (C, C)),
                            ('mlp.fc1', (4 * C, C)), ('mlp.fc2', (C, 4 * C))]:
            model[f'{b}.{name}.weight'] = rand(*shape)
            model[f'{b}.{name}.bias'] = rand(shape[0], std=0.1)
        for name in ('norm1', 'norm2'):
            model[f'{b}.{name}.weight'] = rand(C, mean=1., std=0.1)
            model[f'{b}.{name}.bias'] = rand(C, std=0.1)
    model['norm.weight'] = rand(C, mean=1., std=0.1)
    model['norm.bias'] = rand(C, std=0.1)
    return {'model': model}


def official_encoder(w, imgs, ids_keep=None):
    """MaskedAutoencoderViT.forward_encoder (ids_keep given) or the plain ViT (None)."""
    w = {k: v.double() for k, v in w.items()}

    def ln(x, name):
        return F.layer_norm(x, (C, ), w[f'{name}.weight'], w[f'{name}.bias'], 1e-6)

    def lin(x, name):
        return F.linear(x, w[f'{name}.weight'], w[f'{name}.bias'])

    x = F.conv2d(imgs, w['patch_embed.proj.weight'], w['patch_embed.proj.bias'], stride=P)
    x = x.flatten(2).transpose(1, 2) + w['pos_embed'][:, 1:, :]
    B = x.shape[0]
    if ids_keep is not None:
        x = torch.gather(x, 1, ids_keep[..., None].repeat(1, 1, C))
    x = torch.cat([(w['cls_token'] + w['pos_embed'][:, :1]).expand(B, -1, -1), x], dim=1)
    for i in range(DEPTH):
        b = f'blocks.{i}'
        y = ln(x, f'{b}.norm1')
        N = y.shape[1]
        qkv = lin(y, f'{b}.attn.qkv').reshape(B, N, 3, HEADS, C // HEADS).permute(2, 0, 3, 1, 4)
        a = (qkv[0] @ qkv[1].transpose(-2, -1) * (C // HEADS)**-0.5).softmax(-1)
        x = x + lin((a @ qkv[2]).transpose(1, 2).reshape(B, N, C), f'{b}.attn.proj')
        x = x + lin(F.gelu(lin(ln(x, f'{b}.norm2'), f'{b}.mlp.fc1')), f'{b}.mlp.fc2')
    return ln(x, 'norm')


def imgs():
    return torch.randn(2, 3, IMG, IMG, generator=torch.Generator().manual_seed(3),
                       dtype=torch.float64)


@pytest.mark.parametrize('sincos_order', ['mmpretrain', 'mae'])
def test_release_loads_strictly_and_computes_the_official_encoder(sincos_order):
    """Whatever table mmdbp would build, the released (official-order) table is loaded."""
    release = official_release()
    vit = FastVisionTransformer(ARCH, img_size=IMG, patch_size=P, out_type='raw',
                                pos_embed_type='sincos', sincos_order=sincos_order)
    vit.init_weights()
    vit.load_state_dict(dict(release['model']), strict=True)
    torch.testing.assert_close(vit.pos_embed.data, release['model']['pos_embed'])
    vit.double().eval()
    with torch.no_grad():
        out = vit(imgs())[0]
        ref = official_encoder(release['model'], imgs())
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)


def test_release_in_fast_mae_vit_masked_forward():
    release = official_release()
    mae = FastMAEViT(ARCH, img_size=IMG, patch_size=P, mask_ratio=0.75)
    mae.load_state_dict(dict(release['model']), strict=True)
    mae.double().eval()
    torch.manual_seed(0)
    with torch.no_grad():
        latent, mask, ids_restore = mae(imgs())
        ids_keep = torch.argsort(ids_restore, dim=1)[:, :int((IMG // P)**2 * 0.25)]
        ref = official_encoder(release['model'], imgs(), ids_keep)
    torch.testing.assert_close(mask.sum(1), torch.full((2, ), 12., dtype=mask.dtype))
    torch.testing.assert_close(latent, ref, rtol=0, atol=1e-12)


def test_vit_to_mmdbp_tool_converts_the_release(tmp_path):
    tool = load_tool('model_converters/vit_to_mmdbp.py')
    release = official_release()
    src, dst = str(tmp_path / 'mae_pretrain_vit_tiny.pth'), str(tmp_path / 'out.pth')
    torch.save(release, src)
    tool.main([src, dst])
    state = torch.load(dst, map_location='cpu', weights_only=True)['state_dict']
    assert all(k.startswith('backbone.') for k in state)
    vit = FastVisionTransformer(ARCH, img_size=IMG, patch_size=P, out_type='raw')
    vit.load_state_dict({k[len('backbone.'):]: v for k, v in state.items()}, strict=True)
    vit.double().eval()
    with torch.no_grad():
        torch.testing.assert_close(vit(imgs())[0], official_encoder(release['model'], imgs()),
                                   rtol=0, atol=1e-12)
