"""BackboneLayerDecayOptimWrapperConstructor: layer-wise lr for UPerNet on a plain ViT."""
import pytest
import torch.nn as nn
from mmengine.registry import init_default_scope

from mmdbp.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

BASE_LR, DECAY, LAYERS = 1e-3, 0.5, 4


def upernet(backbone):
    init_default_scope('mmseg')
    head = dict(type='FCNHead', in_channels=16, in_index=0, channels=8, num_convs=1,
                num_classes=3, norm_cfg=dict(type='BN'))
    return MODELS.build(dict(type='EncoderDecoder', backbone=backbone, decode_head=head))


def lrs(model):
    cfg = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=0.05))
    paramwise = dict(layer_decay_rate=DECAY, custom_keys={'bias': dict(decay_mult=0.)})
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='BackboneLayerDecayOptimWrapperConstructor', optim_wrapper_cfg=cfg,
        paramwise_cfg=paramwise))
    wrapper = constructor(model)
    return {g['param_name']: g for g in wrapper.optimizer.param_groups}


def expected_scale(name):
    """stem -> decay^(L+1), block i -> decay^(L-i), everything else -> 1."""
    if name.startswith(('backbone.cls_token', 'backbone.pos_embed', 'backbone.patch_embed')):
        return DECAY**(LAYERS + 1)
    for key in ('backbone.layers.', 'backbone.blocks.'):
        if name.startswith(key):
            return DECAY**(LAYERS - int(name[len(key):].split('.')[0]))
    return 1.


@pytest.mark.parametrize('backbone', [
    dict(type='VisionTransformer', img_size=(16, 16), patch_size=4, embed_dims=16,
         num_layers=LAYERS, num_heads=2, out_indices=(3, ), patch_bias=True),
    dict(type='FastVisionTransformer', arch=dict(embed_dims=16, num_layers=LAYERS, num_heads=2,
         feedforward_channels=32), img_size=16, patch_size=4, out_type='featmap',
         out_indices=(3, )),
], ids=['mmseg-vit', 'mmdbp-vit'])
def test_layer_wise_lr(backbone):
    groups = lrs(upernet(backbone))
    blocks = [n for n in groups if '.layers.' in n or '.blocks.' in n]
    assert len(blocks) > LAYERS  # every block parameter has its own group
    for name, group in groups.items():
        assert group['lr'] == pytest.approx(BASE_LR * expected_scale(name)), name
    assert groups['backbone.pos_embed']['lr'] == pytest.approx(BASE_LR * DECAY**5)
    bias = next(n for n in groups if n.endswith('.bias'))
    assert groups[bias]['weight_decay'] == 0.


def test_model_without_backbone_is_an_error():
    with pytest.raises(TypeError, match='get_layer_depth nor a backbone'):
        lrs(nn.Sequential(nn.Linear(2, 2)))
