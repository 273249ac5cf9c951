"""mmpretrain / mmseg / timm ViT layouts -> mmdbp: offline conversion and load-time mapping, with
mmpretrain's own ViT as the reference for outputs."""
import torch
from mmpretrain.models import VisionTransformer as PretrainViT

from mmdbp.models.backbones import DynamicViT, EViT, FastVisionTransformer
from mmdbp.models.utils import convert_vit, convert_vit_to_mmdbp

ARCH = dict(embed_dims=32, num_layers=4, num_heads=4, feedforward_channels=64)


def dense():
    torch.manual_seed(0)
    model = FastVisionTransformer(ARCH, img_size=32, patch_size=8)
    model.init_weights()
    return model


def test_round_trip_through_host_layouts():
    state = dense().state_dict()
    for target in ('mmpretrain', 'mmseg'):
        back = convert_vit_to_mmdbp(convert_vit(state, target))
        assert set(back) == set(state), target
        for k, v in state.items():
            torch.testing.assert_close(back[k], v)
    assert convert_vit_to_mmdbp(state).keys() == state.keys()  # identity on mmdbp keys


def test_mmpretrain_classifier_checkpoint_loads_as_is(tmp_path):
    """An mmpretrain DeiT-layout checkpoint initialises the pruning backbones through
    init_cfg=Pretrained without conversion; outputs match mmpretrain's ViT."""
    ref = PretrainViT(dict(ARCH), img_size=32, patch_size=8)
    ref.init_weights()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ref.eval()
    ckpt = tmp_path / 'deit_mmpretrain.pth'
    torch.save({'state_dict': {'backbone.' + k: v for k, v in ref.state_dict().items()}}, ckpt)
    x = torch.randn(2, 3, 32, 32)
    init = dict(type='Pretrained', checkpoint=str(ckpt), prefix='backbone.')
    for model in (DynamicViT(keep_ratio=1.0, pruning_locs=(1, 2), arch=ARCH, img_size=32,
                             patch_size=8, init_cfg=init),
                  EViT(keep_rate=1.0, pruning_locs=(1, 2), arch=ARCH, img_size=32, patch_size=8,
                       init_cfg=init)):
        model.init_weights()
        model.eval()
        torch.testing.assert_close(model(x)[0], ref(x)[0], rtol=1e-4, atol=1e-4)


def test_timm_layout_loads():
    src = dense()
    timm = {k.replace('patch_embed.projection', 'patch_embed.proj'): v
            for k, v in src.state_dict().items()}
    model = FastVisionTransformer(ARCH, img_size=32, patch_size=8)
    model.load_state_dict(timm, strict=True)
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(model.eval()(x)[0], src.eval()(x)[0])
