"""FastMAEViT + FastMAEDecoder against mmpretrain's MAEViT + MAEPretrainDecoder.

Identical weights (through ``convert_vit``), identical masking noise (same seed before each
forward), mmpretrain's own ``MAE`` algorithm and ``MAEPretrainHead``: the loss and every
parameter gradient must agree in fp32.
"""
import re

import pytest
import torch
from mmpretrain.models.necks import MAEPretrainDecoder
from mmpretrain.models.selfsup.mae import MAE, MAEViT

from mmdbp.models.backbones import FastMAEViT
from mmdbp.models.necks import FastMAEDecoder
from mmdbp.models.utils import convert_vit

ARCH = dict(embed_dims=32, num_layers=2, num_heads=4, feedforward_channels=64)
DEC = dict(num_patches=16, patch_size=8, in_chans=3, embed_dim=32, decoder_embed_dim=24,
           decoder_depth=2, decoder_num_heads=3, mlp_ratio=2.)
HEAD = dict(type='MAEPretrainHead', norm_pix=True, patch_size=8,
            loss=dict(type='PixelReconstructionLoss', criterion='L2'))


def decoder_to_mmpretrain(name: str) -> str:
    """FastMAEDecoder key -> MAEPretrainDecoder key (blocks as mmpretrain ViT layers)."""
    m = re.match(r'^decoder_blocks\.(.*)$', name)
    if m:  # blocks.i.* -> layers.i.* (mmpretrain's ViT layer names) -> decoder_blocks.i.*
        key = next(iter(convert_vit({'blocks.' + m.group(1): 0}, 'mmpretrain')))
        return 'decoder_blocks.' + key[len('layers.'):]
    return {'decoder_norm.weight': 'ln1.weight', 'decoder_norm.bias': 'ln1.bias'}.get(name, name)


def model_key_to_mmpretrain(name: str) -> str:
    if name.startswith('backbone.'):
        return 'backbone.' + next(iter(convert_vit({name[9:]: 0}, 'mmpretrain')))
    if name.startswith('neck.'):
        return 'neck.' + decoder_to_mmpretrain(name[5:])
    return name


def build_pair(mask_ratio=0.75):
    torch.manual_seed(0)
    fast = MAE(backbone=dict(type='FastMAEViT', arch=ARCH, img_size=32, patch_size=8,
                             mask_ratio=mask_ratio),
               neck=dict(type='FastMAEDecoder', **DEC), head=HEAD)
    fast.init_weights()
    with torch.no_grad():  # non-trivial norms/biases so that a mis-mapped one shows
        for name, p in fast.named_parameters():
            if 'norm' in name or name.endswith('bias') or 'mask_token' in name:
                p.add_(torch.randn_like(p) * 0.1)
    ref = MAE(backbone=dict(type='MAEViT', arch=dict(ARCH), img_size=32, patch_size=8,
                            mask_ratio=mask_ratio),
              neck=dict(type='MAEPretrainDecoder', **DEC), head=HEAD)
    state = {model_key_to_mmpretrain(k): v for k, v in fast.state_dict().items()}
    ref.load_state_dict(state, strict=True)
    return fast, ref


@pytest.mark.parametrize('mask_ratio', [0.75, 0.5])
def test_mae_loss_and_gradients_match_mmpretrain(mask_ratio):
    fast, ref = build_pair(mask_ratio)
    x = torch.randn(4, 3, 32, 32)
    for seed in (11, 12):  # two steps with different masks
        fast.zero_grad(), ref.zero_grad()
        torch.manual_seed(seed)
        loss = fast.loss(x, [])['loss']
        torch.manual_seed(seed)
        ref_loss = ref.loss(x, [])['loss']
        torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
        loss.backward()
        ref_loss.backward()
        ref_params = dict(ref.named_parameters())
        n_checked = 0
        for name, p in fast.named_parameters():
            rp = ref_params[model_key_to_mmpretrain(name)]
            assert p.requires_grad == rp.requires_grad, name
            if p.requires_grad:
                assert p.grad is not None and rp.grad is not None, name
                torch.testing.assert_close(p.grad, rp.grad, rtol=1e-4, atol=1e-6, msg=name)
                n_checked += 1
        assert n_checked == sum(p.requires_grad for p in ref.parameters())


