# UPerNet fine-tuning of the baseline MAE ViT-B/16 (mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct.py)
# on a fixed random 10% of ADE20K's training set (seed 0), evaluated on the full val set (mIoU).
# mmseg's MAE + UPerNet recipe (configs/mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py):
# AdamW lr 1e-4, wd 0.05, layer-wise lr decay 0.65, 1500 warm-up iterations, poly decay, AMP,
# with mmseg's VisionTransformer + MultiLevelNeck + UPerHead and 16k iterations (10% of 160k for
# 10% of the data). The backbone is the pre-trained encoder converted by
#   python tools/model_converters/dbp_mae_to_vit.py work_dirs/mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct/epoch_300.pth \
#       work_dirs/mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct/vit_mmseg.pth --target mmseg
# dbp-mae-base_upernet_8xb2-amp-16k_ade20k-10pct-512x512.py differs only in that checkpoint.
_base_ = [
    '../_base_/datasets/ade20k_512x512.py',
    '../_base_/default_runtime_seg.py',
]

norm_cfg = dict(type='SyncBN', requires_grad=True)
embed_dims = 768
model = dict(
    type='EncoderDecoder',
    data_preprocessor={{_base_.data_preprocessor}},
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
        patch_bias=True,  # MAE's patch embedding has a bias (mmseg's default is False)
        drop_path_rate=0.1,
        with_cls_token=True,
        final_norm=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        act_cfg=dict(type='GELU'),
        interpolate_mode='bicubic',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct/vit_mmseg.pth')),
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

train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        _delete_=True,
        type='RandomSubsetDataset',
        fraction=0.1,
        seed=0,
        dataset={{_base_.train_dataloader.dataset}}))

max_iters = 16000
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
            'ln': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            'bias': dict(decay_mult=0.),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=2000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2000, max_keep_ckpts=2,
                                     save_best='mIoU', rule='greater'))
custom_hooks = [
    dict(type='EmissionsHook', country_iso_code='NLD', interval=200),
    dict(type='TimeToTargetHook', monitor='val/mIoU'),
]
