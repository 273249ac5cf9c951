"""Index tensors that pack the visible tokens of a Swin stage into equal-size window groups.

GreenMIM (`arXiv:2205.13515 <https://arxiv.org/abs/2205.13515>`_) keeps only the visible
tokens of a Swin stage, each with its (row, col) coordinate. A token's window follows from its
coordinate alone, for regular and shifted windows alike (no rolled dense map):

.. math:: \\mathrm{win}(r, c) = \\Big(\\big\\lfloor \\tfrac{r + (M - s) \\bmod M}{M} \\big\\rfloor,
          \\big\\lfloor \\tfrac{c + (M - s) \\bmod M}{M} \\big\\rfloor\\Big)

for window size M and shift s. With ``s > 0`` this gives exactly Swin's shifted windows after
its cyclic roll and region mask: the windows on the border are simply smaller.

:func:`group_windows` packs the non-empty windows with :func:`optimal_window_packing` and turns
the packing into :class:`WindowGroups`: a gather index ``slot_token`` (G*S slots -> token), its
inverse ``token_slot`` (token -> slot), the attention mask "same window" and the relative
position index of every slot pair, ``(dr + M - 1)(2M - 1) + (dc + M - 1)`` as in Swin's bias
table. Everything is computed once per stage and batch (on the host from the mask, then moved
to the device once), and shared by all blocks of the stage that use the same shift.

Two layouts:

- ``shared=True`` (GreenMIM's default): one mask for the whole batch, so all images have the
  same visible positions; indices address the N tokens of one image and are applied to every
  image of the batch (x: (B, N, C) -> (B, G, S, C)).
- ``shared=False``: a mask per image; windows of all images are packed together (a window
  never mixes images); indices address the B*N tokens of the batch (x -> (1, G, S, C)).
"""
from typing import NamedTuple, Optional, Sequence, Tuple

import torch

from .window_packing import WindowPacking, optimal_window_packing

__all__ = ['window_index', 'WindowGroups', 'TokenPacking', 'pack_tokens', 'group_windows',
           'to_device_async']


def window_index(coords: torch.Tensor, window_size: int, shift_size: int,
                 hw_shape: Tuple[int, int]) -> Tuple[torch.Tensor, int]:
    """Window of each token from its coordinates.

    Args:
        coords: (..., 2) integer (row, col) coordinates on the stage grid.
        window_size: M.
        shift_size: s in [0, M).
        hw_shape: (H, W) of the stage grid.

    Returns:
        ``(ids, num_windows)``: window ids (...) in row-major window order, in
        ``[0, num_windows)``; ``num_windows`` counts the (possibly partial) windows of one image.
    """
    if not 0 <= shift_size < window_size:
        raise ValueError(f'shift_size must be in [0, window_size={window_size}), got {shift_size}.')
    offset = (window_size - shift_size) % window_size
    rows = (hw_shape[0] + offset + window_size - 1) // window_size
    cols = (hw_shape[1] + offset + window_size - 1) // window_size
    rc = torch.div(coords + offset, window_size, rounding_mode='floor')
    return rc[..., 0] * cols + rc[..., 1], rows * cols


