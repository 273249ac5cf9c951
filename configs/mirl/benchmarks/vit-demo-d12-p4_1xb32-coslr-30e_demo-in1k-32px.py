# Demo fine-tuning (CPU, minutes) of the tiny deep ViT pre-trained by
# ../mirl_vit-demo-d12-p4_1xb32-coslr-50e_demo-in1k-32px.py on the 10-class demo set, 32 px,
# layer-wise lr decay over the 12 blocks. The encoder loads straight from the MIRL checkpoint;
# point it elsewhere with
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<pretrain run>/epoch_50.pth
_base_ = [
    '../../_base_/datasets/demo_in1k_cls.py',
    '../../_base_/schedules/imagenet_bs1024_adamw_layerdecay-100e_ft.py',
    '../../_base_/default_runtime.py',
]

img_size = 32
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='FastVisionTransformer',
        arch=dict(embed_dims=64, num_layers=12, num_heads=4, feedforward_channels=256),
        img_size=img_size,
        patch_size=4,
        drop_path_rate=0.1,
        out_type='avg_featmap',
        final_norm=False,
        init_cfg=dict(
            type='Pretrained', prefix='backbone.',
            checkpoint='work_dirs/mirl_vit-demo-d12-p4_1xb32-coslr-50e_demo-in1k-32px/'
            'epoch_50.pth')),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]))

train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.5, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='ResizeEdge', scale=img_size, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, num_workers=2, persistent_workers=False,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=50, num_workers=2, persistent_workers=False,
                      dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=2e-3), paramwise_cfg=dict(layer_decay_rate=0.75))
auto_scale_lr = dict(base_batch_size=32)  # the lr above is for batch 32
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=27, by_epoch=True, begin=3, end=30, eta_min=1e-5,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=5)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1, save_best='auto'))
randomness = dict(seed=0, diff_rank_seed=True)
