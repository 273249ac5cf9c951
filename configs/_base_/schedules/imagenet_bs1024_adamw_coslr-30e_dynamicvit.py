# DynamicViT's fine-tuning recipe (Rao et al., NeurIPS 2021, released code): AdamW lr 1e-3 per
# 1024 images for the prediction modules, 0.01x for the pre-trained ViT and its head, cls token
# and position embedding frozen (lr 0), weight decay 0.05, 5 warm-up epochs then cosine, 30 epochs.
# mmengine applies the longest matching custom key, so 'backbone.predictors' overrides 'backbone'.
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
auto_scale_lr = dict(base_batch_size=1024)
