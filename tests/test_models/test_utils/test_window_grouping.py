"""Window ids from coordinates and the packed index tensors, against Swin's roll + region mask."""
import pytest
import torch

from mmdbp.models.utils.window_grouping import group_windows, window_index


def swin_window_and_region(H, W, window, shift):
    """Dense reference as Swin does it: roll the map by -shift, partition into windows, and
    label the regions of its attention mask. Two tokens attend iff same window and region.

    Returns (H, W) window id and region id of every original position."""
    r = (torch.arange(H) - shift) % H  # rolled row of original row
    c = (torch.arange(W) - shift) % W
    rr, cc = torch.meshgrid(r, c, indexing='ij')
    win = (rr // window) * (W // window) + cc // window
    if shift == 0:
        return win, torch.zeros_like(win)
    # region labels of mmpretrain's ShiftWindowMSA.get_attn_mask, in rolled coordinates
    def band(x, n):
        return torch.where(x < n - window, 0, torch.where(x < n - shift, 1, 2))
    region = band(rr, H) * 3 + band(cc, W)
    return win, region


def random_visible(H, W, n_keep, gen):
    vis = torch.zeros(H * W, dtype=torch.bool)
    vis[torch.randperm(H * W, generator=gen)[:n_keep]] = True
    return vis.view(H, W)


@pytest.mark.parametrize('H,W,window,shift', [(8, 8, 4, 2), (8, 12, 4, 2), (6, 6, 3, 1),
                                              (8, 8, 4, 0), (12, 8, 2, 1)])
def test_window_index_matches_swin_shifted_windows(H, W, window, shift):
    coords = torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W), indexing='ij'), -1)
    ids, num = window_index(coords.view(-1, 2), window, shift, (H, W))
    win, region = swin_window_and_region(H, W, window, shift)
    same_ref = (win.view(-1, 1) == win.view(1, -1)) & (region.view(-1, 1) == region.view(1, -1))
    same = ids.view(-1, 1) == ids.view(1, -1)
    assert torch.equal(same, same_ref)
    assert ids.max() < num


def test_window_index_rejects_bad_shift():
    with pytest.raises(ValueError, match='shift_size must be in'):
        window_index(torch.zeros(1, 2, dtype=torch.long), 4, 4, (8, 8))


@pytest.mark.parametrize('shared', [True, False])
@pytest.mark.parametrize('shift', [0, 2])
def test_group_windows_covers_every_token_once(shared, shift):
    gen = torch.Generator().manual_seed(0)
    H = W = 8
    window = 4
    Bm = 1 if shared else 3
    coords = torch.stack([
        random_visible(H, W, 20, gen).nonzero() for _ in range(Bm)])  # Bm, N, 2
    N = coords.shape[1]
    groups = group_windows(coords, (H, W), window, shift, linear_cost=2.)
    T = Bm * N
    G, S = groups.num_groups, groups.group_size
    assert groups.slot_token.shape == (G * S, ) and groups.token_slot.shape == (T, )
    # each token sits in exactly one slot and token_slot inverts slot_token
    assert torch.equal(groups.slot_token[groups.token_slot], torch.arange(T))
    assert len(set(groups.token_slot.tolist())) == T
    # allowed pairs: exactly the same-window pairs of real tokens (+ padding diagonal)
    win, region = swin_window_and_region(H, W, window, shift)
    flat = coords.reshape(T, 2)
    image = torch.arange(Bm).repeat_interleave(N)
    key = (image * 1000 + win[flat[:, 0], flat[:, 1]] * 10 + region[flat[:, 0], flat[:, 1]])
    real = torch.zeros(G * S, dtype=torch.bool)
    real[groups.token_slot] = True
    slot_key = torch.where(real, key[groups.slot_token], -1 - torch.arange(G * S))
    slot_key = slot_key.view(G, S)
    ref_allowed = slot_key.unsqueeze(2) == slot_key.unsqueeze(1)
    assert torch.equal(groups.allowed.squeeze(1), ref_allowed)
    # no group holds more tokens than its size, and windows are not split across groups
    assert int(real.view(G, S).sum(1).max()) <= S
    # relative index for allowed pairs from coordinates
    c = flat[groups.slot_token].view(G, S, 2)
    d = c.unsqueeze(2) - c.unsqueeze(1) + window - 1
    ref_idx = (d[..., 0] * (2 * window - 1) + d[..., 1]) * ref_allowed
    assert torch.equal(groups.rel_pos_index, ref_idx)
    # group / merge round trip
    x = torch.randn(2 if shared else 1, N if shared else T, 5)
    if not shared:
        x = x.view(Bm, N, 5)
    g = groups.group(x)
    assert g.shape[1:3] == (G, S)
    assert torch.equal(groups.merge(g, x.shape[0]), x)
