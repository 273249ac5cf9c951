# EViT-S trained from scratch on ImageNet-1K, the released run_code.sh: DeiT-S's 300-epoch recipe,
# every token kept for 10 epochs, then the keep rate annealed by a cosine from 1 to 0.7 over 100
# epochs (TokenRatioScheduleHook sets backbone.train_keep_rate every iteration and ends at
# backbone.keep_rate, which evaluation always uses).
_base_ = [
    '../_base_/models/deit-small-p16_fast-vit.py',
    '../_base_/datasets/imagenet_bs64_cls.py',
    '../_base_/default_runtime.py',
]

keep_rate = 0.7
model = dict(
    backbone=dict(type='EViT', keep_rate=keep_rate, pruning_locs=(3, 6, 9), fuse_token=True),
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ])
custom_hooks = [
    dict(type='TokenRatioScheduleHook', attr='backbone.train_keep_rate', start=1.0,
         end='backbone.keep_rate', warmup=10, duration=100, by_epoch=True, mode='cosine'),
]

# DeiT's recipe (mmpretrain's deit-small_4xb256_in1k with imagenet_bs1024_adamw_swin)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-4 * 2048 / 512, weight_decay=0.05, eps=1e-8,
                   betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=2048)
train_dataloader = dict(batch_size=256)
val_dataloader = dict(batch_size=256)
