"""UPerNet (MultiLevelNeck + UPerHead + FCN auxiliary head) on the pruning backbones: prediction
shape equals the label map in whole and sliding inference (any input size), and the training
losses include DynamicViT's keep-ratio loss."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.registry import MODELS  # mmseg's scope, as configs with default_scope='mmseg'
from mmseg.structures import SegDataSample

import mmdbp  # noqa: F401  (registers mmdbp's components)

ARCH = dict(embed_dims=32, num_layers=4, num_heads=4, feedforward_channels=64)
BACKBONES = {
    'dense': dict(type='FastVisionTransformer', arch=ARCH, img_size=32, patch_size=8,
                  out_type='featmap', out_indices=(0, 1, 2, 3)),
    'dynamicvit': dict(type='DynamicViTSeg', arch=ARCH, img_size=32, patch_size=8,
                       keep_ratio=0.7, pruning_locs=(1, 2), out_indices=(0, 1, 2, 3)),
    'evit': dict(type='EViTSeg', arch=ARCH, img_size=32, patch_size=8, keep_rate=0.7,
                 pruning_locs=(1, 2), out_indices=(0, 1, 2, 3)),
}


@pytest.fixture(autouse=True)
def mmseg_scope():
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


def upernet(backbone, mode='whole', segmentor='TokenPruningEncoderDecoder'):
    norm = dict(type='BN', requires_grad=True)
    test_cfg = ConfigDict(mode='whole') if mode == 'whole' else ConfigDict(
        mode='slide', crop_size=(32, 32), stride=(24, 24))
    return MODELS.build(dict(
        type=segmentor,
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1]),
        backbone=backbone,
        neck=dict(type='MultiLevelNeck', in_channels=[32] * 4, out_channels=32,
                  scales=[4, 2, 1, 0.5]),
        decode_head=dict(type='UPerHead', in_channels=[32] * 4, in_index=[0, 1, 2, 3],
                         pool_scales=(1, 2), channels=16, num_classes=5, norm_cfg=norm,
                         align_corners=False),
        auxiliary_head=dict(type='FCNHead', in_channels=32, in_index=3, channels=16,
                            num_convs=1, concat_input=False, num_classes=5, norm_cfg=norm,
                            align_corners=False,
                            loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4)),
        test_cfg=test_cfg))


def sample(h, w):
    s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
    s.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, h, w)))
    return s


@pytest.mark.parametrize('name', ['dynamicvit', 'evit'])
@pytest.mark.parametrize('mode', ['whole', 'slide'])
def test_prediction_shape_equals_the_label_map(name, mode):
    model = upernet(BACKBONES[name], mode)
    model.init_weights()
    model.eval()
    h, w = 44, 52  # not multiples of the patch size: padded inside the backbone
    with torch.no_grad():
        preds = model.predict(torch.randn(2, 3, h, w), [sample(h, w), sample(h, w)])
    for p in preds:
        assert p.pred_sem_seg.data.shape == p.gt_sem_seg.data.shape == (1, h, w)
        assert p.seg_logits.data.shape == (5, h, w)


@pytest.mark.parametrize('name', list(BACKBONES))
def test_training_losses(name):
    torch.manual_seed(0)
    model = upernet(BACKBONES[name])
    model.init_weights()
    model.train()
    losses = model.loss(torch.randn(2, 3, 32, 32), [sample(32, 32), sample(32, 32)])
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    assert ('loss_ratio' in losses) == (name == 'dynamicvit')
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    if name == 'dynamicvit':
        assert all(p.grad is not None for p in model.backbone.predictors.parameters())


def test_ratio_loss_can_be_disabled():
    model = upernet(BACKBONES['dynamicvit'])
    model.ratio_loss = None
    losses = model.train().loss(torch.randn(2, 3, 32, 32), [sample(32, 32), sample(32, 32)])
    assert 'loss_ratio' not in losses
