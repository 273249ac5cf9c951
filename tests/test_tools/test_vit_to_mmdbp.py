"""tools/model_converters/vit_to_mmdbp.py on an official-DeiT-style (timm) checkpoint."""
import torch
from mmpretrain.registry import MODELS
from shared_helpers import load_tool

import mmdbp  # noqa: F401

ARCH = dict(embed_dims=32, num_layers=2, num_heads=4, feedforward_channels=64)
CLS = dict(type='ImageClassifier',
           backbone=dict(type='FastVisionTransformer', arch=ARCH, img_size=32, patch_size=8),
           head=dict(type='VisionTransformerClsHead', num_classes=3, in_channels=32))


def test_official_deit_checkpoint(tmp_path):
    torch.manual_seed(0)
    src = MODELS.build(CLS)
    src.init_weights()
    src.eval()
    # the official DeiT file: {'model': timm names}, head.weight / head.bias, a dist token
    timm = {k[len('backbone.'):].replace('patch_embed.projection', 'patch_embed.proj'): v
            for k, v in src.state_dict().items() if k.startswith('backbone.')}
    timm['head.weight'] = src.head.layers.head.weight
    timm['head.bias'] = src.head.layers.head.bias
    torch.save({'model': timm}, tmp_path / 'deit.pth')
    load_tool('model_converters/vit_to_mmdbp.py').main([str(tmp_path / 'deit.pth'), str(tmp_path / 'out.pth')])

    out = MODELS.build(CLS)
    state = torch.load(tmp_path / 'out.pth', weights_only=False)['state_dict']
    out.load_state_dict(state, strict=True)
    out.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(out(x, mode='tensor'), src(x, mode='tensor'))
