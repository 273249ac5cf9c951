"""Fixed 2-D sin-cos tables against a transcription of the official MAE / MIRL / GreenMIM code."""
import numpy as np
import pytest
import torch
from mmpretrain.models.utils import build_2d_sincos_position_embedding

from mmdbp.models.backbones import FastMAEViT, MIRLViT
from mmdbp.models.necks import GreenMIMDecoder, MIRLMultiDecoder
from mmdbp.models.utils.pos_embed import sincos_pos_embed_2d


# --- transcription of util/pos_embed.py of facebookresearch/mae (identical in MIRL's and
# --- GreenMIM's repositories), numpy float64 as there
def official_1d(embed_dim, pos):
    omega = np.arange(embed_dim // 2, dtype=np.float64)
    omega /= embed_dim / 2.
    omega = 1. / 10000**omega
    out = np.einsum('m,d->md', pos.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def official_2d(embed_dim, grid_size, cls_token=False):
    grid_h = np.arange(grid_size, dtype=np.float32)
    grid_w = np.arange(grid_size, dtype=np.float32)
    grid = np.meshgrid(grid_w, grid_h)  # here w goes first
    grid = np.stack(grid, axis=0).reshape([2, 1, grid_size, grid_size])
    emb_h = official_1d(embed_dim // 2, grid[0])
    emb_w = official_1d(embed_dim // 2, grid[1])
    emb = np.concatenate([emb_h, emb_w], axis=1)
    if cls_token:
        emb = np.concatenate([np.zeros([1, embed_dim]), emb], axis=0)
    return torch.from_numpy(emb).float()[None]


@pytest.mark.parametrize('grid', [1, 2, 3, 7])
@pytest.mark.parametrize('dims', [8, 16, 64])
@pytest.mark.parametrize('cls_token', [False, True])
def test_mae_order_is_the_official_table(grid, dims, cls_token):
    ours = sincos_pos_embed_2d(grid, dims, cls_token=cls_token, order='mae')
    torch.testing.assert_close(ours, official_2d(dims, grid, cls_token), rtol=0, atol=2e-7)


@pytest.mark.parametrize('grid', [2, 5])
def test_mmpretrain_order_is_mmpretrains_table(grid):
    ours = sincos_pos_embed_2d(grid, 32, cls_token=True, order='mmpretrain')
    ref = build_2d_sincos_position_embedding(grid, 32, cls_token=True)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)  # mmpretrain computes in float32
    # the two orders are the same table with the halves swapped, and they differ
    mae = sincos_pos_embed_2d(grid, 32, cls_token=True, order='mae')
    torch.testing.assert_close(ours, torch.cat([mae[..., 16:], mae[..., :16]], dim=-1))
    assert (ours - mae).abs().max() > 0.5


def test_non_square_grid_is_row_major():
    """(H, W) = (2, 3): token r * W + c gets [code(c), code(r)] in the 'mae' order."""
    table = sincos_pos_embed_2d((2, 3), 16, order='mae')[0].double()
    for r in range(2):
        for c in range(3):
            expected = np.concatenate([official_1d(8, np.array([float(c)])),
                                       official_1d(8, np.array([float(r)]))], axis=1)[0]
            torch.testing.assert_close(table[r * 3 + c], torch.from_numpy(expected),
                                       rtol=0, atol=1e-7)


def test_bad_arguments():
    with pytest.raises(ValueError, match='multiple of 4'):
        sincos_pos_embed_2d(2, 6)
    with pytest.raises(ValueError, match="sincos_order must be one of"):
        sincos_pos_embed_2d(2, 8, order='timm')
    with pytest.raises(ValueError, match='GreenMIMDecoder: sincos_order'):
        GreenMIMDecoder(grid_size=2, embed_dims=8, decoder_embed_dims=8, decoder_num_heads=2,
                        sincos_order='rows')


def test_mirl_and_greenmim_initialise_with_the_official_tables():
    enc = MIRLViT(arch=dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32),
                  num_segments=2, img_size=12, patch_size=4)
    enc.init_weights()
    torch.testing.assert_close(enc.pos_embed.data, official_2d(16, 3, cls_token=True),
                               rtol=0, atol=2e-7)
    neck = MIRLMultiDecoder(num_segments=2, num_patches=9, patch_size=4, embed_dim=16,
                            decoder_embed_dim=8, decoder_num_heads=2)
    neck.init_weights()
    for decoder in neck.decoders:
        torch.testing.assert_close(decoder.pos_embed.data, official_2d(8, 3, cls_token=True),
                                   rtol=0, atol=2e-7)
    dec = GreenMIMDecoder(grid_size=7, unit_size=2, embed_dims=8, decoder_embed_dims=32,
                          decoder_num_heads=2)
    dec.init_weights()
    torch.testing.assert_close(dec.decoder_pos_embed.data, official_2d(32, 7), rtol=0, atol=2e-7)


def test_fast_mae_keeps_mmpretrains_order_and_switches():
    arch = dict(embed_dims=16, num_layers=1, num_heads=2, feedforward_channels=32)
    default = FastMAEViT(arch=arch, img_size=12, patch_size=4)
    default.init_weights()
    torch.testing.assert_close(default.pos_embed.data,
                               build_2d_sincos_position_embedding(3, 16, cls_token=True),
                               rtol=0, atol=1e-6)
    official = FastMAEViT(arch=arch, img_size=12, patch_size=4, sincos_order='mae')
    official.init_weights()
    torch.testing.assert_close(official.pos_embed.data, official_2d(16, 3, cls_token=True),
                               rtol=0, atol=2e-7)
