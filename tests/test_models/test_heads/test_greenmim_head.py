"""GreenMIM's loss: masked units only, per-unit normalised targets by hand."""
import pytest
import torch

from mmdbp.models.heads import GreenMIMHead


def hand_units(img, p):
    """Units row-major, each unit's values ordered (row, col, channel), by explicit loops."""
    B, C, H, W = img.shape
    units = []
    for b in range(B):
        per_image = []
        for i in range(H // p):
            for j in range(W // p):
                per_image.append([float(img[b, c, i * p + r, j * p + q])
                                  for r in range(p) for q in range(p) for c in range(C)])
        units.append(per_image)
    return torch.tensor(units, dtype=torch.float64)


def test_patchify_and_normalised_target_by_hand():
    torch.manual_seed(0)
    head = GreenMIMHead(unit_size=2, norm_pix=True)
    img = torch.randn(2, 3, 4, 6, dtype=torch.float64)
    units = hand_units(img, 2)
    torch.testing.assert_close(head.patchify(img), units)
    # normalisation by hand: mean and unbiased variance over each unit's 12 values
    target = head.construct_target(img)
    for b in range(2):
        for u in range(6):
            vals = units[b, u].tolist()
            n = len(vals)
            mean = sum(vals) / n
            var = sum((v - mean)**2 for v in vals) / (n - 1)
            expected = torch.tensor([(v - mean) / (var + 1e-6)**0.5 for v in vals],
                                    dtype=torch.float64)
            torch.testing.assert_close(target[b, u], expected)
    torch.testing.assert_close(head.unpatchify(head.patchify(img), (2, 3)), img)
    assert torch.equal(GreenMIMHead(unit_size=2, norm_pix=False).construct_target(img), units)


def test_loss_counts_only_masked_units():
    torch.manual_seed(0)
    head = GreenMIMHead(unit_size=2, norm_pix=False)
    img = torch.randn(2, 3, 4, 4)
    target = head.patchify(img)
    pred = torch.randn_like(target)
    mask = torch.tensor([[1., 0., 0., 1.], [0., 1., 0., 0.]])
    loss = head.loss(pred, img, mask)
    # hand value: mean squared error of each masked unit, averaged over the 3 masked units
    errs = [((pred[b, u] - target[b, u])**2).mean() for b, u in [(0, 0), (0, 3), (1, 1)]]
    torch.testing.assert_close(loss, sum(errs) / 3)
    # visible units do not matter at all
    pred2 = pred.clone()
    pred2[mask == 0] += 100.
    torch.testing.assert_close(head.loss(pred2, img, mask), loss)


def test_bad_image_size():
    with pytest.raises(ValueError, match='not a multiple of unit_size 4'):
        GreenMIMHead(unit_size=4).patchify(torch.zeros(1, 3, 6, 8))
