# EViT's fine-tuning recipe from a DeiT checkpoint (Liang et al., ICLR 2022, released
# finetune.sh + main.py): --lr 2e-5, which main.py scales by the total batch / 512 (DeiT's rule),
# so AdamW lr 2e-5 x 2048 / 512 = 8e-5 for 8 x 256 images; weight decay 1e-6, no warm-up, cosine
# to --min-lr 2e-6 (absolute, not scaled: 0.025 of the lr), 30 epochs, the keep rate at its target
# from the start.
_base_ = './imagenet_coslr-30e.py'

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-5 * 2048 / 512, weight_decay=1e-6, betas=(0.9, 0.999),
                   eps=1e-8),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }))

# no warm-up: the keep rate is at its target from the start
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=30, eta_min_ratio=2e-6 / 8e-5,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=2048)
