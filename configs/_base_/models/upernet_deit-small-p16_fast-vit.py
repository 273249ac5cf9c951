# UPerNet (Xiao et al., 2018) on DeiT-S as mmseg's ViT + UPerNet recipe (MultiLevelNeck to strides
# 4/8/16/32, UPerHead, FCN auxiliary head; the heads of upernet_vit-base-p16.py), with mmdbp's
# FastVisionTransformer as the backbone: full-resolution maps of blocks 2, 5, 8, 11
# (out_type='featmap'), the auxiliary head on the last one. The token-pruning configs swap the
# backbone for DynamicViTSeg / EViTSeg, which return the same maps.
_base_ = './upernet_vit-base-p16.py'
embed_dims = 384
model = dict(
    # the dataset config's data_preprocessor (crop size) is merged in by the final config
    data_preprocessor=dict(
        # whole-image inference: pad the test image to a multiple of the patch size (the
        # pruning backbones also pad by themselves, as mmseg's ViT)
        test_cfg=dict(size_divisor=16)),
    backbone=dict(
        _delete_=True,
        type='FastVisionTransformer',
        arch='deit-small',
        img_size=512,
        patch_size=16,
        out_type='featmap',
        out_indices=(2, 5, 8, 11),
        drop_path_rate=0.1,
        final_norm=True),
    neck=dict(in_channels=[embed_dims] * 4, out_channels=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4),
    auxiliary_head=dict(in_channels=embed_dims, in_index=3))
