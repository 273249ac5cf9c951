"""Sparse patch merging equals dense patch merging restricted to the visible units."""
import pytest
import torch
from mmcv.cnn.bricks.transformer import PatchMerging

from mmdbp.models.utils.sparse_patch_merging import SparsePatchMerging
from mmdbp.models.utils.sparse_swin_layout import build_sparse_swin_layout


def swin_dense_merging(x, H, W, norm, reduction):
    """The original Swin PatchMerging on a dense (B, H*W, C) map."""
    B, _, C = x.shape
    x = x.view(B, H, W, C)
    x0 = x[:, 0::2, 0::2]
    x1 = x[:, 1::2, 0::2]
    x2 = x[:, 0::2, 1::2]
    x3 = x[:, 1::2, 1::2]
    x = torch.cat([x0, x1, x2, x3], -1).view(B, -1, 4 * C)
    return reduction(norm(x))


@pytest.mark.parametrize('merge_order', ['unfold', 'swin'])
@pytest.mark.parametrize('per_image', [False, True])
def test_sparse_merging_equals_dense(merge_order, per_image):
    torch.manual_seed(0)
    B, C, Hu, Wu = 3, 6, 3, 4
    num_stages = 3  # stage grids (12, 16), (6, 8), (3, 4)
    Bm = B if per_image else 1
    unit_mask = torch.rand(Bm, Hu * Wu).argsort(1).argsort(1) >= 5  # 5 visible units each
    unit_mask = unit_mask.view(Bm, Hu, Wu)
    layout = build_sparse_swin_layout(unit_mask, [(2, 1)] * num_stages)
    merging = SparsePatchMerging(C, 2 * C, merge_order=merge_order).double()
    torch.nn.init.normal_(merging.norm.weight)
    torch.nn.init.normal_(merging.norm.bias)
    for i in range(num_stages - 1):
        stage, nxt = layout.stages[i], layout.stages[i + 1]
        H, W = stage.hw_shape
        dense = torch.randn(B, H * W, C, dtype=torch.float64)
        # visible tokens of this stage, gathered independently of the layout's indices
        c = stage.coords.expand(B, -1, -1)
        vis = torch.stack([dense[b, c[b, :, 0] * W + c[b, :, 1]] for b in range(B)])
        out = merging(stage.children(vis))

        if merge_order == 'unfold':
            ref_layer = PatchMerging(C, 2 * C, norm_cfg=dict(type='LN')).double()
            ref_layer.load_state_dict(merging.state_dict())
            ref, _ = ref_layer(dense, (H, W))
        else:
            ref = swin_dense_merging(dense, H, W, merging.norm, merging.reduction)
        W2 = nxt.hw_shape[1]
        cn = nxt.coords.expand(B, -1, -1)
        ref = torch.stack([ref[b, cn[b, :, 0] * W2 + cn[b, :, 1]] for b in range(B)])
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


def test_bad_merge_order():
    with pytest.raises(ValueError, match='merge_order must be one of'):
        SparsePatchMerging(4, 8, merge_order='zorder')
