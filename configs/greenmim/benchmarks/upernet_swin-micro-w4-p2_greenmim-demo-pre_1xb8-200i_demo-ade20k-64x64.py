# Demo UPerNet with mmseg's SwinTransformer initialised from the micro GreenMIM Swin of
# ../greenmim_swin-micro-w4-p2_1xb32-300i_demo-in1k.py, on the 64x64 demo ADE20K set, 200
# iterations on one CPU. The pre-training checkpoint loads as it is (same names and windows):
#   python tools/train.py <this config> --cfg-options \
#       model.backbone.init_cfg.checkpoint=<work_dir of the demo>/iter_300.pth
_base_ = [
    '../../_base_/datasets/demo_ade20k.py',
    '../../_base_/default_runtime_seg.py',
]

norm_cfg = dict(type='SyncBN', requires_grad=True)  # reverted to BN in single-process runs
dims = [32, 64, 128, 256]
model = dict(
    type='EncoderDecoder',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(
        type='SwinTransformer',  # mmseg's
        pretrain_img_size=64,
        embed_dims=dims[0],
        patch_size=2,
        strides=(2, 2, 2, 2),
        window_size=4,
        depths=[2, 2, 2, 2],
        num_heads=[1, 2, 4, 8],
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/greenmim_swin-micro-w4-p2_1xb32-300i_demo-in1k/iter_300.pth')),
    decode_head=dict(
        type='UPerHead',
        in_channels=dims,
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=64,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=dims[2],
        in_index=2,
        channels=32,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

max_iters = 200
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-4, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='PolyLR', power=1.0, begin=20, end=max_iters, eta_min=0.0, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
