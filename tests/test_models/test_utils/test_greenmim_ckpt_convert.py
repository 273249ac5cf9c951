"""GreenMIM checkpoint conversion to mmpretrain's / mmseg's Swin layout."""
import re

import pytest
import torch
from mmpretrain.models.backbones import SwinTransformer as MMPretrainSwin
from mmseg.models.backbones import SwinTransformer as MMSegSwin
from shared_helpers import load_tool, official_sincos_2d

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


# ---------------------------------------------------------------- official full model (decoder)
def official_2d(dim, grid):
    """get_2d_sincos_pos_embed(dim, grid) of the official util/pos_embed.py (MAE's, copied
    into GreenMIM): the column code (meshgrid's first array) fills the first half."""
    return torch.from_numpy(official_sincos_2d(dim, grid)).float()[None]


def official_decoder_state(C=16, D=32, heads=2, unit=2, grid=3, seed=0):
    """Decoder keys and shapes of the official MaskedAutoencoder (modeling/base_green_models.py,
    timm Block names), with the official get_2d_sincos_pos_embed table (column code first)."""
    g = torch.Generator().manual_seed(seed)
    st = {'decoder_embed.weight': torch.randn(D, C, generator=g) * 0.3,
          'decoder_embed.bias': torch.randn(D, generator=g) * 0.1,
          'mask_token': torch.randn(1, 1, D, generator=g) * 0.02,
          'decoder_pos_embed': official_2d(D, grid)}
    for name, shape in [('attn.qkv', (3 * D, D)), ('attn.proj', (D, D)), ('mlp.fc1', (4 * D, D)),
                        ('mlp.fc2', (D, 4 * D))]:
        st[f'decoder_blocks.0.{name}.weight'] = torch.randn(*shape, generator=g) * 0.3
        st[f'decoder_blocks.0.{name}.bias'] = torch.randn(shape[0], generator=g) * 0.1
    for name in ('decoder_blocks.0.norm1', 'decoder_blocks.0.norm2', 'decoder_norm'):
        st[f'{name}.weight'] = 1 + torch.randn(D, generator=g) * 0.1
        st[f'{name}.bias'] = torch.randn(D, generator=g) * 0.1
    st['decoder_pred.weight'] = torch.randn(unit * unit * 3, D, generator=g) * 0.3
    st['decoder_pred.bias'] = torch.randn(unit * unit * 3, generator=g) * 0.1
    return st


