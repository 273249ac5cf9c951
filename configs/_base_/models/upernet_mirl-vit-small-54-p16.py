# UPerNet on a MIRL-pre-trained ViT-S-54 (mmseg's VisionTransformer, 54 blocks, 12 heads).
# Four feature maps are taken at the ends of the 4 quarters of the encoder and rescaled to
# strides 4/8/16/32 by MultiLevelNeck, as mmseg's ViT + UPerNet. The backbone loads a checkpoint
# converted by tools/model_converters/mirl_to_vit.py --target mmseg.
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255),
    backbone=dict(
        type='VisionTransformer',
        img_size=(512, 512),
        patch_size=16,
        in_channels=3,
        embed_dims=384,
        num_layers=54,
        num_heads=12,
        mlp_ratio=4,
        out_indices=(13, 26, 40, 53),
        qkv_bias=True,
        patch_bias=True,  # mmdbp / timm ViTs have a patch-embedding bias (mmseg's default: off)
        drop_rate=0.,
        attn_drop_rate=0.,
        drop_path_rate=0.1,
        with_cls_token=True,
        final_norm=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        act_cfg=dict(type='GELU'),
        norm_eval=False,
        interpolate_mode='bicubic',
        init_cfg=dict(type='Pretrained', checkpoint='')),
    neck=dict(type='MultiLevelNeck', in_channels=[384, 384, 384, 384], out_channels=384,
              scales=[4, 2, 1, 0.5]),
    decode_head=dict(
        type='UPerHead',
        in_channels=[384, 384, 384, 384],
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
        in_channels=384,
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
