"""DeviceDecodeRandomResizedCrop + DeviceDecodeDataPreprocessor against mmpretrain's pipeline.

The device path is checked on the CPU (``torchvision.io.decode_jpeg`` decodes there too): with
the same numpy seed it cuts the same boxes and flips as LoadImageFromFile + RandomResizedCrop
(Pillow bicubic) + RandomFlip, and after normalisation its batch equals the host pipeline's batch
through SelfSupDataPreprocessor(to_rgb=True) within the interpolation bounds of
test_fast_resized_crop.py (mean |difference| <= 0.3 grey levels, <= 0.5% of values off by > 1).
Files the device cannot take (here a PNG) are decoded in the worker and give the same result.
"""
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose, default_collate, pseudo_collate
from mmengine.registry import DefaultScope
from PIL import Image

import mmdbp  # noqa: F401
from mmdbp.datasets.transforms import DEVICE_DECODE_META_KEYS, DeviceDecodeDataPreprocessor

from test_fast_resized_crop import MEAN_BOUND, OFF_BY_MORE_THAN_1, texture

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


@pytest.fixture
def files(tmp_path):
    paths = []
    for i, (h, w) in enumerate([(120, 160), (200, 150), (90, 90)]):
        p = tmp_path / f'{i}.jpg'
        Image.fromarray(texture(h, w, seed=i)).save(p, 'JPEG', quality=90, subsampling=2)
        paths.append(str(p))
    png = tmp_path / 'x.png'
    Image.fromarray(texture(100, 130, seed=9)).save(png)
    return paths + [str(png)]


def test_device_batch_equals_host_batch(files):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        host = Compose([dict(type='LoadImageFromFile'),
                        dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.0),
                             backend='pillow', interpolation='bicubic'),
                        dict(type='RandomFlip', prob=0.5), dict(type='PackInputs')])
        dev = Compose([dict(type='DeviceDecodeRandomResizedCrop', scale=64,
                            crop_ratio_range=(0.2, 1.0), interpolation='bicubic', flip_prob=0.5),
                       dict(type='PackInputs', meta_keys=DEVICE_DECODE_META_KEYS)])
        from mmpretrain.models.utils.data_preprocessor import SelfSupDataPreprocessor
    ref_pre = SelfSupDataPreprocessor(mean=MEAN, std=STD, to_rgb=True)
    dev_pre = DeviceDecodeDataPreprocessor(scale=64, mean=MEAN, std=STD)
    flips, on_device = set(), set()
    for seed in range(3):
        np.random.seed(seed)
        ref_samples = [host(dict(img_path=p, sample_idx=i)) for i, p in enumerate(files)]
        np.random.seed(seed)
        dev_samples = [dev(dict(img_path=p, sample_idx=i)) for i, p in enumerate(files)]
        for r, d in zip(ref_samples, dev_samples):
            assert r['data_samples'].flip == d['data_samples'].flip
            flips.add(d['data_samples'].flip)
            on_device.add(d['data_samples'].decode_on_device)
        ref = ref_pre(default_collate(ref_samples))['inputs']
        out = dev_pre(pseudo_collate(dev_samples))['inputs']
        assert out.shape == ref.shape == (4, 3, 64, 64)
        std = torch.tensor(STD).view(1, 3, 1, 1)
        diff = ((out - ref) * std).abs()  # grey levels
        assert diff.mean() <= MEAN_BOUND and (diff > 1.01).float().mean() <= OFF_BY_MORE_THAN_1, \
            (seed, diff.mean(), (diff > 1.01).float().mean())
    assert flips == {True, False} and on_device == {True, False}


def test_preprocessor_refuses_other_filters():
    with pytest.raises(ValueError, match='bicubic'):
        DeviceDecodeDataPreprocessor(scale=64, interpolation='lanczos')
