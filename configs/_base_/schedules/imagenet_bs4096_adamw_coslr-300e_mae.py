# MAE pre-training schedule (He et al., 2022; mmpretrain's mae_vit-base-p16_8xb512-amp-coslr-300e):
# AdamW, base lr 1.5e-4 per 256 images (scaled to the total batch of 4096 here and by auto_scale_lr),
# betas (0.9, 0.95), weight decay 0.05 (none on norms, biases, position/cls/mask tokens),
# 40 warm-up epochs then cosine decay, 300 epochs. fp32 here so the schedule also runs on CPU;
# GPU configs add AMP (`-amp-` in their names: type='AmpOptimWrapper', loss_scale='dynamic') or
# train with `tools/train.py --amp`.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'norm': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=260, by_epoch=True, begin=40, end=300,
         convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)
auto_scale_lr = dict(base_batch_size=4096)
