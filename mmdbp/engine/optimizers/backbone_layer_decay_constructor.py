"""Layer-wise learning-rate decay for any model whose backbone is a plain ViT (e.g. UPerNet)."""
import re
from typing import Callable, List, Optional, Tuple

import torch.nn as nn
from mmpretrain.engine.optimizers import LearningRateDecayOptimWrapperConstructor

from mmdbp.registry import OPTIM_WRAPPER_CONSTRUCTORS

_BLOCK = re.compile(r'^backbone\.(?:layers|blocks)\.(\d+)\.')
_STEM = ('backbone.cls_token', 'backbone.pos_embed', 'backbone.patch_embed.',
         'backbone.mask_token')


def vit_layer_depth(num_layers: int) -> Callable[[str], Tuple[int, int]]:
    """``name -> (layer id, num_layers + 2)``: stem 0, block i -> i + 1, everything else
    (final norms, necks, heads) ``num_layers + 1`` (full learning rate)."""
    max_id = num_layers + 2

    def depth(name: str) -> Tuple[int, int]:
        if name.startswith(_STEM):
            return 0, max_id
        match = _BLOCK.match(name)
        if match:
            return int(match.group(1)) + 1, max_id
        return max_id - 1, max_id

    return depth


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class BackboneLayerDecayOptimWrapperConstructor(LearningRateDecayOptimWrapperConstructor):
    """mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` (``lr * decay^(L + 1 - id)``
    with ``layer_decay_rate`` and ``custom_keys`` in ``paramwise_cfg``) for models that do not
    define ``get_layer_depth`` themselves, such as mmseg's ``EncoderDecoder``.

    The depth comes from ``model.backbone.get_layer_depth(name, 'backbone.')`` when the
    backbone has it (mmpretrain's ViTs, mmdbp's ``FastVisionTransformer``), otherwise from the
    block index in ``backbone.layers.i`` / ``backbone.blocks.i`` (mmseg's ``VisionTransformer``)
    with ``len(backbone.layers)`` blocks. So UPerNet on a 54-block ViT decays over 54 blocks,
    and the decode/auxiliary heads train at the base learning rate.
    """

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '',
                   get_layer_depth: Optional[Callable] = None, **kwargs) -> None:
        if prefix == '' and get_layer_depth is None and not hasattr(module, 'get_layer_depth'):
            get_layer_depth = self._backbone_depth(module)
        super().add_params(params, module, prefix=prefix, get_layer_depth=get_layer_depth,
                           **kwargs)

    @staticmethod
    def _backbone_depth(model: nn.Module) -> Callable[[str], Tuple[int, int]]:
        backbone = getattr(model, 'backbone', None)
        if backbone is None:
            raise TypeError(f'{type(model).__name__} has neither get_layer_depth nor a backbone; '
                            'BackboneLayerDecayOptimWrapperConstructor needs one of them.')
        if hasattr(backbone, 'get_layer_depth'):
            return lambda name: backbone.get_layer_depth(name, 'backbone.')
        blocks = getattr(backbone, 'layers', None) or getattr(backbone, 'blocks', None)
        if not isinstance(blocks, nn.ModuleList):
            raise TypeError(f'Cannot find the blocks of {type(backbone).__name__} '
                            '(expected backbone.layers or backbone.blocks as a ModuleList).')
        return vit_layer_depth(len(blocks))
