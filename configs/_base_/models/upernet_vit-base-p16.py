# UPerNet (Xiao et al., 2018) on mmseg's VisionTransformer, ViT-B/16 as in mmseg's MAE / BEiT +
# UPerNet recipes: maps of blocks 3, 5, 7, 11 rescaled to strides 4/8/16/32 by MultiLevelNeck,
# UPerHead and an FCN auxiliary head on the third map. The ViT is laid out for MAE-style encoders
# (mmdbp's ViTs converted by tools/model_converters/*_to_vit.py --target mmseg): patch-embedding
# bias, LayerNorm eps 1e-6, bicubic position-embedding interpolation. Set the checkpoint with
# model.backbone.init_cfg.checkpoint; the other UPerNet bases here override the backbone and widths.
norm_cfg = dict(type='SyncBN', requires_grad=True)  # plain BN in single-process runs
embed_dims = 768
model = dict(
    type='EncoderDecoder',
    # the final config adds the crop size (data_preprocessor=dict(size=crop_size))
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255),
    backbone=dict(
        type='VisionTransformer',  # mmseg's ViT
        img_size=(512, 512),
        patch_size=16,
        embed_dims=embed_dims,
        num_layers=12,
        num_heads=12,
        mlp_ratio=4,
        out_indices=(3, 5, 7, 11),
        qkv_bias=True,
        patch_bias=True,  # MAE / mmdbp / timm ViTs have a patch-embedding bias (mmseg's default: off)
        drop_path_rate=0.1,
        with_cls_token=True,
        final_norm=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        act_cfg=dict(type='GELU'),
        interpolate_mode='bicubic',
        init_cfg=dict(type='Pretrained', checkpoint='')),
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
        in_index=2,
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