def test_decoder_matches_mmpretrain_decoder():
    torch.manual_seed(1)
    fast = FastMAEDecoder(**DEC)
    fast.init_weights()
    ref = MAEPretrainDecoder(**DEC)
    ref.load_state_dict({decoder_to_mmpretrain(k): v for k, v in fast.state_dict().items()},
                        strict=True)
    latent = torch.randn(2, 1 + 4, 32)
    ids_restore = torch.stack([torch.randperm(16) for _ in range(2)])
    out = fast(latent, ids_restore)
    assert out.shape == (2, 16, 8 * 8 * 3)
    torch.testing.assert_close(out, ref(latent, ids_restore), rtol=1e-5, atol=1e-5)
    ref_init = MAEPretrainDecoder(**DEC)
    ref_init.init_weights()
    torch.testing.assert_close(fast.decoder_pos_embed, ref_init.decoder_pos_embed)


def test_autocast_dtypes_follow_mmpretrain():
    """Under bf16 autocast both decoders keep an fp32 residual stream (no extra cast in the fast
    path, no lost precision) and give the same prediction up to bf16 rounding."""
    fast, ref = build_pair()
    x = torch.randn(2, 3, 32, 32)
    seen = {}

    def record(name):
        def hook(module, args):
            seen.setdefault(name, args[0].dtype)
        return hook
    fast.neck.decoder_blocks[0].register_forward_pre_hook(record('fast_block_in'))
    fast.neck.decoder_norm.register_forward_pre_hook(record('fast_norm_in'))
    ref.neck.decoder_blocks[0].register_forward_pre_hook(record('ref_block_in'))
    ref.neck.ln1.register_forward_pre_hook(record('ref_norm_in'))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        torch.manual_seed(5)
        latent, mask, ids = fast.backbone(x)
        pred = fast.neck(latent, ids)
        torch.manual_seed(5)
        r_latent, r_mask, r_ids = ref.backbone(x)
        r_pred = ref.neck(r_latent, r_ids)
    assert seen['fast_block_in'] == seen['ref_block_in'] == torch.float32  # residual stream
    assert seen['fast_norm_in'] == seen['ref_norm_in'] == torch.float32
    assert latent.dtype == r_latent.dtype and pred.dtype == r_pred.dtype
    assert mask.dtype == r_mask.dtype == torch.float32
    torch.testing.assert_close(pred.float(), r_pred.float(), rtol=5e-2, atol=5e-2)


def test_bad_num_patches():
    with pytest.raises(ValueError, match='num_patches must be a square number, got 15'):
        FastMAEDecoder(num_patches=15)


def test_fast_mae_step_compiles_to_one_graph():
    """The `compile=True` switch only pays off without graph breaks: the whole MAE loss on the
    fast path (masking, encoder with drop path, decoder, mmpretrain's head) traces as one graph.
    (mmpretrain's MAEViT breaks at every drop-path call: mmcv's DropPath branches on numpy
    rates.)"""
    torch.manual_seed(0)
    model = MAE(backbone=dict(type='FastMAEViT', arch=ARCH, img_size=32, patch_size=8,
                              drop_path_rate=0.1),
                neck=dict(type='FastMAEDecoder', **DEC), head=HEAD)
    torch._dynamo.reset()
    step = torch.compile(lambda x: model.loss(x, [])['loss'], backend='eager', fullgraph=True)
    loss = step(torch.randn(2, 3, 32, 32))
    loss.backward()
    assert torch.isfinite(loss) and model.backbone.blocks[0].attn.qkv.weight.grad is not None
