# UPerNet (Xiao et al., 2018) on DeiT-S as mmseg's ViT + UPerNet recipe (MultiLevelNeck to strides
# 4/8/16/32, UPerHead, FCN auxiliary head), with mmdbp's FastVisionTransformer as the backbone:
# full-resolution maps of blocks 2, 5, 8, 11 (out_type='featmap'). The token-pruning configs swap
# the backbone for DynamicViTSeg / EViTSeg, which return the same maps.
norm_cfg = dict(type='SyncBN', requires_grad=True)  # plain BN in single-process runs
embed_dims = 384
model = dict(
    type='EncoderDecoder',
    # the dataset config's data_preprocessor (crop size) is merged in by the final config
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        # whole-image inference: pad the test image to a multiple of the patch size (the
        # pruning backbones also pad by themselves, as mmseg's ViT)
        test_cfg=dict(size_divisor=16)),
    backbone=dict(
        type='FastVisionTransformer',
        arch='deit-small',
        img_size=512,
        patch_size=16,
        out_type='featmap',
        out_indices=(2, 5, 8, 11),
        drop_path_rate=0.1,
        final_norm=True),
    neck=dict(type='MultiLevelNeck', in_channels=[embed_dims] * 4, out_channels=embed_dims,
              scales=[4, 2, 1, 0.5]),
    decode_head=dict(
        type='UPerHead',
        in_channels=[embed_dims] * 4,
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=embed_dims,
        in_index=3,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
