"""GreenMIM's full-size configs are consistent, and their encoders fit the fine-tuning configs
key for key and shape for shape (models built on the meta device: no memory, no time)."""
import functools
import os.path as osp
from unittest import mock

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmdbp  # noqa: F401
from mmdbp.models.utils.greenmim_ckpt_convert import convert_greenmim_to_swin
from mmdbp.registry import MODELS

PRETRAIN = {
    'base-w7': 'greenmim_swin-base-w7_8xb256-amp-coslr-800e_in1k.py',
    'base-w14': 'greenmim_swin-base-w14_8xb256-amp-coslr-800e_in1k.py',
    'large-w14': 'greenmim_swin-large-w14_8xb256-amp-coslr-800e_in1k.py',
}
# (pre-training, downstream config, window of the downstream Swin if it changes)
TRANSFER = [
    ('base-w7', 'benchmarks/swin-base-w7_greenmim-800e-pre_8xb256-coslr-100e_in1k.py', None),
    ('large-w14', 'benchmarks/swin-large-w14_greenmim-800e-pre_8xb256-coslr-100e_in1k.py', None),
    ('base-w7', 'benchmarks/upernet_swin-base-w7_greenmim-800e-pre_8xb2-160k_ade20k-512x512.py',
     None),
    ('large-w14',
     'benchmarks/upernet_swin-large-w12_greenmim-800e-pre_8xb2-160k_ade20k-512x512.py', 12),
]


def load(repo_root, name):
    return Config.fromfile(osp.join(repo_root, 'configs', 'greenmim', name))


def build_on_meta(cfg):
    # the host Swins read their drop-path rates with torch.linspace(...).item(): keep that one
    # factory on the CPU
    cpu_linspace = functools.partial(torch.linspace, device='cpu')
    with DefaultScope.overwrite_default_scope(cfg.default_scope), torch.device('meta'), \
            mock.patch('torch.linspace', cpu_linspace):
        return MODELS.build(cfg.model)


@pytest.mark.parametrize('key', sorted(PRETRAIN))
def test_pretraining_configs_are_consistent(repo_root, key):
    cfg = load(repo_root, PRETRAIN[key])
    model = build_on_meta(cfg)
    bb, neck, head = model.backbone, model.neck, model.head
    assert neck.decoder_embed.in_features == bb.num_features[-1]
    assert tuple(neck.grid_size) == bb.unit_grid
    assert head.unit_size == bb.unit_size == 32
    assert neck.decoder_pred.out_features == 32 * 32 * 3
    assert bb.mask_ratio == 0.75 and not bb.mask_per_image
    meta = yaml.safe_load(open(osp.join(repo_root, 'configs', 'greenmim', 'metafile.yml')))
    entry = next(m for m in meta['Models'] if m['Name'] == PRETRAIN[key][:-3])
    assert entry['Metadata']['Parameters'] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('key,downstream,window', TRANSFER)
def test_encoder_fits_downstream_backbone(repo_root, key, downstream, window):
    encoder = build_on_meta(load(repo_root, PRETRAIN[key])).backbone.state_dict()
    weights = convert_greenmim_to_swin(encoder, window_size=window)
    host = build_on_meta(load(repo_root, downstream)).backbone.state_dict()
    # every pre-trained tensor has its place, with the same shape; the host adds only the
    # norms of the extra outputs (mmseg's norm0-2)
    assert set(weights) <= set(host)
    assert all(weights[k].shape == host[k].shape for k in weights)
    assert {k.split('.')[0] for k in set(host) - set(weights)} <= {'norm0', 'norm1', 'norm2'}
