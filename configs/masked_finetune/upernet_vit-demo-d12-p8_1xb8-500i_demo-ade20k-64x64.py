# UPerNet + the dense demo ViT on the embedded 64x64 ADE20K-format demo set, 500 iterations on one
# CPU; the backbone starts from the plain demo classifier
# (vit-demo-d12-p8_1xb32-coslr-30e_demo-in1k.py).
_base_ = [
    '../_base_/models/upernet_vit-demo-d12-p8_fast-vit.py',
    '../_base_/datasets/demo_ade20k.py',
    '../_base_/schedules/schedule_160k_adamw_vit-upernet.py',
    '../_base_/default_runtime_seg.py',
]

crop_size = (64, 64)
max_iters = 500
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(init_cfg=dict(
        type='Pretrained', prefix='backbone.',
        checkpoint='work_dirs/vit-demo-d12-p8_1xb32-coslr-30e_demo-in1k/epoch_30.pth')),
    decode_head=dict(norm_cfg=norm_cfg),
    auxiliary_head=dict(norm_cfg=norm_cfg))
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
