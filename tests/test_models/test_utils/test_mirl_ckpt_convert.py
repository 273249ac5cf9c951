"""Official MIRL (PaddlePaddle) checkpoints -> mmdbp's MIRL, checked against a transcription of
the official model.

The official state dict is built from the module names and shapes of ``models_mirl.MIRLViT``
and ``models/vision_transformer.py`` (russellllaputa/MIRL) at a tiny size, with Paddle's
``(in, out)`` Linear weights, and written as ``paddle.save`` writes it. The official forward is
transcribed below in float64 (``x @ W + b`` with the Paddle-layout weights), independently of
mmdbp's modules, and compared with mmdbp's MIRL on the converted weights.
"""
import argparse
import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from shared_helpers import load_tool, official_sincos_2d

from mmdbp.models.backbones import MIRLViT
from mmdbp.models.necks import MIRLMultiDecoder
from mmdbp.models.utils.mirl_ckpt_convert import convert_official_mirl
from mmdbp.models.utils.paddle_io import RefusedObject, load_paddle_pickle, read_pdparams

C, DEPTH, HEADS, D, P, IMG, S = 8, 6, 2, 8, 4, 12, 6
L = (IMG // P)**2
OUT_INDICES = [0, 1, 2, 3, 4]  # official out_indices of a 6-block, 6-segment model
EPS = 1e-6


def official_table(dim, grid):
    """get_2d_sincos_pos_embed(dim, grid, cls_token=True) of the official util/pos_embed.py."""
    return official_sincos_2d(dim, grid, cls_token=True)[None].astype(np.float32)


def official_state(seed=0):
    """Key names and Paddle shapes of models_mirl.MIRLViT (6 decoders, weight-normed heads)."""
    rng = np.random.default_rng(seed)
    st = {}

    def lin(name, i, o):
        st[f'{name}.weight'] = rng.normal(0, 0.4, (i, o)).astype(np.float32)  # Paddle (in, out)
        st[f'{name}.bias'] = rng.normal(0, 0.1, (o, )).astype(np.float32)

    def ln(name, n):
        st[f'{name}.weight'] = (1 + rng.normal(0, 0.1, (n, ))).astype(np.float32)
        st[f'{name}.bias'] = rng.normal(0, 0.1, (n, )).astype(np.float32)

    st['cls_token'] = rng.normal(0, 0.02, (1, 1, C)).astype(np.float32)
    st['pos_embed'] = official_table(C, IMG // P)
    st['patch_embed.proj.weight'] = rng.normal(0, 0.2, (C, 3, P, P)).astype(np.float32)
    st['patch_embed.proj.bias'] = rng.normal(0, 0.1, (C, )).astype(np.float32)
    for i in range(DEPTH):
        ln(f'blocks.{i}.norm1', C)
        lin(f'blocks.{i}.attn.qkv', C, 3 * C)
        lin(f'blocks.{i}.attn.proj', C, C)
        ln(f'blocks.{i}.norm2', C)
        lin(f'blocks.{i}.mlp.fc1', C, 4 * C)
        lin(f'blocks.{i}.mlp.fc2', 4 * C, C)
    for name in ['norm_low', 'norm0', 'norm1', 'norm2', 'norm3', 'norm4', 'norm']:
        ln(name, C)
    lin('decoder_embed0_1', C, D)
    for s in range(S):
        lin(f'decoder_embed{s}', C, D)
        st[f'mask_token{s}'] = rng.normal(0, 0.02, (1, 1, D)).astype(np.float32)
        st[f'decoder_pos_embed{s}'] = official_table(D, IMG // P)
        b = f'decoder_blocks{s}.0'
        for k in range(1, 5):
            ln(f'{b}.norm{k}', D)
        lin(f'{b}.attn.qkv', D, 3 * D)
        lin(f'{b}.attn.proj', D, D)
        lin(f'{b}.cross_attn.q', D, D)
        lin(f'{b}.cross_attn.kv', D, 2 * D)
        lin(f'{b}.cross_attn.proj', D, D)
        lin(f'{b}.mlp.fc1', D, 4 * D)
        lin(f'{b}.mlp.fc2', 4 * D, D)
        ln(f'decoder_norm{s}', D)
        st[f'decoder_pred{s}.weight_g'] = np.ones((D, ), np.float32)  # fixed to 1 (official)
        st[f'decoder_pred{s}.weight_v'] = rng.normal(0, 0.4, (D, P * P * 3)).astype(np.float32)
        st[f'decoder_pred{s}.bias'] = rng.normal(0, 0.1, (P * P * 3, )).astype(np.float32)
    return st


# ---------------------------------------------------------------- official forward, float64
def official_forward(st, imgs, ids_restore):
    w = {k: torch.from_numpy(v).double() for k, v in st.items()}

    def lin(x, name):
        return x @ w[f'{name}.weight'] + w[f'{name}.bias']

    def ln(x, name):
        return F.layer_norm(x, x.shape[-1:], w[f'{name}.weight'], w[f'{name}.bias'], EPS)

    def attention(x, name, dim):
        B, N, _ = x.shape
        qkv = lin(x, f'{name}.qkv').reshape(B, N, 3, HEADS, dim // HEADS).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (dim // HEADS)**-0.5, qkv[1], qkv[2]
        a = (q @ k.transpose(-1, -2)).softmax(-1)
        return lin((a @ v).transpose(1, 2).reshape(B, N, dim), f'{name}.proj')

    def cross_attention(x, y, name, dim):
        B, N, _ = x.shape
        q = lin(x, f'{name}.q').reshape(B, N, HEADS, dim // HEADS).transpose(1, 2)
        kv = lin(y, f'{name}.kv').reshape(B, y.shape[1], 2, HEADS, dim // HEADS)
        k, v = kv.permute(2, 0, 3, 1, 4)
        a = ((q * (dim // HEADS)**-0.5) @ k.transpose(-1, -2)).softmax(-1)
        return lin((a @ v).transpose(1, 2).reshape(B, N, dim), f'{name}.proj')

    def mlp(x, name):
        return lin(F.gelu(lin(x, f'{name}.fc1')), f'{name}.fc2')

    # forward_encoder
    x = F.conv2d(imgs, w['patch_embed.proj.weight'], w['patch_embed.proj.bias'], stride=P)
    x = x.flatten(2).transpose(1, 2)
    N = x.shape[0]
    x = x + w['pos_embed'][:, 1:, :]
    keep = int(L * (1 - 0.75))
    ids_keep = torch.argsort(ids_restore, dim=1)[:, :keep]
    x = x[torch.arange(N)[:, None], ids_keep]
    x = torch.cat([(w['cls_token'] + w['pos_embed'][:, :1]).expand(N, -1, -1), x], dim=1)
    low_feat = ln(x, 'norm_low')
    feats = []
    for i in range(DEPTH):
        x = x + attention(ln(x, f'blocks.{i}.norm1'), f'blocks.{i}.attn', C)
        x = x + mlp(ln(x, f'blocks.{i}.norm2'), f'blocks.{i}.mlp')
        if i in OUT_INDICES:
            feats.append(x)
    feats = [ln(f, f'norm{k}') for k, f in enumerate(feats)] + [ln(x, 'norm')]

    # forward_decoder
    low = lin(low_feat, 'decoder_embed0_1')
    nexts, preds = [], []
    for s in range(S):
        xs = lin(feats[s], f'decoder_embed{s}')
        nxt = xs
        mask_tokens = w[f'mask_token{s}'].repeat(N, ids_restore.shape[1] + 1 - xs.shape[1], 1)
        x_ = torch.cat([xs[:, 1:], mask_tokens], dim=1)
        x_ = x_[torch.arange(N)[:, None], ids_restore]
        xs = torch.cat([xs[:, :1], x_], dim=1) + w[f'decoder_pos_embed{s}']
        kv = torch.cat([*reversed(nexts), low], dim=1)
        b = f'decoder_blocks{s}.0'
        xs = xs + attention(ln(xs, f'{b}.norm1'), f'{b}.attn', D)
        xs = xs + cross_attention(ln(xs, f'{b}.norm2'), ln(kv, f'{b}.norm3'), f'{b}.cross_attn', D)
        xs = xs + mlp(ln(xs, f'{b}.norm4'), f'{b}.mlp')
        xs = ln(xs, f'decoder_norm{s}')
        v, g = w[f'decoder_pred{s}.weight_v'], w[f'decoder_pred{s}.weight_g']
        weight = g[:, None] * v / v.norm(dim=1, keepdim=True)  # Paddle weight_norm(dim=0)
        preds.append((xs @ weight + w[f'decoder_pred{s}.bias'])[:, 1:])
        nexts.append(nxt)
    return low_feat, feats, preds


def build_mmdbp():
    enc = MIRLViT(arch=dict(embed_dims=C, num_layers=DEPTH, num_heads=HEADS,
                            feedforward_channels=4 * C),
                  num_segments=S, img_size=IMG, patch_size=P)
    neck = MIRLMultiDecoder(num_segments=S, num_patches=L, patch_size=P, embed_dim=C,
                            decoder_embed_dim=D, decoder_depth=1, decoder_num_heads=HEADS)
    return enc, neck


def load_converted(enc, neck, converted):
    for prefix, module in (('backbone.', enc), ('neck.', neck)):
        module.load_state_dict({k[len(prefix):]: v for k, v in converted.items()
                                if k.startswith(prefix)}, strict=True)
    assert all(k.startswith(('backbone.', 'neck.')) for k in converted)


def test_converted_weights_compute_the_official_function():
    st = official_state()
    converted, left_out = convert_official_mirl(st)
    assert set(left_out) == {f'decoder_pred{s}.weight_g' for s in range(S)}
    enc, neck = build_mmdbp()
    load_converted(enc, neck, converted)
    enc.double().eval()
    neck.double().eval()
    imgs = torch.randn(2, 3, IMG, IMG, generator=torch.Generator().manual_seed(1),
                       dtype=torch.float64)
    torch.manual_seed(0)
    with torch.no_grad():
        out = enc(imgs)
        preds = neck(out.low_feat, out.segment_feats, out.ids_restore)
        low_ref, feats_ref, preds_ref = official_forward(st, imgs, out.ids_restore)
    torch.testing.assert_close(out.low_feat, low_ref, rtol=0, atol=1e-12)
    for a, b in zip(out.segment_feats, feats_ref):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert len(preds) == S
    for a, b in zip(preds, preds_ref):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)


def test_position_tables_are_carried_not_rebuilt():
    """A table in the other channel order (as an mmpretrain-order model would have written) is
    copied as it is."""
    st = official_state()
    swapped = np.concatenate([st['pos_embed'][..., C // 2:], st['pos_embed'][..., :C // 2]], -1)
    st['pos_embed'] = swapped
    converted, _ = convert_official_mirl(st)
    np.testing.assert_array_equal(converted['backbone.pos_embed'].numpy(), swapped)
    np.testing.assert_array_equal(converted['neck.decoders.3.pos_embed'].numpy(),
                                  st['decoder_pos_embed3'])


def test_linear_weights_are_transposed_and_unknown_keys_named():
    st = official_state()
    converted, _ = convert_official_mirl(st)
    np.testing.assert_array_equal(converted['backbone.blocks.2.mlp.fc1.weight'].numpy(),
                                  st['blocks.2.mlp.fc1.weight'].T)
    np.testing.assert_array_equal(converted['neck.decoders.1.pred.weight'].numpy(),
                                  st['decoder_pred1.weight_v'].T)
    np.testing.assert_array_equal(converted['neck.decoders.5.blocks.0.norm_context.bias'].numpy(),
                                  st['decoder_blocks5.0.norm3.bias'])
    with pytest.raises(KeyError, match='teacher_proj.weight'):
        convert_official_mirl({**st, 'teacher_proj.weight': np.zeros((2, 2), np.float32)})
    st['decoder_pred2.weight_g'] = np.full((D, ), 2., np.float32)
    with pytest.raises(ValueError, match='decoder_pred2.weight_g is not 1'):
        convert_official_mirl(st)


# ---------------------------------------------------------------- the .pdparams files
def paddle_nested_pickle(st, path):
    """paddle.save({'model': state_dict, ...}): tensors pickled as (name, array) via tuple."""
    class PaddleTensor:  # pickles as Paddle's reduce_varbase does
        def __init__(self, name, data):
            self.name, self.data = name, data

        def __reduce__(self):
            return (tuple, ((self.name, self.data), ))

    obj = {'model': {k: PaddleTensor(f'param_{i}', v) for i, (k, v) in enumerate(st.items())},
           'epoch': 299, 'args': argparse.Namespace(model='mirl_vit_small_patch16_depth54')}
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=4)


def paddle_flat_pickle(st, path, protocol=2):
    """paddle.save(state_dict): arrays plus the structured-name table."""
    obj = dict(st)
    obj['StructuredToParameterName@@'] = {k: f'param_{i}' for i, k in enumerate(st)}
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=protocol)


def paddle_flat_pickle_protocol5(st, path):
    """As above with pickle protocol 5 (numpy arrays through numeric._frombuffer)."""
    paddle_flat_pickle(st, path, protocol=5)


@pytest.mark.parametrize('writer', [paddle_nested_pickle, paddle_flat_pickle,
                                    paddle_flat_pickle_protocol5])
def test_pdparams_files_convert_through_the_tool(writer, tmp_path, capsys):
    st = official_state()
    src, dst = str(tmp_path / 'mirl.pdparams'), str(tmp_path / 'out' / 'mirl.pth')
    writer(st, src)
    read = read_pdparams(src)
    assert list(read) == list(st)
    for k in st:
        np.testing.assert_array_equal(read[k], st[k])

    tool = load_tool('model_converters/mirl_official_to_mmdbp.py')
    tool.main([src, dst])
    printed = capsys.readouterr().out
    assert f'read {len(st)} tensors, wrote {len(st) - S}' in printed
    saved = torch.load(dst, map_location='cpu', weights_only=True)
    enc, neck = build_mmdbp()
    load_converted(enc, neck, saved['state_dict'])

    # the README's next step: mirl_to_vit.py --num-heads turns it into an mmpretrain ViT
    to_vit = load_tool('model_converters/mirl_to_vit.py')
    vit_path = str(tmp_path / 'vit.pth')
    to_vit.main([dst, vit_path, '--num-heads', str(HEADS)])
    vit = torch.load(vit_path, map_location='cpu', weights_only=True)['state_dict']
    np.testing.assert_array_equal(vit['layers.5.attn.qkv.weight'].numpy(),
                                  st['blocks.5.attn.qkv.weight'].T)


def test_restricted_unpickler_runs_no_code(tmp_path):
    victim = tmp_path / 'keep_me'
    victim.write_text('x')

    class Hostile:
        def __reduce__(self):
            return (os.remove, (str(victim), ))

    path = str(tmp_path / 'hostile.pdparams')
    with open(path, 'wb') as f:
        pickle.dump({'model': {'w': np.ones(2, np.float32)}, 'payload': Hostile()}, f)
    obj = load_paddle_pickle(path)
    assert victim.exists()
    assert isinstance(obj['payload'], RefusedObject)
    assert 'remove' in obj['payload'].pickle_name
    np.testing.assert_array_equal(read_pdparams(obj)['w'], np.ones(2, np.float32))
    with open(path, 'wb') as f:
        pickle.dump({'w': Hostile()}, f)
    with pytest.raises(ValueError, match='not numeric arrays'):
        read_pdparams(path)
    assert victim.exists()
