"""Fixed 2-D sin-cos position embeddings in the two channel orders in use.

Both orders build the same four blocks of ``D / 4`` channels from the token's row ``r`` and
column ``c`` on a row-major grid (token ``n = r * W + c``), with ``omega_k = 10000^(-k / (D/4))``:

- ``'mae'``: ``[sin(c w), cos(c w), sin(r w), cos(r w)]``, the column code first. This is
  ``get_2d_sincos_pos_embed`` of the official MAE code (its ``np.meshgrid(grid_w, grid_h)`` puts
  the column index in ``grid[0]``, which feeds the first half), copied unchanged into the
  official MIRL (Paddle) and GreenMIM code.
- ``'mmpretrain'``: ``[sin(r w), cos(r w), sin(c w), cos(c w)]``, the row code first. This is
  mmpretrain's ``build_2d_sincos_position_embedding`` on a square grid (mmpretrain's MAE).

The two tables are a fixed channel permutation of each other, so a model trained from scratch
learns equally well with either; but weights trained with one order compute a different function
with the other (the halves differ by up to 2.0), which is why checkpoints carry the table (the
``pos_embed`` parameters are saved) and converters copy it rather than rebuild it.

The table is computed in float64 (as the official numpy code) and returned in float32.
"""
from typing import Sequence, Tuple, Union

import torch

__all__ = ['SINCOS_ORDERS', 'check_sincos_order', 'sincos_pos_embed_2d']

#: Channel orders :func:`sincos_pos_embed_2d` accepts.
SINCOS_ORDERS = ('mae', 'mmpretrain')


def check_sincos_order(order: str, owner: str) -> str:
    """Return ``order`` or raise a ValueError naming ``owner`` and the valid orders."""
    if order not in SINCOS_ORDERS:
        raise ValueError(f"{owner}: sincos_order must be one of {SINCOS_ORDERS} ('mae': column "
                         f"code first, the official MAE / MIRL / GreenMIM table; 'mmpretrain': "
                         f"row code first, mmpretrain's MAE), got {order!r}.")
    return order


def _sincos_1d(pos: torch.Tensor, dims: int) -> torch.Tensor:
    """(M,) positions -> (M, dims): ``[sin(p w_k), cos(p w_k)]``, ``w_k = 10000^(-2k/dims)``."""
    omega = 1. / 10000**(torch.arange(dims // 2, dtype=torch.float64) / (dims / 2.))
    angles = pos.to(torch.float64)[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_pos_embed_2d(grid_size: Union[int, Sequence[int]], embed_dims: int,
                        cls_token: bool = False, order: str = 'mae') -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding of a row-major ``(H, W)`` token grid.

    Args:
        grid_size (int | Sequence[int]): ``H`` (= ``W``) or ``(H, W)``.
        embed_dims (int): Channels ``D``, a multiple of 4.
        cls_token (bool): Prepend a zero row for a cls token. Defaults to False.
        order (str): ``'mae'`` (official MAE / MIRL / GreenMIM: column code first) or
            ``'mmpretrain'`` (row code first). Defaults to ``'mae'``.

    Returns:
        torch.Tensor: ``(1, [1 +] H * W, D)`` float32.
    """
    check_sincos_order(order, 'sincos_pos_embed_2d')
    if embed_dims % 4:
        raise ValueError(f'sincos_pos_embed_2d: embed_dims must be a multiple of 4 (sin and cos '
                         f'of the row and of the column), got {embed_dims}.')
    H, W = (grid_size, grid_size) if isinstance(grid_size, int) else tuple(grid_size)
    rows = torch.arange(H).repeat_interleave(W)  # row of token n = r * W + c
    cols = torch.arange(W).repeat(H)
    row_code, col_code = _sincos_1d(rows, embed_dims // 2), _sincos_1d(cols, embed_dims // 2)
    halves: Tuple[torch.Tensor, torch.Tensor] = ((col_code, row_code) if order == 'mae' else
                                                 (row_code, col_code))
    table = torch.cat(halves, dim=1)
    if cls_token:
        table = torch.cat([table.new_zeros(1, embed_dims), table], dim=0)
    return table.float()[None]
