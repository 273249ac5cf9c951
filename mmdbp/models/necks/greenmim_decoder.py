"""GreenMIM's light MAE-style decoder on the last-stage units of a sparse Swin encoder."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmdbp.registry import MODELS
from ..utils.mae_init import init_linears_xavier_
from ..utils.masking import unshuffle_with_mask_tokens
from ..utils.pos_embed import check_sincos_order, sincos_pos_embed_2d
from ..utils.vit_blocks import TransformerBlock


def restore_ids_from_mask(mask: torch.Tensor) -> torch.Tensor:
    """``ids_restore`` (B, L) for tokens given as [visible units in row-major order, masked].

    A stable argsort of the 0/1 mask lists the visible positions first, in increasing order,
    which is exactly the order of the sparse encoder's output.
    """
    return torch.argsort(torch.argsort(mask, dim=1, stable=True), dim=1)


@MODELS.register_module()
class GreenMIMDecoder(BaseModule):
    """Decoder of GreenMIM (MAE style): linear embedding of the visible last-stage tokens, a
    learnable mask token for every masked unit, fixed 2-D sin-cos positions, a few transformer
    blocks and a linear head predicting the pixels of each unit.

    `arXiv:2205.13515 <https://arxiv.org/abs/2205.13515>`_; official recipe "dec512b1":
    512 wide, 1 block, 16 heads.

    Args:
        grid_size (int | tuple): Units per side (Hu, Wu), e.g. 7 for 224 px and 32 px units.
            Defaults to 7.
        unit_size (int): Pixels per unit side, ``patch_size * 2^(S-1)``. Defaults to 32.
        in_chans (int): Image channels. Defaults to 3.
        embed_dims (int): Encoder output width. Defaults to 1024 (Swin-B).
        decoder_embed_dims (int): Defaults to 512.
        decoder_depth (int): Defaults to 1.
        decoder_num_heads (int): Defaults to 16.
        mlp_ratio (float): Defaults to 4.
        norm_eps (float): Defaults to 1e-6 (official).
        sincos_order (str): Channel order of the fixed sin-cos table built at initialisation:
            ``'mae'`` (column code first, the official GreenMIM / MAE ``get_2d_sincos_pos_embed``)
            or ``'mmpretrain'`` (row code first, the order mmdbp used before). Checkpoints carry
            their table (``decoder_pos_embed`` is saved), so this only matters at
            initialisation. Defaults to ``'mae'``.

    Visible tokens are put back in row-major unit order, the order in which the sparse Swin
    encoder emits them. The official decoder instead restores them by the noise order of its
    ``random_masking`` (``ids_restore``), which does not match its own encoder's row-major output:
    there most visible tokens land on another visible unit's position. mmdbp keeps the row-major
    restore, which is what the paper describes (see ``configs/greenmim/README.md``, Fidelity).
    """

    def __init__(self, grid_size: Union[int, Sequence[int]] = 7, unit_size: int = 32,
                 in_chans: int = 3, embed_dims: int = 1024, decoder_embed_dims: int = 512,
                 decoder_depth: int = 1, decoder_num_heads: int = 16, mlp_ratio: float = 4.,
                 norm_eps: float = 1e-6, sincos_order: str = 'mae',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.sincos_order = check_sincos_order(sincos_order, 'GreenMIMDecoder')
        self.grid_size: Tuple[int, int] = (grid_size, grid_size) if isinstance(
            grid_size, int) else tuple(grid_size)
        num_units = self.grid_size[0] * self.grid_size[1]
        self.unit_size = unit_size
        self.in_chans = in_chans
        self.embed_dims = embed_dims
        self.decoder_embed = nn.Linear(embed_dims, decoder_embed_dims)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dims))
        self.decoder_pos_embed = nn.Parameter(
            torch.zeros(1, num_units, decoder_embed_dims), requires_grad=False)
        self.decoder_blocks = nn.ModuleList([
            TransformerBlock(decoder_embed_dims, decoder_num_heads, mlp_ratio, norm_eps=norm_eps)
            for _ in range(decoder_depth)
        ])
        self.decoder_norm = nn.LayerNorm(decoder_embed_dims, eps=norm_eps)
        self.decoder_pred = nn.Linear(decoder_embed_dims, unit_size**2 * in_chans)

    def init_weights(self) -> None:
        super().init_weights()
        Hu, Wu = self.grid_size
        self.decoder_pos_embed.data.copy_(sincos_pos_embed_2d(
            (Hu, Wu), self.decoder_pos_embed.shape[-1], order=self.sincos_order))
        nn.init.normal_(self.mask_token, std=.02)
        init_linears_xavier_(self)

    def forward(self, latent: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """latent: (B, N_vis, C) encoder output of the visible units (row-major);
        mask: (B, L) with 1 = masked. Returns (B, L, unit_size^2 * in_chans)."""
        x = self.decoder_embed(latent)
        x = unshuffle_with_mask_tokens(x, self.mask_token, restore_ids_from_mask(mask))
        x = x + self.decoder_pos_embed.to(x.dtype)
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))
