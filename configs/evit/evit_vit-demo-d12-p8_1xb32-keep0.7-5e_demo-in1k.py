# EViT on the demo ViT (12 blocks, 64 patch tokens) fine-tuned on the embedded demo set from the
# plain demo classifier (../masked_finetune/vit-demo-d12-p8_1xb32-coslr-30e_demo-in1k.py): keep
# rate 1 for 1 epoch, then a cosine to keep_rate over 3 epochs (TokenRatioScheduleHook), 5 epochs.
_base_ = [
    '../_base_/models/vit-demo-d12-p8_fast-vit.py',
    '../_base_/datasets/demo_in1k_cls.py',
    '../_base_/schedules/imagenet_bs2048_adamw_coslr-30e_evit.py',
    '../_base_/default_runtime.py',
]

keep_rate = 0.7
max_epochs = 5
model = dict(
    backbone=dict(type='EViT', keep_rate=keep_rate, pruning_locs=(3, 6, 9), fuse_token=True),
    init_cfg=dict(type='Pretrained',
                  checkpoint='work_dirs/vit-demo-d12-p8_1xb32-coslr-30e_demo-in1k/epoch_30.pth'))
custom_hooks = [
    dict(type='TokenRatioScheduleHook', attr='backbone.train_keep_rate', start=1.0,
         end='backbone.keep_rate', warmup=1, duration=3, by_epoch=True),
]
optim_wrapper = dict(optimizer=dict(lr=1e-4, weight_decay=0.05))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min_ratio=0.1,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs))
