# GreenMIM Swin-B (window 7) pre-training on ImageNet-1K, 224 px, 800 epochs (the paper's
# schedule). Official recipe: AdamW betas (0.9, 0.95), base lr 1.5e-4 per 256 images, weight
# decay 0.05, 40 warm-up epochs then cosine, mask ratio 0.75, normalised-pixel loss.
_base_ = [
    '../_base_/models/greenmim_swin-base-w7.py',
    '../_base_/datasets/imagenet_bs64_mae.py',
    '../_base_/schedules/imagenet_bs4096_adamw_coslr-300e_mae.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=256)
optim_wrapper = dict(
    type='AmpOptimWrapper',  # fp16 AMP (the schedule base is fp32 so that it runs on CPU)
    loss_scale='dynamic',
    optimizer=dict(lr=1.5e-4 * 2048 / 256),
    paramwise_cfg=dict(
        custom_keys={
            'relative_position_bias_table': dict(decay_mult=0.),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=760, by_epoch=True, begin=40, end=800,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=800)
auto_scale_lr = dict(base_batch_size=2048)
default_hooks = dict(checkpoint=dict(interval=50, max_keep_ckpts=3))
