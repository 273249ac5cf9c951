"""GreenMIM checkpoints -> backbone weights for mmpretrain's and mmseg's ``SwinTransformer``.

mmdbp's :class:`~mmdbp.models.backbones.GreenMIMSwin` already uses the host Swin layout, so its
``backbone.*`` weights load into both hosts as they are (mmpretrain: ``init_cfg=dict(
type='Pretrained', checkpoint=..., prefix='backbone.')``; mmseg strips ``backbone.`` itself).
This converter is for the remaining cases:

- **Window size changes** (e.g. window 7 pre-training -> window 12 for UPerNet at 512 px):
  every ``relative_position_bias_table`` is resized bicubically as a (2M-1) x (2M-1) image per
  head, as mmseg's ``SwinTransformer.init_weights`` does, and ``relative_position_index`` is
  rebuilt for the new window, so the result loads with ``strict=True``.
- **Official GreenMIM checkpoints** (LayneH/GreenMIM, timm-style names under ``encoder.``):

  ===========================================  ==========================================
  official                                     mmpretrain / mmseg Swin
  ===========================================  ==========================================
  encoder.patch_embed.proj                     patch_embed.projection
  encoder.layers.i.blocks.j.attn.*             stages.i.blocks.j.attn.w_msa.*
  encoder.layers.i.blocks.j.mlp.fc1 / fc2      stages.i.blocks.j.ffn.layers.0.0 / layers.1
  encoder.layers.i.downsample.*                stages.i.downsample.* (4C order permuted)
  encoder.norm                                 norm3
  ===========================================  ==========================================

  Their patch merging concatenates ``x0, x1, x2, x3`` (Swin's order); mmcv's ``nn.Unfold``
  layout is channel-major, so the 4C columns of ``reduction`` and the ``norm`` parameters are
  permuted (as mmpretrain's and mmseg's own ``swin2*`` converters do). The official encoder
  uses LayerNorm eps 1e-6 everywhere, the patch embedding's norm included (hosts: 1e-5):
  ``GreenMIMSwin(norm_cfg=dict(type='LN', eps=1e-6))`` (as the GreenMIM configs) computes the
  official pre-training encoder exactly. Fine-tuning in the hosts keeps their eps 1e-5, as the
  official fine-tuning does (GreenMIM fine-tunes with SimMIM's Swin code, default LayerNorm).
- **Official GreenMIM pre-training models** (encoder and decoder) into mmdbp's ``GreenMIM``
  (:func:`convert_official_greenmim_model`): the encoder as above under ``backbone.``, the
  MAE-style decoder (``decoder_embed``, ``mask_token``, ``decoder_pos_embed``,
  ``decoder_blocks.i.*`` in timm's block names, ``decoder_norm``, ``decoder_pred``) under
  ``neck.`` with the same names. The stored ``decoder_pos_embed`` is carried over, so the
  official table (column code first) is used whatever ``sincos_order`` the decoder was built
  with.
"""
import re
from collections import OrderedDict
from typing import Dict, Mapping, Sequence, Union

import torch
import torch.nn.functional as F

from .group_window_attention import relative_position_index

__all__ = ['swin_to_unfold_order', 'resize_relative_position_bias_table',
           'convert_official_greenmim', 'convert_official_greenmim_model',
           'convert_greenmim_to_swin']

_OFFICIAL_RULES = [
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^layers\.(\d+)\.', r'stages.\1.'),
    (r'\.attn\.', '.attn.w_msa.'),
    (r'\.mlp\.fc1\.', '.ffn.layers.0.0.'),
    (r'\.mlp\.fc2\.', '.ffn.layers.1.'),
]


