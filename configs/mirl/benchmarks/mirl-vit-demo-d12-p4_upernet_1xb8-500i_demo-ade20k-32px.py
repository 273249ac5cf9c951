# Demo UPerNet (CPU) on the embedded ADE20K-format set, scenes resized to 32 px (the resolution
# the tiny deep ViT of ../mirl_vit-demo-d12-p4_1xb32-coslr-50e_demo-in1k-32px.py was pre-trained
# at: 8x8 patches of 4 px), 500 iterations. Convert the checkpoint first:
#   python tools/model_converters/mirl_to_vit.py \
#       work_dirs/mirl_vit-demo-d12-p4_1xb32-coslr-50e_demo-in1k-32px/epoch_50.pth \
#       work_dirs/mirl_vit-demo-d12-p4_1xb32-coslr-50e_demo-in1k-32px/vit_mmseg.pth --target mmseg
_base_ = [
    '../../_base_/models/upernet_mirl-vit-small-54-p16.py',
    '../../_base_/datasets/demo_ade20k.py',
    '../../_base_/schedules/schedule_160k_adamw_layer-decay.py',
    '../../_base_/default_runtime_seg.py',
]
crop_size = (32, 32)
scale = (128, 32)
norm_cfg = dict(type='BN', requires_grad=True)  # single CPU process
embed_dims = 64
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        img_size=crop_size, patch_size=4, embed_dims=embed_dims, num_layers=12, num_heads=4,
        out_indices=(2, 5, 8, 11), drop_path_rate=0.1,
        init_cfg=dict(checkpoint='work_dirs/mirl_vit-demo-d12-p4_1xb32-coslr-50e_demo-in1k-32px/'
                      'vit_mmseg.pth')),
    neck=dict(in_channels=[embed_dims] * 4, out_channels=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=64, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=embed_dims, channels=32, norm_cfg=norm_cfg),
    test_cfg=dict(mode='whole'))

optim_wrapper = dict(optimizer=dict(lr=1e-3), paramwise_cfg=dict(layer_decay_rate=0.75))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', power=1.0, begin=50, end=500, eta_min=0., by_epoch=False),
]
train_cfg = dict(max_iters=500, val_interval=250)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=250, max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook', draw=False))
train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='LoadCheckedAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=scale, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadCheckedAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
