# The plain ("DeiT") classifier of the token-pruning demo: the 12-block demo ViT trained from
# scratch on full images of the embedded 10-class demo set (python tools/make_demo_data.py).
# Its checkpoint is the plain initialisation of the demo masked fine-tuning, DynamicViT, EViT and
# UPerNet configs (and their teacher).
_base_ = [
    '../_base_/models/vit-demo-d12-p8_fast-vit.py',
    '../_base_/datasets/demo_in1k_cls.py',
    '../_base_/schedules/imagenet_bs1024_adamw_coslr-30e_maskft.py',
    '../_base_/default_runtime.py',
]

max_epochs = 30
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=max_epochs, eta_min_ratio=0.01,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs))