def official_forward_decoder(w, x, ids_restore, heads=2):
    """MaskedAutoencoder.forward_decoder with timm's Block (LayerNorm eps 1e-6), float64."""
    w = {k: v.double() for k, v in w.items()}
    D = w['mask_token'].shape[-1]

    def ln(t, name):
        return torch.nn.functional.layer_norm(t, (D, ), w[f'{name}.weight'], w[f'{name}.bias'],
                                              1e-6)

    def lin(t, name):
        return torch.nn.functional.linear(t, w[f'{name}.weight'], w[f'{name}.bias'])

    x = lin(x, 'decoder_embed')
    mask_tokens = w['mask_token'].repeat(x.shape[0], ids_restore.shape[1] - x.shape[1], 1)
    x_ = torch.cat([x, mask_tokens], dim=1)
    x = torch.gather(x_, 1, ids_restore.unsqueeze(-1).repeat(1, 1, D)) + w['decoder_pos_embed']
    B, N, _ = x.shape
    y = ln(x, 'decoder_blocks.0.norm1')
    qkv = lin(y, 'decoder_blocks.0.attn.qkv').reshape(B, N, 3, heads, D // heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    a = (q @ k.transpose(-2, -1) * (D // heads)**-0.5).softmax(-1)
    x = x + lin((a @ v).transpose(1, 2).reshape(B, N, D), 'decoder_blocks.0.attn.proj')
    h = torch.nn.functional.gelu(lin(ln(x, 'decoder_blocks.0.norm2'), 'decoder_blocks.0.mlp.fc1'))
    x = x + lin(h, 'decoder_blocks.0.mlp.fc2')
    return lin(ln(x, 'decoder_norm'), 'decoder_pred')


def official_model_state():
    """checkpoint['model'] of the official GreenMIM at a tiny size: timm-style encoder names
    under ``encoder.`` (Swin's merge order) and the decoder; also returns the decoder part."""
    encoder = randomised(GreenMIMSwin(arch=TINY, img_size=64, window_size=2, merge_order='swin'))
    official = {}
    for k, v in encoder.state_dict().items():
        k = re.sub(r'^stages\.', 'layers.', k).replace('attn.w_msa.', 'attn.')
        k = k.replace('ffn.layers.0.0.', 'mlp.fc1.').replace('ffn.layers.1.', 'mlp.fc2.')
        k = k.replace('patch_embed.projection.', 'patch_embed.proj.').replace('norm3.', 'norm.')
        official[f'encoder.{k}'] = v
    decoder = official_decoder_state(C=64, D=32, unit=2, grid=2)
    official.update(decoder)
    return official, decoder


def mmdbp_greenmim_parts(sincos_order='mae'):
    from mmdbp.models.necks import GreenMIMDecoder
    backbone = GreenMIMSwin(arch=TINY, img_size=64, window_size=2,
                            norm_cfg=dict(type='LN', eps=1e-6))
    neck = GreenMIMDecoder(grid_size=2, unit_size=2, embed_dims=64, decoder_embed_dims=32,
                           decoder_depth=1, decoder_num_heads=2, sincos_order=sincos_order)
    return backbone, neck


def test_official_model_converts_with_its_decoder_table_and_function():
    from mmdbp.models.utils.greenmim_ckpt_convert import convert_official_greenmim_model
    official, decoder = official_model_state()
    converted = convert_official_greenmim_model(official)
    # an mmpretrain-order decoder still computes the official function: the table is carried
    backbone, neck = mmdbp_greenmim_parts(sincos_order='mmpretrain')
    neck.init_weights()
    backbone.load_state_dict({k[9:]: v for k, v in converted.items() if k.startswith('backbone.')},
                             strict=True)
    neck.load_state_dict({k[5:]: v for k, v in converted.items() if k.startswith('neck.')},
                         strict=True)
    torch.testing.assert_close(neck.decoder_pos_embed.data, decoder['decoder_pos_embed'])
    neck.double().eval()
    mask = torch.tensor([[1., 0., 1., 0.], [0., 1., 1., 0.]])
    latent = torch.randn(2, 2, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    # the official decoder given the row-major restore that the sparse encoder's order needs
    row_major = torch.argsort(torch.argsort(mask, dim=1, stable=True), dim=1)
    with torch.no_grad():
        torch.testing.assert_close(neck(latent, mask),
                                   official_forward_decoder(decoder, latent, row_major),
                                   rtol=0, atol=1e-12)
    with pytest.raises(KeyError, match='teacher.weight'):
        convert_official_greenmim_model({**official, 'teacher.weight': torch.zeros(1)})


def test_official_checkpoint_converts_through_the_tool(tmp_path, capsys):
    tool = load_tool('model_converters/greenmim_official_to_mmdbp.py')
    official, decoder = official_model_state()
    src, dst = str(tmp_path / 'greenmim_official.pth'), str(tmp_path / 'out' / 'mmdbp.pth')
    torch.save({'model': official, 'epoch': 799}, src)
    tool.main([src, dst])
    assert f'read {len(official)} tensors, wrote {len(official)}' in capsys.readouterr().out
    state = torch.load(dst, map_location='cpu', weights_only=True)['state_dict']
    backbone, neck = mmdbp_greenmim_parts()
    backbone.load_state_dict({k[9:]: v for k, v in state.items() if k.startswith('backbone.')},
                             strict=True)
    neck.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith('neck.')},
                         strict=True)
    torch.testing.assert_close(neck.decoder_pos_embed.data, decoder['decoder_pos_embed'])


class _Payload:
    """Unpickling this creates ``path``: a file that runs code when loaded."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_release_with_training_args_converts_without_trust_pickle(tmp_path, capsys, monkeypatch):
    """Official training scripts save ``args`` (an argparse.Namespace) beside 'model': allowed
    without --trust-pickle, only inside the converter's load; code in the file is still refused."""
    import argparse
    tool = load_tool('model_converters/greenmim_official_to_mmdbp.py')
    monkeypatch.delenv('MMDBP_TRUST_PICKLE', raising=False)
    official, _ = official_model_state()
    args = argparse.Namespace(model='swin_base', input_size=224, lr=1.5e-4, betas=[0.9, 0.95],
                              resume='', norm_pix_loss=True, output_dir=None)
    src, dst = str(tmp_path / 'release.pth'), str(tmp_path / 'out.pth')
    torch.save({'model': official, 'epoch': 799, 'args': args}, src)
    tool.main([src, dst])
    assert f'read {len(official)} tensors, wrote {len(official)}' in capsys.readouterr().out
    # the allowance is scoped to the converter's load, not added process-wide
    with pytest.raises(Exception, match='Namespace'):
        torch.load(src, map_location='cpu', weights_only=True)
    marker = tmp_path / 'payload_ran'
    evil = str(tmp_path / 'evil.pth')
    torch.save({'model': official, 'args': args, 'extra': _Payload(marker)}, evil)
    with pytest.raises(SystemExit, match=r'was refused: .*--trust-pickle'):
        tool.main([evil, str(tmp_path / 'out2.pth')])
    assert not marker.exists()
