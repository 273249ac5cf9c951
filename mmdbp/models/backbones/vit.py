"""The one plain ViT of mmdbp, and its MAE encoder.

``FastVisionTransformer`` serves DBP-MAE, MIRL and the token-pruning backbones. It is built from
the shared blocks in :mod:`mmdbp.models.utils.vit_blocks` (fused qkv, SDPA attention) and follows
mmpretrain's ``VisionTransformer`` interface (``arch``, ``out_indices``, ``out_type``,
``get_layer_depth``), so configs read the same; ``mmdbp.models.utils.ckpt_convert`` writes its
weights in mmpretrain's / mmseg's ViT layout.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.utils import resize_pos_embed

from mmdbp.registry import MODELS
from ..utils.ckpt_convert import vit_key_to_mmdbp
from ..utils.mae_init import init_linears_xavier_, init_patch_embed_xavier_
from ..utils.masking import random_masking
from ..utils.pos_embed import check_sincos_order, sincos_pos_embed_2d
from ..utils.vit_blocks import TransformerBlock


def _arch(embed_dims: int, num_layers: int, num_heads: int, mlp_ratio: int = 4) -> Dict[str, int]:
    return dict(embed_dims=embed_dims, num_layers=num_layers, num_heads=num_heads,
                feedforward_channels=embed_dims * mlp_ratio)


class PatchEmbed(nn.Module):
    """Non-overlapping patches by a strided conv: (B, 3, H, W) -> (B, H/p * W/p, C)."""

    def __init__(self, in_channels: int, embed_dims: int, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.projection = nn.Conv2d(in_channels, embed_dims, patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        H, W = x.shape[-2:]
        if H % self.patch_size or W % self.patch_size:
            raise ValueError(f'Input size {H}x{W} is not divisible by the patch size '
                             f'{self.patch_size}: resize/crop/pad the images to a multiple of it.')
        x = self.projection(x)  # B, C, H/p, W/p
        hw = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), hw


@MODELS.register_module()
class FastVisionTransformer(BaseModule):
    """Plain ViT (`Dosovitskiy et al. <https://arxiv.org/abs/2010.11929>`_) with deep variants.

    Args:
        arch (str | dict): A name of :attr:`arch_zoo` (``'small'``, ``'base'``, ``'large'``,
            ``'huge'``, ``'deit-tiny'``, ``'deit-small'``, ``'deit-base'``, and the deep MIRL
            ViTs ``'small-54'`` (ViT-S-54), ``'base-24'``, ``'base-48'`` (ViT-B-48)), or a dict
            with ``embed_dims``, ``num_layers``, ``num_heads``, ``feedforward_channels``
            (mmpretrain's arch-dict keys). Defaults to ``'base'``.
        img_size (int): Input size the position embedding is built for. Defaults to 224.
        patch_size (int): Defaults to 16.
        in_channels (int): Defaults to 3.
        out_indices (int | Sequence[int]): Blocks whose output is returned. Defaults to -1.
        drop_rate (float): Dropout after position embedding and projections. Defaults to 0.
        drop_path_rate (float): Stochastic depth, linearly increasing over blocks. Defaults to 0.
        qkv_bias (bool): Defaults to True.
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-6.
        final_norm (bool): LayerNorm after the last block. Defaults to True.
        out_type (str): ``'cls_token'`` (B, C), ``'featmap'`` (B, C, H, W), ``'avg_featmap'``
            (B, C) or ``'raw'`` (B, N, C). Defaults to ``'cls_token'``.
        with_cls_token (bool): Defaults to True.
        pos_embed_type (str): ``'learned'`` (truncated-normal init) or ``'sincos'`` (fixed 2-D
            sin-cos, as MAE/MIRL). Defaults to ``'learned'``.
        sincos_order (str): Channel order of the ``'sincos'`` table built at initialisation:
            ``'mmpretrain'`` (row code first, mmpretrain's MAE) or ``'mae'`` (column code first,
            the official MAE / MIRL code); see :mod:`mmdbp.models.utils.pos_embed`. Loaded
            checkpoints carry their own table. Defaults to ``'mmpretrain'``.
        frozen_stages (int): Freeze the stem and this many blocks. Defaults to -1.
        init_cfg (dict, optional): mmengine init config.
    """
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny', 'deit-t', 'deit-tiny'], _arch(192, 12, 3)),
        **dict.fromkeys(['s', 'small', 'deit-s', 'deit-small'], _arch(384, 12, 6)),
        **dict.fromkeys(['b', 'base', 'deit-b', 'deit-base'], _arch(768, 12, 12)),
        **dict.fromkeys(['l', 'large'], _arch(1024, 24, 16)),
        **dict.fromkeys(['h', 'huge'], _arch(1280, 32, 16)),
        # Deep ViTs of MIRL (Huang et al., NeurIPS 2023): 12 heads each.
        **dict.fromkeys(['s-12', 'small-12'], _arch(384, 12, 12)),
        **dict.fromkeys(['s-54', 'small-54'], _arch(384, 54, 12)),
        **dict.fromkeys(['b-24', 'base-24'], _arch(768, 24, 12)),
        **dict.fromkeys(['b-48', 'base-48'], _arch(768, 48, 12)),
    }
    OUT_TYPES = ('raw', 'cls_token', 'featmap', 'avg_featmap')
    num_extra_tokens = 1

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: int = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = -1,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 qkv_bias: bool = True,
                 norm_eps: float = 1e-6,
                 final_norm: bool = True,
                 out_type: str = 'cls_token',
                 with_cls_token: bool = True,
                 pos_embed_type: str = 'learned',
                 sincos_order: str = 'mmpretrain',
                 frozen_stages: int = -1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self.parse_arch(arch)
        self.embed_dims = self.arch_settings['embed_dims']
        self.num_layers = self.arch_settings['num_layers']
        self.num_heads = self.arch_settings['num_heads']
        if out_type not in self.OUT_TYPES:
            raise ValueError(f'out_type must be one of {self.OUT_TYPES}, got {out_type!r}.')
        if out_type == 'cls_token' and not with_cls_token:
            raise ValueError('out_type="cls_token" needs with_cls_token=True.')
        if pos_embed_type not in ('learned', 'sincos'):
            raise ValueError(f'pos_embed_type must be "learned" or "sincos", got {pos_embed_type!r}.')
        if img_size % patch_size:
            raise ValueError(f'img_size {img_size} must be divisible by patch_size {patch_size}.')
        self.out_type = out_type
        self.with_cls_token = with_cls_token
        self.pos_embed_type = pos_embed_type
        self.sincos_order = check_sincos_order(sincos_order, type(self).__name__)
        self.final_norm = final_norm
        self.frozen_stages = frozen_stages
        self.num_extra_tokens = int(with_cls_token)

        self.patch_embed = PatchEmbed(in_channels, self.embed_dims, patch_size)
        self.patch_resolution = (img_size // patch_size, img_size // patch_size)
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims)) if with_cls_token else None
        self.pos_embed = nn.Parameter(
            torch.zeros(1, num_patches + self.num_extra_tokens, self.embed_dims),
            requires_grad=pos_embed_type == 'learned')
        self.drop_after_pos = nn.Dropout(drop_rate)

        self.out_indices = self._parse_out_indices(out_indices)
        dpr = torch.linspace(0, drop_path_rate, self.num_layers).tolist()
        self.blocks = nn.ModuleList([
            TransformerBlock(self.embed_dims, self.num_heads,
                             mlp_hidden=self.arch_settings['feedforward_channels'],
                             qkv_bias=qkv_bias, drop=drop_rate, drop_path=dpr[i], norm_eps=norm_eps)
            for i in range(self.num_layers)
        ])
        self.norm = nn.LayerNorm(self.embed_dims, eps=norm_eps) if final_norm else nn.Identity()
        self.norm_avg = (nn.LayerNorm(self.embed_dims, eps=norm_eps)
                         if out_type == 'avg_featmap' else nn.Identity())
        self._register_load_state_dict_pre_hook(self._convert_layout_on_load)
        self._register_load_state_dict_pre_hook(self._resize_pos_embed_on_load)
        self._freeze_stages()

    @classmethod
    def parse_arch(cls, arch: Union[str, dict]) -> Dict[str, int]:
        if isinstance(arch, str):
            key = arch.lower()
            if key not in cls.arch_zoo:
                raise KeyError(f'Unknown ViT arch {arch!r}; choose one of '
                               f'{sorted(set(cls.arch_zoo))} or pass a dict.')
            return dict(cls.arch_zoo[key])
        need = {'embed_dims', 'num_layers', 'num_heads', 'feedforward_channels'}
        if not isinstance(arch, dict) or not need <= set(arch):
            raise ValueError(f'A custom ViT arch must be a dict with keys {sorted(need)}, got {arch}.')
        return dict(arch)

    def _parse_out_indices(self, out_indices) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        parsed = []
        for i in out_indices:
            j = i + self.num_layers if i < 0 else i
            if not 0 <= j < self.num_layers:
                raise ValueError(f'out_indices {i} is out of range for {self.num_layers} blocks.')
            parsed.append(j)
        return tuple(parsed)

    def init_weights(self) -> None:
        super().init_weights()
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            return
        if self.pos_embed_type == 'sincos':
            self.pos_embed.data.copy_(sincos_pos_embed_2d(
                self.patch_resolution, self.embed_dims, cls_token=self.with_cls_token,
                order=self.sincos_order))
        else:
            trunc_normal_(self.pos_embed, std=.02)
        init_patch_embed_xavier_(self.patch_embed.projection)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=.02)
        init_linears_xavier_(self.blocks)

    def _convert_layout_on_load(self, state_dict, prefix, *args, **kwargs) -> None:
        """Accept mmpretrain (DeiT, ViT, MAE), mmseg and timm ViT checkpoints as they are: their
        keys are renamed to this layout (:func:`~mmdbp.models.utils.ckpt_convert.
        convert_vit_to_mmdbp`); mmdbp keys are left alone."""
        for key in [k for k in state_dict if k.startswith(prefix)]:
            new = prefix + vit_key_to_mmdbp(key[len(prefix):])
            if new != key and new not in state_dict:
                state_dict[new] = state_dict.pop(key)

    def _resize_pos_embed_on_load(self, state_dict, prefix, *args, **kwargs) -> None:
        name = prefix + 'pos_embed'
        if name not in state_dict or state_dict[name].shape == self.pos_embed.shape:
            return
        old = state_dict[name]
        if not self.with_cls_token and old.shape[1] == self.pos_embed.shape[1] + 1:
            old = old[:, 1:]
        side = int((old.shape[1] - self.num_extra_tokens)**0.5)
        state_dict[name] = resize_pos_embed(old, (side, side), self.patch_resolution,
                                            'bicubic', self.num_extra_tokens)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.patch_embed, *self.blocks[:self.frozen_stages]]
        if self.frozen_stages >= self.num_layers:
            frozen.append(self.norm)
        for m in frozen:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False
        self.pos_embed.requires_grad = False
        if self.cls_token is not None:
            self.cls_token.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        return self

    def embed(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Patch embedding + position embedding (+ cls token): (B, 3, H, W) -> (B, N, C)."""
        B = x.shape[0]
        x, hw = self.patch_embed(x)
        pos = self.pos_embed
        if hw != self.patch_resolution:
            pos = resize_pos_embed(pos, self.patch_resolution, hw, 'bicubic',
                                   self.num_extra_tokens)
        x = x + pos[:, self.num_extra_tokens:]
        if self.cls_token is not None:
            cls = (self.cls_token + pos[:, :1]).expand(B, -1, -1)
            x = torch.cat([cls, x], dim=1)
        return self.drop_after_pos(x), hw

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x, hw = self.embed(x)
        return self.forward_blocks(x, hw)

    def forward_blocks(self, x: torch.Tensor, hw: Tuple[int, int]) -> Tuple[torch.Tensor, ...]:
        """Blocks (final norm after the last one) on embedded tokens (B, N, C), which may be a
        subset of the patches; returns :meth:`format_output` of the ``out_indices`` blocks."""
        outs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == self.num_layers - 1:
                x = self.norm(x)
            if i in self.out_indices:
                outs.append(self.format_output(x, hw))
        return tuple(outs)

    def format_output(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        if self.out_type == 'raw':
            return x
        if self.out_type == 'cls_token':
            return x[:, 0]
        patches = x[:, self.num_extra_tokens:]
        if self.out_type == 'featmap':
            return patches.reshape(x.shape[0], *hw, -1).permute(0, 3, 1, 2)
        return self.norm_avg(patches.mean(dim=1))

    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Layer depth for layer-wise lr decay (mmpretrain's
        ``LearningRateDecayOptimWrapperConstructor``): stem 0, block i -> i + 1, rest last."""
        num_layers = self.num_layers + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name in ('cls_token', 'pos_embed') or name.startswith('patch_embed'):
            return 0, num_layers
        if name.startswith('blocks.'):
            return int(name.split('.')[1]) + 1, num_layers
        return num_layers - 1, num_layers


@MODELS.register_module()
class FastMAEViT(FastVisionTransformer):
    """MAE encoder (`He et al. <https://arxiv.org/abs/2111.06377>`_) on visible patches only.

    Same weights as :class:`FastVisionTransformer` (fixed sin-cos positions by default), so the
    pre-trained encoder fine-tunes without conversion. ``forward(x)`` keeps MAE's contract, as
    mmpretrain's ``MAEViT`` (so mmpretrain's ``MAE`` algorithm, ``MAEPretrainHead`` and
    mmdbp's / mmpretrain's decoders plug in): returns ``(latent, mask, ids_restore)`` with latent
    (B, 1 + K, C), mask (B, L) (1 = removed) and ids_restore (B, L).

    Args:
        arch (str | dict): As :class:`FastVisionTransformer` (first, as in mmpretrain's
            ``MAEViT``). Defaults to ``'base'``.
        mask_ratio (float): Fraction of patches removed. Defaults to 0.75.
        pos_embed_type (str): Defaults to ``'sincos'`` (fixed, as MAE).
        **kwargs: :class:`FastVisionTransformer` arguments (``out_type`` is ``'raw'``).
    """

    def __init__(self, arch: Union[str, dict] = 'base', mask_ratio: float = 0.75,
                 pos_embed_type: str = 'sincos', **kwargs) -> None:
        kwargs.setdefault('out_type', 'raw')
        super().__init__(arch=arch, pos_embed_type=pos_embed_type, **kwargs)
        if not 0. <= mask_ratio < 1.:
            raise ValueError(f'mask_ratio must be in [0, 1), got {mask_ratio}.')
        self.mask_ratio = mask_ratio

    def embed_visible(self, x: torch.Tensor
                      ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """MAE's embedding of a random subset: patch + position embedding, random masking, then
        the cls token (no dropout).

        Returns:
            tuple: visible tokens (B, 1 + K, C), cls first; mask (B, L), 1 = removed;
            ids_restore (B, L).
        """
        B = x.shape[0]
        x, hw = self.patch_embed(x)  # B, L, C
        if hw != self.patch_resolution:
            p = self.patch_embed.patch_size
            raise ValueError(
                f'{type(self).__name__} was built for {self.patch_resolution[0] * p}x'
                f'{self.patch_resolution[1] * p} px inputs (img_size) but got '
                f'{hw[0] * p}x{hw[1] * p}: set the backbone\'s img_size (and the decoder\'s / '
                f'neck\'s num_patches) to the pipeline\'s crop size.')
        x = x + self.pos_embed[:, self.num_extra_tokens:]
        visible, mask, ids_restore, _ = random_masking(x, self.mask_ratio)  # B, K, C
        if self.cls_token is not None:
            cls = (self.cls_token + self.pos_embed[:, :1]).expand(B, -1, -1)
            visible = torch.cat([cls, visible], dim=1)
        return visible, mask, ids_restore

    def forward(self, x: torch.Tensor, mask: Optional[bool] = True):
        if not mask:
            return super().forward(x)
        visible, mask, ids_restore = self.embed_visible(x)
        for block in self.blocks:
            visible = block(visible)
        return self.norm(visible), mask, ids_restore
