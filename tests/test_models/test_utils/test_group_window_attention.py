"""Group Window Attention equals a naive per-window loop (fp64)."""
import pytest
import torch
from mmpretrain.models.utils.attention import WindowMSA

from mmdbp.models.utils.group_window_attention import (GroupWindowAttention,
                                                       relative_position_index)
from mmdbp.models.utils.window_grouping import group_windows


def swin_window_key(coords, hw, window, shift):
    """(Swin window, shift-mask region) key and in-window position of (N, 2) coordinates: roll
    by -shift, partition, split the rolled windows by the regions of Swin's shift mask."""
    H, W = hw
    rr = (coords[:, 0] - shift) % H
    cc = (coords[:, 1] - shift) % W
    if shift:
        band_r = torch.where(rr < H - window, 0, torch.where(rr < H - shift, 1, 2))
        band_c = torch.where(cc < W - window, 0, torch.where(cc < W - shift, 1, 2))
    else:
        band_r = band_c = torch.zeros_like(rr)
    key = ((rr // window) * (W // window) + cc // window) * 9 + band_r * 3 + band_c
    return key, (rr % window) * window + cc % window


def naive_window_attention(attn, x, coords, hw, window, shift):
    """Attention of every (image, Swin window) on its visible tokens alone, looped in Python.

    Windows and in-window positions follow Swin: roll by -shift, partition, and split the
    rolled windows by the regions of Swin's shift mask. The bias of a pair is read with
    mmpretrain's dense relative_position_index at the tokens' in-window positions.

    x: (B, N, C); coords: (Bm, N, 2) with Bm in {1, B}.
    """
    B, N, C = x.shape
    h = attn.num_heads
    dense_index = WindowMSA(C, (window, window), h).relative_position_index
    wq, wk, wv = attn.qkv.weight.double().chunk(3)
    bq, bk, bv = attn.qkv.bias.double().chunk(3)
    out = torch.zeros_like(x)
    for b in range(B):
        cb = coords[b if coords.shape[0] > 1 else 0]
        key, local = swin_window_key(cb, hw, window, shift)
        for k in key.unique():
            idx = (key == k).nonzero().squeeze(1)
            t = x[b, idx]  # n, C
            n = t.shape[0]
            q = (t @ wq.T + bq).view(n, h, -1).transpose(0, 1)
            kk = (t @ wk.T + bk).view(n, h, -1).transpose(0, 1)
            v = (t @ wv.T + bv).view(n, h, -1).transpose(0, 1)
            bias = attn.relative_position_bias_table[dense_index[local[idx]][:, local[idx]]]
            logits = q @ kk.transpose(1, 2) * attn.scale + bias.permute(2, 0, 1)
            o = (logits.softmax(-1) @ v).transpose(0, 1).reshape(n, C)
            out[b, idx] = o
    return out @ attn.proj.weight.double().T + attn.proj.bias.double()


def masked_coords(H, W, n_keep, gen, force_single=True, window=2):
    """n_keep visible cells, at random; with force_single, (0, 0) is the only visible cell of
    the top-left window x window block and the bottom-right block is empty, so plain and
    shifted windows (shift < window) both have a window with exactly one visible token and
    one with none."""
    free = torch.ones(H, W, dtype=torch.bool)
    vis = torch.zeros(H, W, dtype=torch.bool)
    if force_single:
        free[:window, :window] = False
        free[H - window:, W - window:] = False
        vis[0, 0] = True
        n_keep -= 1
    cells = free.view(-1).nonzero().squeeze(1)
    chosen = cells[torch.randperm(cells.numel(), generator=gen)[:n_keep]]
    vis.view(-1)[chosen] = True
    return vis.nonzero()


@pytest.mark.parametrize('shared', [True, False])
@pytest.mark.parametrize('window,shift', [(4, 0), (4, 2), (2, 0), (2, 1)])
@pytest.mark.parametrize('lam', [0., 50.])
def test_group_window_attention_equals_per_window_loop(shared, window, shift, lam):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    H, W, C, heads, B = 8, 8, 12, 3, 3
    attn = GroupWindowAttention(C, heads, window).double()
    torch.nn.init.normal_(attn.relative_position_bias_table, std=1.)
    n_keep = 17  # sparse: most windows partly visible
    Bm = 1 if shared else B
    coords = torch.stack([masked_coords(H, W, n_keep, gen, window=window) for _ in range(Bm)])
    N = coords.shape[1]
    # the cases the issue names are really there: in every image a window (region of the
    # shift mask) with exactly one visible token, and one with none
    grid = torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W), indexing='ij'), -1)
    all_keys = swin_window_key(grid.view(-1, 2), (H, W), window, shift)[0].unique()
    for cb in coords:
        key = swin_window_key(cb, (H, W), window, shift)[0]
        counts = [int((key == k).sum()) for k in all_keys]
        assert 1 in counts and 0 in counts, counts
    x = torch.randn(B, N, C, dtype=torch.float64)
    groups = group_windows(coords, (H, W), window, shift, linear_cost=lam)
    out = attn(x, groups)
    ref = naive_window_attention(attn, x, coords, (H, W), window, shift)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    # gradients flow only through real tokens and are finite
    out.sum().backward()
    assert torch.isfinite(attn.relative_position_bias_table.grad).all()


def test_one_group_of_everything_equals_loop():
    """The 'single masked group' candidate (official code's path for small stages)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    H = W = 4
    attn = GroupWindowAttention(8, 2, 2).double()
    torch.nn.init.normal_(attn.relative_position_bias_table)
    coords = masked_coords(H, W, 6, gen, force_single=False).unsqueeze(0)
    x = torch.randn(2, coords.shape[1], 8, dtype=torch.float64)
    N = coords.shape[1]
    groups = group_windows(coords, (H, W), 2, 1, candidates=[N])
    assert groups.num_groups == 1 and groups.group_size == N
    torch.testing.assert_close(attn(x, groups),
                               naive_window_attention(attn, x, coords, (H, W), 2, 1))


def test_relative_position_index_matches_mmpretrain():
    for w in (1, 2, 3, 7):
        ref = WindowMSA(8, (w, w), 2).relative_position_index
        assert torch.equal(relative_position_index(w), ref)
