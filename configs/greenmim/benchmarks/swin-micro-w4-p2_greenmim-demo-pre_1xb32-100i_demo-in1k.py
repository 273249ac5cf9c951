# Demo fine-tuning of the micro GreenMIM Swin of
# ../greenmim_swin-micro-w4-p2_1xb32-300i_demo-in1k.py with mmpretrain's own SwinTransformer on
# the 64 px demo classification set (10 classes), 100 iterations on one CPU. The pre-training
# checkpoint loads as it is (prefix 'backbone.'):
#   python tools/train.py <this config> --cfg-options \
#       model.backbone.init_cfg.checkpoint=<work_dir of the demo>/iter_300.pth
_base_ = [
    '../../_base_/datasets/demo_in1k_cls.py',
    '../../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SwinTransformer',  # mmpretrain's
        arch=dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8]),
        img_size=64,
        patch_size=2,
        window_size=4,  # grids 32, 16, 8, 4: the last stage is one 4x4 window, as in pre-training
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/greenmim_swin-micro-w4-p2_1xb32-300i_demo-in1k/iter_300.pth',
            prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=256,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=2e-5)))

max_iters = 100
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=5.0),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.9,
        custom_keys={
            '.norm': dict(decay_mult=0.0),
            '.bias': dict(decay_mult=0.0),
            '.relative_position_bias_table': dict(decay_mult=0.0)
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=10),
    dict(type='CosineAnnealingLR', T_max=max_iters - 10, eta_min=1e-6, by_epoch=False,
         begin=10, end=max_iters),
]
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False, window_size=10)
