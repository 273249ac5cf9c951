# UPerNet fine-tuning of MAE-style pre-trained ViTs (mmseg's MAE / BEiT + UPerNet recipe): AdamW
# lr 1e-4, betas (0.9, 0.999), weight decay 0.05 (none on position embedding, cls token and any
# 1-D parameter: norms of the backbone and BN of the heads, biases, as mmseg's
# LayerDecayOptimizerConstructor), layer-wise lr decay 0.65 over the backbone blocks (mmdbp's
# BackboneLayerDecayOptimWrapperConstructor), 1500 linear warm-up iterations then poly decay
# (power 1) to 160k iterations (schedule_160k_warmup-poly.py). Configs that train with AMP set
# optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic').
_base_ = './schedule_160k_warmup-poly.py'

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        flat_decay_mult=0.,  # every other 1-D parameter (the heads' BN weights)
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
            'ln': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            'bias': dict(decay_mult=0.),
        }))
