"""The MIRL algorithm: build-time checks, loss wiring, stop-gradient through the model,
reconstructions."""
import copy

import pytest
import torch

from mmdbp.registry import MODELS

ARCH = dict(embed_dims=16, num_layers=4, num_heads=2, feedforward_channels=32)


def cfg(**over):
    c = dict(
        type='MIRL',
        backbone=dict(type='MIRLViT', arch=ARCH, img_size=16, patch_size=4, num_segments=4,
                      mask_ratio=0.75),
        neck=dict(type='MIRLMultiDecoder', num_segments=4, num_patches=16, patch_size=4,
                  embed_dim=16, decoder_embed_dim=8, decoder_depth=1, decoder_num_heads=2),
        head=dict(type='MIRLPretrainHead', patch_size=4),
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[127.5] * 3,
                               std=[127.5] * 3, to_rgb=True))
    for key, value in over.items():
        c[key].update(value)
    return c


def build(**over):
    torch.manual_seed(0)
    model = MODELS.build(cfg(**over))
    model.init_weights()
    return model


def test_build_time_errors_say_what_to_change():
    with pytest.raises(ValueError, match='neck.num_segments=2 but the backbone has 4'):
        build(neck=dict(num_segments=2))
    with pytest.raises(ValueError, match='neck.embed_dim=32'):
        build(neck=dict(embed_dim=32))
    with pytest.raises(ValueError, match='neck.num_patches=64'):
        build(neck=dict(num_patches=64))
    with pytest.raises(ValueError, match='patch_size'):
        build(head=dict(patch_size=2))
    with pytest.raises(ValueError, match='pair_weights has 3 entries but there are 2 pairs'):
        build(head=dict(loss=dict(type='MIRLResidualLoss', pair_weights=[1, 1, 1])))
    with pytest.raises(ValueError, match='out of range'):
        build(backbone=dict(num_segments=None, segment_ends=[0, 9]))
    with pytest.raises(ValueError, match='even number'):
        build(backbone=dict(num_segments=1))
    with pytest.raises(ValueError, match='divisible'):
        build(neck=dict(decoder_num_heads=3))


def test_loss_keys_and_finite():
    model = build()
    imgs = torch.rand(2, 3, 16, 16) * 255
    data = model.data_preprocessor(dict(inputs=imgs.to(torch.uint8), data_samples=None), True)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert set(losses) == {'loss', 'pair0_mse', 'pair1_mse'}
    assert torch.isfinite(losses['loss'])
    loss, log_vars = model.parse_losses(losses)
    torch.testing.assert_close(loss, losses['loss'])  # the pair logs are not added again
    assert {'pair0_mse', 'pair1_mse'} <= set(log_vars)


@pytest.mark.parametrize('detach', [False, True])
def test_stop_gradient_reaches_the_shallowest_pixel_head_only_without_detach(detach):
    model = build(head=dict(loss=dict(type='MIRLResidualLoss', detach_shallow=detach)))
    x = torch.randn(2, 3, 16, 16)
    model.loss(x, None)['loss'].backward()
    shallow_head = model.neck.decoders[0].pred.weight.grad
    deep_head = model.neck.decoders[3].pred.weight.grad
    assert deep_head is not None and deep_head.abs().sum() > 0
    if detach:  # p_0 only enters the loss through the (detached) pair sum
        assert shallow_head is None or shallow_head.abs().sum() == 0
    else:
        assert shallow_head.abs().sum() > 0
    # The shallow encoder segment still learns (through the deeper decoders' context).
    assert model.backbone.blocks[0].attn.qkv.weight.grad.abs().sum() > 0


def test_reconstruct_sums_main_and_residual():
    model = build().eval()
    x = torch.randn(2, 3, 16, 16)
    out = model.reconstruct(x)
    for k in range(2):
        assert out[f'pair{k}_sum'].shape == x.shape
    # sum - main = residual - mean in de-normalised space: check with the head's own stats.
    patches = model.head.patchify(x)
    mean = model.head.unpatchify(patches.mean(-1, keepdim=True).expand_as(patches))
    torch.testing.assert_close(out['pair0_sum'] - out['pair0_main'],
                               out['pair0_residual'] - mean, atol=1e-5, rtol=1e-5)
    visible = out['mask'] == 0
    torch.testing.assert_close(out['pair0_sum_pasted'] * visible, x * visible)


def test_extract_feat_is_the_unmasked_encoder():
    model = build().eval()
    x = torch.randn(1, 3, 16, 16)
    feats = model.extract_feat(x)
    assert feats[0].shape == (1, 17, 16)
    assert copy.deepcopy(model.backbone)(x, mask=None)[0].allclose(feats[0])
