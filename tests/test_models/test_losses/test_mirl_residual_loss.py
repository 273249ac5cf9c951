"""MIRLResidualLoss / MIRLPretrainHead against a hand computation, and the stop-gradient option."""
import pytest
import torch

from mmdbp.models.heads import MIRLPretrainHead
from mmdbp.models.losses import MIRLResidualLoss
from mmdbp.models.losses.mirl_residual_loss import outside_in_pairs

B, S, P, H = 2, 6, 2, 4  # 2 images of 4x4 px, 2x2 patches -> L = 4 patches of 12 values
L, D = (H // P)**2, P * P * 3


def hand_target(img):
    """Patch (i, j) holds pixels img[c, i*P + u, j*P + v] in (u, v, c) order, normalised by
    its own mean and unbiased variance (+1e-6), written with explicit loops."""
    out = torch.zeros(L, D, dtype=torch.float64)
    for i in range(H // P):
        for j in range(H // P):
            vals = [img[c, i * P + u, j * P + v].item()
                    for u in range(P) for v in range(P) for c in range(3)]
            mean = sum(vals) / D
            var = sum((x - mean)**2 for x in vals) / (D - 1)
            out[i * (H // P) + j] = torch.tensor([(x - mean) / (var + 1e-6)**0.5 for x in vals])
    return out


def hand_loss(preds, imgs, mask, weights=(1., 1., 1.)):
    pair_mse = []
    for shallow, deep in [(0, 5), (1, 4), (2, 3)]:
        num, den = 0., 0.
        for b in range(B):
            t = hand_target(imgs[b])
            for patch in range(L):
                if mask[b, patch] == 1:
                    err = sum((preds[shallow][b, patch, k].item() + preds[deep][b, patch, k].item()
                               - t[patch, k].item())**2 for k in range(D)) / D
                    num += err
                    den += 1
        pair_mse.append(num / den)
    return sum(w * m for w, m in zip(weights, pair_mse)) / sum(weights), pair_mse


def fixed_case():
    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(B, 3, H, H, generator=g, dtype=torch.float64) * 255
    preds = [torch.randn(B, L, D, generator=g, dtype=torch.float64) for _ in range(S)]
    mask = torch.tensor([[1., 0., 1., 1.], [0., 1., 0., 1.]], dtype=torch.float64)
    return imgs, preds, mask


def test_pairs_are_outside_in():
    assert outside_in_pairs(6) == [(0, 5), (1, 4), (2, 3)]
    assert outside_in_pairs(2) == [(0, 1)]
    with pytest.raises(ValueError, match='even number'):
        outside_in_pairs(5)


def test_head_loss_equals_hand_computation():
    imgs, preds, mask = fixed_case()
    head = MIRLPretrainHead(patch_size=P)
    losses = head.loss(preds, imgs, mask)
    want, want_pairs = hand_loss(preds, imgs, mask)
    assert set(losses) == {'loss', 'pair0_mse', 'pair1_mse', 'pair2_mse'}
    # Only 'loss' may contain the word (mmengine sums every key containing "loss").
    assert [k for k in losses if 'loss' in k] == ['loss']
    assert losses['loss'].item() == pytest.approx(want, rel=1e-6)
    for k in range(3):
        assert losses[f'pair{k}_mse'].item() == pytest.approx(want_pairs[k], rel=1e-6)


def test_unmasked_patches_do_not_count():
    imgs, preds, mask = fixed_case()
    head = MIRLPretrainHead(patch_size=P)
    base = head.loss(preds, imgs, mask)['loss']
    changed = [p.clone() for p in preds]
    for p in changed:
        p[mask == 0] += 100.  # garbage on visible patches only
    assert head.loss(changed, imgs, mask)['loss'].item() == pytest.approx(base.item(), rel=1e-9)


def test_pair_weights():
    imgs, preds, mask = fixed_case()
    head = MIRLPretrainHead(patch_size=P, loss=dict(type='MIRLResidualLoss',
                                                    pair_weights=[2., 0., 1.]))
    want, _ = hand_loss(preds, imgs, mask, weights=(2., 0., 1.))
    assert head.loss(preds, imgs, mask)['loss'].item() == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match='one weight per pair'):
        MIRLResidualLoss(pair_weights=[1., 1.])(preds, preds[0], mask)
    with pytest.raises(ValueError, match='non-negative'):
        MIRLResidualLoss(pair_weights=[1., -1., 1.])


@pytest.mark.parametrize('detach', [False, True])
def test_stop_gradient_blocks_the_shallow_member(detach):
    imgs, preds, mask = fixed_case()
    preds = [p.clone().requires_grad_() for p in preds]
    target = hand_target(imgs[0]).expand(B, -1, -1)
    loss, _ = MIRLResidualLoss(detach_shallow=detach)(preds, target, mask)
    loss.backward()
    for shallow, deep in [(0, 5), (1, 4), (2, 3)]:
        assert preds[deep].grad is not None and preds[deep].grad.abs().sum() > 0
        if detach:
            assert preds[shallow].grad is None
        else:  # d/dp_shallow = d/dp_deep: they enter only through their sum
            torch.testing.assert_close(preds[shallow].grad, preds[deep].grad)
