# mmseg's UPerNet + ViT/DeiT recipe on ADE20K (configs/vit): AdamW lr 6e-5, weight decay 0.01
# (none on position embedding, cls token and norms), 1500 linear warm-up iterations then poly
# decay (power 1) to 160k iterations, batch 8 x 2.
_base_ = './schedule_160k_warmup-poly.py'

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))
