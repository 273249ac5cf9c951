"""Swin's patch merging on the visible tokens only (GreenMIM).

GreenMIM masks whole last-stage units, so every 2x2 neighbourhood that patch merging combines
is either fully visible or fully masked. Merging the visible tokens is then exact: gather the
four children of each visible next-stage token, concatenate, normalise and reduce 4C -> 2C,
exactly as the dense layer does on the full map.

The concatenation order decides which checkpoint layout the weights follow:

- ``'unfold'`` (default): mmcv's ``PatchMerging`` (``nn.Unfold``), used by mmpretrain's and
  mmseg's Swin: feature ``c * 4 + k`` holds channel c of child k, children row-major
  (top-left, top-right, bottom-left, bottom-right). Weights load into those backbones as is.
- ``'swin'``: the original Swin / GreenMIM code, ``cat(x0, x1, x2, x3)`` with x0 top-left,
  x1 bottom-left, x2 top-right, x3 bottom-right (children 0, 2, 1, 3 in row-major order).
  For checkpoints of the official implementations.
"""
import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer

__all__ = ['SparsePatchMerging']


class SparsePatchMerging(nn.Module):
    """Patch merging of visible tokens.

    Args:
        in_channels (int): C.
        out_channels (int): Output width, usually 2C.
        norm_cfg (dict, optional): Norm over the 4C concatenation. Defaults to LN.
        merge_order (str): ``'unfold'`` or ``'swin'`` (see module doc). Defaults to 'unfold'.
    """

    ORDERS = ('unfold', 'swin')

    def __init__(self, in_channels: int, out_channels: int,
                 norm_cfg: dict = dict(type='LN'), merge_order: str = 'unfold') -> None:
        super().__init__()
        if merge_order not in self.ORDERS:
            raise ValueError(f'merge_order must be one of {self.ORDERS}, got {merge_order!r}.')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.merge_order = merge_order
        self.norm = build_norm_layer(norm_cfg, 4 * in_channels)[1] if norm_cfg else None
        self.reduction = nn.Linear(4 * in_channels, out_channels, bias=False)

    def forward(self, children: torch.Tensor) -> torch.Tensor:
        """children: (B, N', 4, C), the four children of each visible next-stage token in
        row-major order (top-left, top-right, bottom-left, bottom-right) -> (B, N', out)."""
        B, N, _, C = children.shape
        if self.merge_order == 'unfold':
            x = children.transpose(2, 3).reshape(B, N, 4 * C)
        else:
            x = children[:, :, [0, 2, 1, 3]].reshape(B, N, 4 * C)
        if self.norm is not None:
            x = self.norm(x)
        return self.reduction(x)

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, out_channels={self.out_channels}, '
                f'merge_order={self.merge_order!r}')
