# UPerNet + ViT fine-tuning on ADE20K (mmseg's vit_*_upernet_8xb2-160k recipe, the usual one for
# MAE-style pre-trained ViTs converted to mmseg's VisionTransformer): AdamW lr 6e-5, betas
# (0.9, 0.999), weight decay 0.01 (none on position embedding, cls token and layer norms),
# 1500 linear warm-up iterations then poly decay (power 1) to 160k iterations.
_base_ = './schedule_160k_warmup-poly.py'

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
            '.ln': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }))
