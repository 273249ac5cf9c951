# ImageNet-1K fine-tuning of a MIRL-pre-trained ViT-S-54 (the official recipe of MIRL's
# FINETUNE.md): effective batch 2048 = 16 GPUs x 64 x 2 accumulated steps, AdamW lr =
# 7.5e-4 x 2048 / 256, layer-wise lr decay 0.88 over the 54 blocks, weight decay 0.05, drop path
# 0.1, 20 warm-up epochs + cosine, 100 epochs, RandAugment, random erasing 0.25, mixup 0.8,
# cutmix 1.0, label smoothing 0.1, EMA (decay 0.9998), global average pooling + LayerNorm.
# The encoder loads straight from the MIRL checkpoint (prefix 'backbone.'; the decoders and the
# pre-training-only LayerNorms are ignored).
_base_ = [
    '../../_base_/datasets/imagenet_bs64_cls.py',
    '../../_base_/schedules/imagenet_bs1024_adamw_layerdecay-100e_ft.py',
    '../../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='FastVisionTransformer',
        arch='small-54',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        out_type='avg_featmap',
        final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))

optim_wrapper = dict(
    optimizer=dict(lr=7.5e-4 * 2048 / 256),
    paramwise_cfg=dict(layer_decay_rate=0.88),
    accumulative_counts=2)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=80, by_epoch=True, begin=20, end=100, eta_min=1e-6,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
custom_hooks = [dict(type='EMAHook', momentum=2e-4, priority='ABOVE_NORMAL')]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
# mmengine's --auto-scale-lr counts GPUs x per-GPU batch (16 x 64 here), not accumulation.
auto_scale_lr = dict(base_batch_size=1024)
