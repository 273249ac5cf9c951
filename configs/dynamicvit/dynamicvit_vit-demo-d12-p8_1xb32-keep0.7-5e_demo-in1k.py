# DynamicViT on the demo ViT (12 blocks, 64 patch tokens) on the embedded demo set: the released
# objective and lr split, 5 epochs, student and teacher from the plain demo classifier
# (../masked_finetune/vit-demo-d12-p8_1xb32-coslr-30e_demo-in1k.py).
_base_ = [
    '../_base_/models/vit-demo-d12-p8_fast-vit.py',
    '../_base_/datasets/demo_in1k_cls.py',
    '../_base_/schedules/imagenet_bs1024_adamw_coslr-30e_dynamicvit.py',
    '../_base_/default_runtime.py',
]

keep_ratio = 0.7
max_epochs = 5
init_checkpoint = 'work_dirs/vit-demo-d12-p8_1xb32-coslr-30e_demo-in1k/epoch_30.pth'
model = dict(
    type='DynamicViTClassifier',
    backbone=dict(type='DynamicViT', keep_ratio=keep_ratio, pruning_locs=(3, 6, 9)),
    teacher=dict(
        type='ImageClassifier',
        backbone=dict(type='FastVisionTransformer', arch={{_base_.vit_arch}}, img_size=64,
                      patch_size=8),
        head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=64)),
    teacher_ckpt=init_checkpoint,
    init_cfg=dict(type='Pretrained', checkpoint=init_checkpoint))

# the demo backbone learns at 0.1x instead of 0.01x: 5 epochs are too short for 0.01x
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1), 'head': dict(lr_mult=0.1)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=max_epochs, eta_min_ratio=0.01,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs))
