"""A linear layer with weight normalisation and the gain fixed to 1 (MIRL's pixel heads)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class WeightNormLinear(nn.Linear):
    """``y = x (V / ||V||)^T + b``: weight normalisation (`Salimans & Kingma
    <https://arxiv.org/abs/1602.07868>`_) with the gain ``g`` fixed to 1, so only the direction
    ``V`` and the bias are learned.

    Args:
        in_features (int): Input width.
        out_features (int): Output width.
        bias (bool): Defaults to True.
        norm_dim (int): Axis of the (out, in) weight the norm runs over. ``0`` (default) gives
            every *input* feature a unit-norm weight column, which is what MIRL's official code
            gets from Paddle's ``weight_norm(dim=0)`` on Paddle's (in, out) Linear weight; ``1``
            gives every output a unit-norm row (``torch.nn.utils.weight_norm``'s default).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 norm_dim: int = 0) -> None:
        super().__init__(in_features, out_features, bias)
        if norm_dim not in (0, 1):
            raise ValueError(f'norm_dim must be 0 (per input column) or 1 (per output row), '
                             f'got {norm_dim}.')
        self.norm_dim = norm_dim

    def normalized_weight(self) -> torch.Tensor:
        return F.normalize(self.weight, dim=self.norm_dim, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.normalized_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f', norm_dim={self.norm_dim}, gain=1 (fixed)'
