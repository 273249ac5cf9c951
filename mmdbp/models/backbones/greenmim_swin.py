"""GreenMIM's Swin encoder: Swin Transformer on the visible patches only.

`Green Hierarchical Vision Transformer for Masked Image Modeling
<https://arxiv.org/abs/2205.13515>`_ (Huang et al., NeurIPS 2022); official code
`LayneH/GreenMIM <https://github.com/LayneH/GreenMIM>`_.

Like MAE, the masked patches are dropped after the patch embedding; unlike MAE the encoder is a
hierarchical Swin. Masking works on *units* of the last stage (``patch_size * 2^(S-1)`` px,
32 px for Swin), so every stage sees whole 2x2 neighbourhoods and patch merging stays exact.
Window attention runs as Group Window Attention over packed window groups
(:mod:`mmdbp.models.utils.group_window_attention`); the packing (optimal group size by dynamic
programming) is computed once per batch and stage and shared by the stage's blocks.

The parameters are named exactly as in mmpretrain's ``SwinTransformer`` (``patch_embed``,
``stages.i.blocks.j...``, ``stages.i.downsample``, ``norm3``), so the pre-trained encoder loads
into mmpretrain's Swin (``prefix='backbone.'``) and mmseg's Swin directly; see
``tools/model_converters/greenmim_to_swin.py`` for window-size changes and the official
checkpoints.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import PatchEmbed
from mmengine.model import BaseModule, ModuleList
from mmpretrain.models.backbones import SwinTransformer

from mmdbp.registry import MODELS
from ..utils.group_window_attention import GreenMIMSwinBlock
from ..utils.mae_init import init_patch_embed_xavier_
from ..utils.masking import num_kept
from ..utils.sparse_patch_merging import SparsePatchMerging
from ..utils.sparse_swin_layout import SparseSwinLayout, StageLayout, build_sparse_swin_layout
from ..utils.window_grouping import to_device_async

__all__ = ['GreenMIMSwinStage', 'GreenMIMSwin']


def _pair(x: Union[int, Sequence[int]]) -> Tuple[int, int]:
    return (x, x) if isinstance(x, int) else tuple(x)


class GreenMIMSwinStage(nn.Module):
    """Blocks of one stage (even blocks regular windows, odd blocks shifted) and the patch
    merging that follows it (``downsample``, None for the last stage)."""

    def __init__(self, embed_dims: int, depth: int, num_heads: int, window_size: int,
                 drop_paths: Sequence[float], downsample: bool, with_cp: bool = False,
                 merge_order: str = 'unfold', norm_cfg: dict = dict(type='LN'),
                 **block_kwargs) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.embed_dims = embed_dims
        self.blocks = ModuleList([
            GreenMIMSwinBlock(embed_dims, num_heads, window_size, drop_path=drop_paths[i],
                              norm_cfg=norm_cfg, **block_kwargs) for i in range(depth)
        ])
        self.downsample = SparsePatchMerging(
            embed_dims, 2 * embed_dims, norm_cfg, merge_order) if downsample else None

    def forward(self, x: torch.Tensor, layout: StageLayout) -> torch.Tensor:
        """x: (B, N, C) visible tokens -> (B, N, C), before patch merging."""
        for j, block in enumerate(self.blocks):
            groups = layout.window_groups[j % 2]
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(block, x, groups, use_reentrant=False)
            else:
                x = block(x, groups)
        return x

    @property
    def out_channels(self) -> int:
        return self.downsample.out_channels if self.downsample else self.embed_dims


@MODELS.register_module()
class GreenMIMSwin(BaseModule):
    """Swin Transformer encoder for GreenMIM pre-training (visible patches only).

    Args:
        arch (str | dict): ``'tiny'``, ``'small'``, ``'base'``, ``'large'`` (mmpretrain's Swin
            table) or a dict with ``embed_dims``, ``depths``, ``num_heads``. Defaults to 'base'.
        img_size (int | tuple): Input size; must be a multiple of the mask unit
            ``patch_size * 2^(num_stages-1)``. Defaults to 224.
        patch_size (int): Defaults to 4.
        in_channels (int): Defaults to 3.
        window_size (int | Sequence[int]): Window size, one for all stages or one per stage.
            A stage whose grid is not larger than the window uses a window covering the whole
            grid and no shift (as the official code and mmpretrain's Swin); otherwise the window
            must tile the grid. Defaults to 7.
        mask_ratio (float): Fraction of masked units, in [0, 1). Defaults to 0.75.
        mask_per_image (bool): Draw one mask per image (windows of the whole batch are packed
            together) instead of one mask per batch (the official code). Defaults to False.
        drop_rate (float): Dropout after the patch embedding. Defaults to 0.
        drop_path_rate (float): Stochastic depth, linearly increasing. Defaults to 0.
        out_indices (Sequence[int]): Stages returned by the unmasked forward (features for
            downstream use); must contain the last stage. Defaults to (3, ).
        merge_order (str): Patch-merging layout, ``'unfold'`` (mmcv / mmpretrain / mmseg) or
            ``'swin'`` (official Swin). Defaults to 'unfold'.
        grouping_linear_cost (float): lambda of the group-size cost model
            ``G S^2 + lambda G S`` (attention work per group plus per-slot gather, scatter and
            mask work). Defaults to 32: repeated fits on a 2-core CPU with
            ``tools/analysis/greenmim_grouping_stats.py --fit-cost`` gave 28-64 (noisy); refit
            on the training device.
        with_cp (bool): Gradient checkpointing of every block. Defaults to False.
        norm_cfg (dict): Every LayerNorm of the encoder: the patch embedding's, the blocks', the
            patch mergings' and the output norms. Defaults to ``dict(type='LN')`` (eps 1e-5, as
            mmpretrain's and mmseg's ``SwinTransformer``, so a default encoder equals the host
            Swin). The official GreenMIM encoder uses eps 1e-6 everywhere:
            ``dict(type='LN', eps=1e-6)``, which the GreenMIM configs set.
        patch_cfg (dict): Extra arguments of mmcv's ``PatchEmbed`` (its ``norm_cfg`` here
            overrides ``norm_cfg`` for the patch embedding only).
        init_cfg (dict, optional): Defaults to None.
    """

    arch_zoo = SwinTransformer.arch_zoo
    _version = 3  # state-dict version of mmpretrain's SwinTransformer

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Tuple[int, int]] = 224,
                 patch_size: int = 4,
                 in_channels: int = 3,
                 window_size: Union[int, Sequence[int]] = 7,
                 mask_ratio: float = 0.75,
                 mask_per_image: bool = False,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 out_indices: Sequence[int] = (3, ),
                 merge_order: str = 'unfold',
                 grouping_linear_cost: float = 32.,
                 with_cp: bool = False,
                 norm_cfg: dict = dict(type='LN'),
                 patch_cfg: dict = dict(),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ValueError(f'GreenMIMSwin: unknown arch {arch!r}; choose one of '
                                 f'{sorted(set(self.arch_zoo))} or pass a dict.')
            arch = self.arch_zoo[arch.lower()]
        elif not (isinstance(arch, dict)
                  and set(arch) == {'embed_dims', 'depths', 'num_heads'}):
            raise ValueError('GreenMIMSwin: a custom arch must be a dict with exactly the keys '
                             "'embed_dims', 'depths', 'num_heads'.")
        self.embed_dims = arch['embed_dims']
        self.depths = list(arch['depths'])
        self.num_heads = list(arch['num_heads'])
        self.num_layers = len(self.depths)
        self.img_size = _pair(img_size)
        self.patch_size = patch_size
        self.unit_size = patch_size * 2**(self.num_layers - 1)
        if any(s % self.unit_size for s in self.img_size):
            raise ValueError(
                f'GreenMIMSwin: img_size {self.img_size} is not divisible by the mask unit '
                f'{self.unit_size} px (patch_size * 2^(num_stages - 1)); change img_size to a '
                f'multiple of {self.unit_size}.')
        self.unit_grid = tuple(s // self.unit_size for s in self.img_size)
        num_units = self.unit_grid[0] * self.unit_grid[1]
        if not 0. <= mask_ratio < 1.:
            raise ValueError(f'GreenMIMSwin: mask_ratio must be in [0, 1), got {mask_ratio}; '
                             'change mask_ratio.')
        if num_kept(num_units, mask_ratio) < 1:
            raise ValueError(f'GreenMIMSwin: mask_ratio {mask_ratio} keeps no unit of the '
                             f'{num_units} units; lower mask_ratio or enlarge img_size.')
        self.mask_ratio = mask_ratio
        self.mask_per_image = mask_per_image
        self.grouping_linear_cost = grouping_linear_cost
        # the all-visible layout (unmasked feature extraction) depends on nothing but the
        # device: built once per device, on first use
        self._dense_layouts: Dict[torch.device, SparseSwinLayout] = {}
        self.out_indices = tuple(i % self.num_layers for i in out_indices)
        if self.num_layers - 1 not in self.out_indices:
            raise ValueError(f'GreenMIMSwin: out_indices {tuple(out_indices)} must contain the '
                             f'last stage ({self.num_layers - 1}), whose norm ends the encoder.')
        self.stage_windows = self._stage_windows(window_size)

        self.patch_embed = PatchEmbed(**{
            'in_channels': in_channels, 'input_size': self.img_size,
            'embed_dims': self.embed_dims, 'conv_type': 'Conv2d', 'kernel_size': patch_size,
            'stride': patch_size, 'norm_cfg': norm_cfg, **patch_cfg})
        self.drop_after_pos = nn.Dropout(p=drop_rate)
        total = sum(self.depths)
        dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]  # linear decay
        self.stages = ModuleList()
        dims = self.embed_dims
        for i, (depth, heads) in enumerate(zip(self.depths, self.num_heads)):
            self.stages.append(GreenMIMSwinStage(
                dims, depth, heads, self.stage_windows[i][0],
                dpr[sum(self.depths[:i]):sum(self.depths[:i + 1])],
                downsample=i < self.num_layers - 1, with_cp=with_cp,
                merge_order=merge_order, norm_cfg=norm_cfg))
            if i < self.num_layers - 1:
                dims *= 2
        self.num_features = [self.embed_dims * 2**i for i in range(self.num_layers)]
        for i in self.out_indices:
            self.add_module(f'norm{i}', build_norm_layer(norm_cfg, self.num_features[i])[1])

    def _stage_windows(self, window_size) -> List[Tuple[int, int]]:
        """(window, shift) of each stage; raises if a window does not tile its stage."""
        sizes = ([window_size] * self.num_layers if isinstance(window_size, int) else
                 list(window_size))
        if len(sizes) != self.num_layers:
            raise ValueError(f'GreenMIMSwin: window_size needs one value per stage '
                             f'({self.num_layers}), got {window_size}.')
        windows = []
        for i, m in enumerate(sizes):
            h, w = (s // (self.patch_size * 2**i) for s in self.img_size)
            if min(h, w) <= m:  # the window covers the whole (short side of the) grid
                m, shift = min(h, w), 0
            else:
                shift = m // 2
            if h % m or w % m:
                raise ValueError(
                    f'GreenMIMSwin: window_size {sizes[i]} does not tile stage {i} '
                    f'({h}x{w} tokens for img_size {self.img_size}); pick a window size '
                    f'that divides {h} and {w}, or change img_size.')
            windows.append((m, shift))
        return windows

    def init_weights(self) -> None:
        """Xavier-uniform linears and patch embedding, truncated-normal bias tables (as the
        official GreenMIM / MAE code); skipped when loading a pre-trained checkpoint."""
        super().init_weights()
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            return
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif hasattr(m, 'relative_position_bias_table'):
                nn.init.trunc_normal_(m.relative_position_bias_table, std=.02)
        init_patch_embed_xavier_(self.patch_embed.projection)

    # ---------------------------------------------------------------- masking and layout
    def random_unit_mask(self, batch_size: int) -> torch.Tensor:
        """Random mask on the host: (Bm, Hu, Wu) bool, True = masked, with exactly
        ``int(L * (1 - mask_ratio))`` visible units per image; Bm = 1 unless
        ``mask_per_image``."""
        Hu, Wu = self.unit_grid
        L = Hu * Wu
        Bm = batch_size if self.mask_per_image else 1
        rank = torch.rand(Bm, L).argsort(dim=1).argsort(dim=1)
        return (rank >= num_kept(L, self.mask_ratio)).view(Bm, Hu, Wu)

    def build_layout(self, unit_mask: torch.Tensor,
                     device: Optional[torch.device] = None) -> SparseSwinLayout:
        """Visible tokens, window groups and merge indices of all stages for a unit mask."""
        return build_sparse_swin_layout(unit_mask, self.stage_windows,
                                        self.grouping_linear_cost, device)

    def _unit_mask(self, mask, batch_size: int) -> torch.Tensor:
        Hu, Wu = self.unit_grid
        if mask is True:
            return self.random_unit_mask(batch_size)
        if mask is None or mask is False:
            return torch.zeros(1, Hu, Wu, dtype=torch.bool)
        mask = torch.as_tensor(mask).bool().cpu()
        if mask.dim() == 2 and mask.shape[1] == Hu * Wu:
            mask = mask.view(-1, Hu, Wu)
        if mask.dim() != 3 or mask.shape[1:] != (Hu, Wu) or mask.shape[0] not in (1, batch_size):
            raise ValueError(f'GreenMIMSwin: mask must be (1 or B, {Hu}, {Wu}) or '
                             f'(1 or B, {Hu * Wu}) units, got {tuple(mask.shape)}.')
        return mask

    # ---------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor, mask: Union[bool, None, torch.Tensor] = True):
        """Encode images.

        Args:
            x: images (B, in_channels, H, W) of size ``img_size``.
            mask: ``True`` draws a random unit mask (pre-training); a tensor (1 or B, Hu, Wu)
                or (1 or B, L) with 1 = masked uses that mask; ``None``/``False`` keeps every
                patch (feature extraction).

        Returns:
            - masked: ``(latent, mask)``, latent (B, N_vis, C_last) the normalised last-stage
              tokens of the visible units in row-major order, mask (B, L) float, 1 = masked.
            - unmasked: tuple of stage outputs (B, C_i, H_i, W_i) for ``out_indices``, as
              mmpretrain's ``SwinTransformer``.
        """
        B = x.shape[0]
        if tuple(x.shape[-2:]) != self.img_size:
            raise ValueError(f'GreenMIMSwin: input size {tuple(x.shape[-2:])} differs from '
                             f'img_size {self.img_size}; resize the inputs or set img_size.')
        dense = mask is None or mask is False
        unit_mask = self._unit_mask(mask, B)
        if dense:
            if x.device not in self._dense_layouts:
                self._dense_layouts[x.device] = self.build_layout(unit_mask, x.device)
            layout = self._dense_layouts[x.device]
        else:
            layout = self.build_layout(unit_mask, x.device)

        x, _ = self.patch_embed(x)  # B, H0*W0, C
        x = layout.embed(x).squeeze(2)  # B, N0, C
        x = self.drop_after_pos(x)
        outs = []
        for i, stage in enumerate(self.stages):
            stage_layout = layout.stages[i]
            x = stage(x, stage_layout)
            if dense and i in self.out_indices:
                out = getattr(self, f'norm{i}')(x)
                H, W = stage_layout.hw_shape
                outs.append(out.view(B, H, W, -1).permute(0, 3, 1, 2).contiguous())
            if stage.downsample is not None:
                x = stage.downsample(stage_layout.children(x))
        if dense:
            return tuple(outs)
        x = getattr(self, f'norm{self.num_layers - 1}')(x)
        mask = to_device_async(unit_mask.flatten(1).float(), x.device).expand(B, -1)
        return x, mask