def swin_to_unfold_order(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Reorder a 4C axis from Swin's ``cat(x0, x1, x2, x3)`` to mmcv's unfold layout
    (``c * 4 + k``, children k row-major)."""
    C = x.shape[dim] // 4
    k = torch.tensor([0, 2, 1, 3])  # row-major child -> position in Swin's concatenation
    perm = (k.view(1, 4) * C + torch.arange(C).view(C, 1)).reshape(-1)  # index c * 4 + k
    return x.index_select(dim, perm)


def resize_relative_position_bias_table(table: torch.Tensor, window_size: int) -> torch.Tensor:
    """((2M-1)^2, h) -> ((2M'-1)^2, h), bicubic per head (as mmseg's Swin loader)."""
    L, h = table.shape
    src = int(round(L**0.5))
    dst = 2 * window_size - 1
    if src * src != L:
        raise ValueError(f'relative_position_bias_table has {L} rows, not a square number.')
    if src == dst:
        return table
    img = table.t().reshape(1, h, src, src).float()
    img = F.interpolate(img, size=(dst, dst), mode='bicubic')
    return img.reshape(h, dst * dst).t().contiguous().to(table.dtype)


def convert_official_greenmim(state_dict: Mapping[str, torch.Tensor],
                              num_stages: int = 4) -> Dict[str, torch.Tensor]:
    """Official GreenMIM encoder weights (``encoder.*`` or bare) -> host Swin layout."""
    out = OrderedDict()
    has_encoder = any(k.startswith('encoder.') for k in state_dict)
    for key, value in state_dict.items():
        if has_encoder:
            if not key.startswith('encoder.'):
                continue  # decoder, mask token
            key = key[len('encoder.'):]
        if key.startswith('norm.'):
            key = f'norm{num_stages - 1}.' + key[len('norm.'):]
        for pattern, repl in _OFFICIAL_RULES:
            key = re.sub(pattern, repl, key)
        if '.downsample.' in key:
            value = swin_to_unfold_order(value, dim=-1)
        out[key] = value
    return out


_OFFICIAL_DECODER = re.compile(
    r'^(decoder_embed\.|mask_token$|decoder_pos_embed$|decoder_blocks\.\d+\.'
    r'(norm1|attn\.qkv|attn\.proj|norm2|mlp\.fc1|mlp\.fc2)\.|decoder_norm\.|decoder_pred\.)')


def convert_official_greenmim_model(state_dict: Mapping[str, torch.Tensor],
                                    num_stages: int = 4) -> Dict[str, torch.Tensor]:
    """An official GreenMIM pre-training state dict (``checkpoint['model']``: ``encoder.*``
    and the decoder) -> mmdbp ``GreenMIM`` keys (``backbone.*``, ``neck.*``).

    Raises:
        KeyError: keys that are neither encoder nor decoder weights of the official model.
    """
    unknown = [k for k in state_dict
               if not k.startswith('encoder.') and not _OFFICIAL_DECODER.match(k)]
    if unknown:
        raise KeyError(f'{len(unknown)} key(s) are not weights of the official GreenMIM model '
                       f'(encoder.* or the MAE-style decoder): {unknown[:20]}.')
    out = OrderedDict(('backbone.' + k, v)
                      for k, v in convert_official_greenmim(state_dict, num_stages).items())
    out.update(('neck.' + k, v) for k, v in state_dict.items() if not k.startswith('encoder.'))
    return out


def convert_greenmim_to_swin(state_dict: Mapping[str, torch.Tensor],
                             window_size: Union[None, int, Sequence[int]] = None,
                             src_format: str = 'auto',
                             merge_order: str = 'unfold') -> Dict[str, torch.Tensor]:
    """Backbone weights (no prefix) for mmpretrain's / mmseg's ``SwinTransformer``.

    Args:
        state_dict: a GreenMIM checkpoint's state dict: mmdbp (``backbone.*``, neck and head
            are dropped) or official (``encoder.*``).
        window_size: target window, one for all stages or one per stage; None keeps the
            pre-training windows.
        src_format: ``'mmdbp'``, ``'official'`` or ``'auto'`` (by the key names).
        merge_order: patch-merging layout of an mmdbp checkpoint (``GreenMIMSwin``'s
            ``merge_order``); ``'swin'`` weights are permuted to the hosts' unfold layout.

    Returns:
        The converted backbone state dict.
    """
    if src_format == 'auto':
        src_format = 'official' if any(
            k.startswith(('encoder.', 'layers.')) for k in state_dict) else 'mmdbp'
    if src_format == 'official':
        weights = convert_official_greenmim(state_dict)
    elif src_format == 'mmdbp':
        has_prefix = any(k.startswith('backbone.') for k in state_dict)
        weights = OrderedDict(
            (k[len('backbone.'):] if has_prefix else k, v) for k, v in state_dict.items()
            if k.startswith('backbone.') or not has_prefix)
        if merge_order == 'swin':
            for k in weights:
                if '.downsample.' in k:
                    weights[k] = swin_to_unfold_order(weights[k], dim=-1)
        elif merge_order != 'unfold':
            raise ValueError(f"merge_order must be 'unfold' or 'swin', got {merge_order!r}.")
    else:
        raise ValueError(f"src_format must be 'auto', 'mmdbp' or 'official', got {src_format!r}.")
    if not any(k.startswith('stages.') for k in weights):
        raise ValueError('No Swin encoder weights found (expected backbone.stages.* or '
                         'encoder.layers.* keys).')

    if window_size is not None:
        num_stages = 1 + max(int(k.split('.')[1]) for k in weights if k.startswith('stages.'))
        windows = [window_size] * num_stages if isinstance(window_size, int) else list(window_size)
        if len(windows) != num_stages:
            raise ValueError(f'window_size needs one value per stage ({num_stages}), '
                             f'got {window_size}.')
        for k in list(weights):
            if k.endswith('relative_position_bias_table'):
                w = windows[int(k.split('.')[1])]
                weights[k] = resize_relative_position_bias_table(weights[k], w)
                weights[k.replace('bias_table', 'index')] = relative_position_index(w)
    return weights
