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


def hand_denormalised_image(pred, img, p=4):
    """(L, p*p*3) normalised-patch prediction -> (3, H, W) image, written with loops: patch
    (i, j) value (u, v, c) goes to pixel (c, i*p + u, j*p + v), times the std (unbiased,
    +1e-6) plus the mean of that patch of ``img``."""
    C, H, W = img.shape
    out = torch.zeros_like(img)
    for i in range(H // p):
        for j in range(W // p):
            block = img[:, i * p:(i + 1) * p, j * p:(j + 1) * p]
            mean, std = block.mean(), (block.var() + 1e-6).sqrt()
            k = 0
            for u in range(p):
                for v in range(p):
                    for c in range(C):
                        out[c, i * p + u, j * p + v] = pred[i * (W // p) + j, k] * std + mean
                        k += 1
    return out


def test_reconstruct_pairs_main_and_residual_outside_in():
    """Pair k shows the shallowest-but-k decoder as main component and the deepest-but-k one as
    residual, both mapped back with each patch's own mean and std, and their sum; the pasted
    sum keeps the visible pixels of the input."""
    model = build().eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.manual_seed(7)
        preds, mask = model.predict_segments(x)  # the same masking draw as reconstruct's
        torch.manual_seed(7)
        out = model.reconstruct(x)
    assert len(preds) == 4
    for k, (shallow, deep) in enumerate([(0, 3), (1, 2)]):
        for b in range(2):
            main = hand_denormalised_image(preds[shallow][b], x[b])
            residual = hand_denormalised_image(preds[deep][b], x[b])
            total = hand_denormalised_image(preds[shallow][b] + preds[deep][b], x[b])
            torch.testing.assert_close(out[f'pair{k}_main'][b], main, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(out[f'pair{k}_residual'][b], residual, atol=1e-5,
                                       rtol=1e-5)
            torch.testing.assert_close(out[f'pair{k}_sum'][b], total, atol=1e-5, rtol=1e-5)
    # the mask image: 1 on every pixel of a removed patch
    pixel_mask = mask.view(2, 1, 4, 4).repeat_interleave(4, 2).repeat_interleave(4, 3)
    assert torch.equal(out['mask'], pixel_mask)
    visible = out['mask'] == 0
    torch.testing.assert_close(out['pair0_sum_pasted'] * visible, x * visible)
    torch.testing.assert_close(out['pair0_sum_pasted'] * ~visible, out['pair0_sum'] * ~visible)


def test_extract_feat_is_the_unmasked_encoder():
    model = build().eval()
    x = torch.randn(1, 3, 16, 16)
    feats = model.extract_feat(x)
    assert feats[0].shape == (1, 17, 16)
    assert copy.deepcopy(model.backbone)(x, mask=None)[0].allclose(feats[0])
