# GreenMIM demo: a micro Swin (32 dims, depths 2-2-2-2, 2 px patches) pre-trained on the 64 px
# demo classification set for 300 iterations on one CPU. Mask units are 16 px (4x4 units per
# image, 4 visible at mask ratio 0.75); stage grids 32, 16, 8, 4 with 4x4 windows (shifted on the
# first three stages). The loss falls, and ReconstructionVisHook saves input / masked /
# reconstruction grids under <work_dir>/reconstructions.
_base_ = [
    '../_base_/models/greenmim_swin-base-w7.py',
    '../_base_/datasets/demo_in1k_mae.py',
    '../_base_/schedules/imagenet_bs4096_adamw_coslr-300e_mae.py',
    '../_base_/default_runtime.py',
]

img_size = 64
patch_size = 2
unit_size = patch_size * 2**3
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8]),
        img_size=img_size,
        patch_size=patch_size,
        window_size=4),
    neck=dict(
        grid_size=img_size // unit_size,
        unit_size=unit_size,
        embed_dims=32 * 8,
        decoder_embed_dims=64,
        decoder_depth=1,
        decoder_num_heads=4),
    head=dict(unit_size=unit_size))

max_iters = 300
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',  # fp32 on CPU
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'norm': dict(decay_mult=0.),
            'bias': dict(decay_mult=0.),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', T_max=max_iters - 30, eta_min=1e-5, by_epoch=False,
         begin=30, end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=2))
custom_hooks = [dict(type='ReconstructionVisHook', interval=100, num_samples=4, upscale=2,
                     keys=['input', 'masked', 'pred', 'pasted'])]
log_processor = dict(by_epoch=False, window_size=10)