class WindowGroups(NamedTuple):
    """Packing of a stage's visible tokens into G groups of S slots (one shift parity).

    Attributes:
        slot_token: (G*S,) long, token feeding each slot (padding slots repeat token 0).
        token_slot: (T,) long, slot of each token; T = N (shared) or B*N (per image).
        allowed: (G, 1, S, S) bool, True where query slot i may attend to key slot j: both in
            the same window; a padding slot sees only itself (keeps softmax finite).
        rel_pos_index: (G, S, S) long index into the (2M-1)^2 bias table (0 where not allowed).
        group_size: S.
        num_groups: G.
        shared: whether one layout serves every image of the batch.
        packing: the host-side :class:`WindowPacking` (for statistics / benchmarks).
    """
    slot_token: torch.Tensor
    token_slot: torch.Tensor
    allowed: torch.Tensor
    rel_pos_index: torch.Tensor
    group_size: int
    num_groups: int
    shared: bool
    packing: WindowPacking

    def group(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens (B, N, C) -> groups (b, G, S, C), b = B (shared) or 1 (per image)."""
        B, N, C = x.shape
        if not self.shared:
            x = x.reshape(1, B * N, C)
        x = x.index_select(1, self.slot_token)
        return x.reshape(x.shape[0], self.num_groups, self.group_size, C)

    def merge(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        """Groups (b, G, S, C) -> tokens (B, N, C); padding slots are dropped."""
        C = x.shape[-1]
        x = x.reshape(x.shape[0], self.num_groups * self.group_size, C)
        x = x.index_select(1, self.token_slot)
        return x.reshape(batch_size, -1, C)

    @property
    def num_slots(self) -> int:
        return self.num_groups * self.group_size


def to_device_async(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host -> device copy that does not wait for the device queue (pinned memory on CUDA)."""
    device = torch.device(device)
    if device.type == 'cuda':
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


class TokenPacking(NamedTuple):
    """Host-side result of :func:`pack_tokens` (all O(G*S) integer vectors).

    Attributes:
        slot_token: (G*S,) token of each slot (padding: 0).
        token_slot: (T,) slot of each token.
        slot_window: (G*S,) window id of each slot; padding slots get unique negative ids.
        slot_key: (G*S,) ``r * (2M - 1) + c`` of each slot's token (its bias-table coordinate).
        packing: the :class:`WindowPacking` (group size S, groups, costs).
    """
    slot_token: torch.Tensor
    token_slot: torch.Tensor
    slot_window: torch.Tensor
    slot_key: torch.Tensor
    packing: WindowPacking


def pack_tokens(coords: torch.Tensor, hw_shape: Tuple[int, int], window_size: int,
                shift_size: int = 0, linear_cost: float = 0.,
                candidates: Optional[Sequence[int]] = None) -> TokenPacking:
    """Host part of :func:`group_windows`: window ids, the group-size search and the packing,
    and the slot <-> token index vectors."""
    coords = coords.cpu()
    Bm, N, _ = coords.shape
    wid, num_windows = window_index(coords, window_size, shift_size, hw_shape)
    wid = (wid + torch.arange(Bm).unsqueeze(1) * num_windows).reshape(-1)  # (T,)
    T = wid.numel()
    counts = torch.bincount(wid, minlength=Bm * num_windows)
    packing = optimal_window_packing(counts.tolist(), window_size**2, linear_cost, candidates)
    S, G = packing.group_size, packing.num_groups

    # Each window's group and its first slot inside the group (one vectorised pass).
    windows = torch.tensor([w for g in packing.groups for w in g], dtype=torch.long)
    sizes = torch.tensor([len(g) for g in packing.groups], dtype=torch.long)
    group_of = torch.repeat_interleave(torch.arange(G), sizes)
    filled = torch.cumsum(counts[windows], 0)  # running total over the groups' windows
    group_first = torch.cumsum(sizes, 0) - sizes  # position of each group's first window
    before_group = (filled - counts[windows])[group_first]  # tokens before each group
    win_group = torch.full((Bm * num_windows, ), -1, dtype=torch.long)
    win_offset = torch.zeros(Bm * num_windows, dtype=torch.long)
    win_group[windows] = group_of
    win_offset[windows] = filled - counts[windows] - before_group[group_of]
    # Rank of each token within its window (tokens keep their row-major order).
    order = torch.argsort(wid, stable=True)
    first_of_window = torch.cumsum(counts, 0) - counts
    rank = torch.arange(T) - first_of_window[wid[order]]
    token_slot = torch.empty(T, dtype=torch.long)
    token_slot[order] = win_group[wid[order]] * S + win_offset[wid[order]] + rank
    slot_token = torch.full((G * S, ), -1, dtype=torch.long)
    slot_token[token_slot] = torch.arange(T)
    is_pad = slot_token < 0
    # Padding slots get unique negative window ids: they match nothing but themselves.
    slot_window = torch.where(is_pad, -1 - torch.arange(G * S), wid[slot_token.clamp(min=0)])
    slot_token = slot_token.clamp(min=0)
    rc = coords.reshape(T, 2)[slot_token]
    slot_key = rc[:, 0] * (2 * window_size - 1) + rc[:, 1]
    return TokenPacking(slot_token, token_slot, slot_window, slot_key, packing)


def group_windows(coords: torch.Tensor, hw_shape: Tuple[int, int], window_size: int,
                  shift_size: int = 0, linear_cost: float = 0.,
                  device: Optional[torch.device] = None,
                  candidates: Optional[Sequence[int]] = None) -> WindowGroups:
    """Group the visible tokens of one stage into windows, and windows into equal-size groups.

    Args:
        coords: (Bm, N, 2) long coordinates of the visible tokens on the host, Bm = 1 for a
            batch-shared mask, Bm = B for per-image masks (every image has N visible tokens).
        hw_shape: (H, W) of the stage grid.
        window_size: M.
        shift_size: s.
        linear_cost: lambda of the cost model (see :mod:`.window_packing`).
        device: where the index tensors will be used. Defaults to ``coords.device``.
        candidates: group sizes to choose from; None = all of
            :func:`~.window_packing.candidate_group_sizes`.

    Returns:
        :class:`WindowGroups`.
    """
    device = coords.device if device is None else device
    host = pack_tokens(coords, hw_shape, window_size, shift_size, linear_cost, candidates)
    S, G = host.packing.group_size, host.packing.num_groups
    # Pairwise (G, S, S) tensors are built where they are used: the host sends O(G*S) integers.
    slot_token, token_slot, slot_window, slot_key = (
        to_device_async(t, device) for t in host[:4])
    slot_window = slot_window.view(G, S)
    allowed = slot_window.unsqueeze(2) == slot_window.unsqueeze(1)  # G, S, S
    # (dr + M - 1)(2M - 1) + (dc + M - 1) = key_i - key_j + (M - 1) * 2M with
    # key = r (2M - 1) + c: one broadcast subtraction instead of a (G, S, S, 2) tensor.
    key = slot_key.view(G, S)
    rel_pos_index = key.unsqueeze(2) - key.unsqueeze(1) + (window_size - 1) * 2 * window_size
    rel_pos_index = torch.where(allowed, rel_pos_index, 0)
    return WindowGroups(slot_token, token_slot, allowed.unsqueeze(1), rel_pos_index, S, G,
                        coords.shape[0] == 1, host.packing)
