# DynamicViT's fine-tuning recipe (Rao et al., NeurIPS 2021, released code): AdamW lr 1e-3 per
# 1024 images for the prediction modules, 0.01x for the pre-trained ViT and its head, cls token
# and position embedding frozen (lr 0), weight decay 0.05, 5 warm-up epochs then cosine to the
# released --min_lr 1e-6 (1e-3 of the lr, in every group), 30 epochs.
# mmengine applies the longest matching custom key, so 'backbone.predictors' overrides 'backbone'.
# (The released code also keeps the ViT and head at lr 0 during the 5 warm-up epochs (`fix_step`)
# while the predictors warm up; mmengine's schedulers scale every group alike, so here the ViT
# warms up with the predictors at 0.01x.)
# (The released code also exempts 1-D parameters from weight decay; with per-module lr keys that
# cannot be expressed by custom_keys, so they decay here: a 0.05 * lr change per step.)
_base_ = './imagenet_coslr-30e.py'

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, betas=(0.9, 0.999), eps=1e-8),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.01),
            'head': dict(lr_mult=0.01),
            'backbone.predictors': dict(lr_mult=1.0),
            'backbone.cls_token': dict(lr_mult=0.0, decay_mult=0.0),
            'backbone.pos_embed': dict(lr_mult=0.0, decay_mult=0.0),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=30, eta_min_ratio=1e-3,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=1024)
