"""Where the visible tokens of every Swin stage are, computed once per batch from the unit mask.

GreenMIM masks *units* of the last stage (32x32 px for patch 4 and four stages). A unit covers
``2^(S-1-i)`` x ``2^(S-1-i)`` tokens of stage i, so the visible tokens of every stage follow
from the unit mask, and every 2x2 neighbourhood that patch merging combines is either fully
visible or fully masked. :func:`build_sparse_swin_layout` turns the mask into:

- ``embed``: which tokens of the dense patch-embedding grid are visible;
- per stage: the (row, col) coordinates of its visible tokens (row-major order), the window
  groups of its regular and shifted blocks (:func:`~.window_grouping.group_windows`), and the
  four children of each visible token of the next stage (for :class:`SparsePatchMerging`).

All of it is computed on the host (the mask is drawn there) and sent to the device once, so
the blocks never synchronise with the host.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch

from .window_grouping import WindowGroups, group_windows, to_device_async

__all__ = ['TokenGather', 'StageLayout', 'SparseSwinLayout', 'build_sparse_swin_layout']


class TokenGather(NamedTuple):
    """Pick k tokens per output token.

    Attributes:
        index: (N', k) token indices shared by all images (``shared``), or (B, N', k) indices
            into the flattened batch (B*N tokens).
        shared: layout of ``index``.
    """
    index: torch.Tensor
    shared: bool

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) -> (B, N', k, C)."""
        B, N, C = x.shape
        if self.shared:
            out = x.index_select(1, self.index.reshape(-1))
        else:
            out = x.reshape(B * N, C).index_select(0, self.index.reshape(-1))
        return out.reshape(B, *self.index.shape[-2:], C)


class StageLayout(NamedTuple):
    """Visible tokens of one stage.

    Attributes:
        hw_shape: (H, W) of the stage grid.
        coords: (Bm, N, 2) host coordinates of the visible tokens, row-major.
        window_groups: groups for blocks 0, 2, 4, ... (regular windows) and 1, 3, ...
            (shifted windows; the same object when the stage does not shift).
        children: four children of each visible token of the next stage (None for the last).
    """
    hw_shape: Tuple[int, int]
    coords: torch.Tensor
    window_groups: Tuple[WindowGroups, WindowGroups]
    children: Optional[TokenGather]

    @property
    def num_tokens(self) -> int:
        return self.coords.shape[1]


class SparseSwinLayout(NamedTuple):
    """Result of :func:`build_sparse_swin_layout`."""
    embed: TokenGather
    stages: List[StageLayout]


def _visible_coords(visible: torch.Tensor) -> torch.Tensor:
    """(Bm, H, W) bool -> (Bm, N, 2) coordinates of the True cells, row-major per image."""
    Bm = visible.shape[0]
    nz = visible.nonzero()  # lexicographic (b, r, c)
    if nz.shape[0] % Bm:
        raise ValueError('every image must have the same number of visible units.')
    return nz[:, 1:].reshape(Bm, -1, 2)


def _flat_offsets(Bm: int, per_image: int) -> torch.Tensor:
    return (torch.arange(Bm) * per_image).view(Bm, 1, 1)


def build_sparse_swin_layout(unit_mask: torch.Tensor, windows: Sequence[Tuple[int, int]],
                             linear_cost: float = 0.,
                             device: Optional[torch.device] = None) -> SparseSwinLayout:
    """Layout of all stages from the unit mask.

    Args:
        unit_mask: (Bm, Hu, Wu) bool, True = masked unit; Bm = 1 shares the mask over the batch.
            Every image must keep the same number of units.
        windows: ``(window_size, shift_size)`` of each stage (its length is the number of
            stages S); stage i has the grid ``(Hu, Wu) * 2^(S-1-i)``.
        linear_cost: lambda of the grouping cost model.
        device: device of the returned index tensors. Defaults to the mask's device.

    Returns:
        :class:`SparseSwinLayout`.
    """
    device = unit_mask.device if device is None else device
    unit_mask = unit_mask.cpu().bool()
    Bm, Hu, Wu = unit_mask.shape
    shared = Bm == 1
    num_stages = len(windows)
    visible_units = ~unit_mask

    coords = []
    for i in range(num_stages):
        f = 2**(num_stages - 1 - i)
        vis = visible_units.repeat_interleave(f, 1).repeat_interleave(f, 2)
        coords.append(_visible_coords(vis))

    # Dense patch grid -> visible tokens of stage 0.
    H0, W0 = Hu * 2**(num_stages - 1), Wu * 2**(num_stages - 1)
    c0 = coords[0]
    embed_index = (c0[..., 0] * W0 + c0[..., 1]).unsqueeze(-1)  # Bm, N0, 1
    if not shared:
        embed_index = embed_index + _flat_offsets(Bm, H0 * W0)
    embed = TokenGather(to_device_async(embed_index[0] if shared else embed_index, device), shared)

    stages = []
    for i, (window_size, shift_size) in enumerate(windows):
        f = 2**(num_stages - 1 - i)
        hw = (Hu * f, Wu * f)
        regular = group_windows(coords[i], hw, window_size, 0, linear_cost, device)
        shifted = regular if shift_size == 0 else group_windows(
            coords[i], hw, window_size, shift_size, linear_cost, device)
        children = None
        if i + 1 < num_stages:
            N = coords[i].shape[1]
            position = torch.full((Bm, *hw), -1, dtype=torch.long)
            flat = torch.arange(Bm * N).view(Bm, N) if not shared else torch.arange(N).view(1, N)
            b = torch.arange(Bm).view(Bm, 1)
            position[b, coords[i][..., 0], coords[i][..., 1]] = flat
            nxt = coords[i + 1]  # Bm, N', 2
            rows = 2 * nxt[..., :1] + torch.tensor([0, 0, 1, 1])  # Bm, N', 4
            cols = 2 * nxt[..., 1:] + torch.tensor([0, 1, 0, 1])
            index = position[b.unsqueeze(-1), rows, cols]
            assert (index >= 0).all(), 'a merged neighbourhood is partly masked'
            children = TokenGather(to_device_async(index[0] if shared else index, device), shared)
        stages.append(StageLayout(hw, coords[i], (regular, shifted), children))
    return SparseSwinLayout(embed, stages)
