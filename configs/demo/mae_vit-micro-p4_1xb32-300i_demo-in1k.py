# MAE pre-training of a micro ViT (96 dims, 4 blocks, 3 heads, 4 px patches) on the 64 px demo
# classification set, 300 iterations on one CPU: the first stage of `make demo`.
# Same recipe as real MAE (AdamW betas (0.9, 0.95), wd 0.05, mask ratio 0.75, normalised-pixel
# L2 loss), with an iteration schedule and a higher lr for the tiny model.
_base_ = [
    '../_base_/datasets/demo_in1k_mae.py',
    '../_base_/schedules/imagenet_bs4096_adamw_coslr-300e_mae.py',
    '../_base_/default_runtime.py',
]

embed_dims = 96
patch_size = 4
model = dict(
    type='MAE',  # mmpretrain's algorithm, wired with mmdbp's SDPA encoder/decoder
    backbone=dict(
        type='FastMAEViT',
        arch=dict(embed_dims=embed_dims, num_layers=4, num_heads=3, feedforward_channels=4 * embed_dims),
        img_size=64,
        patch_size=patch_size,
        mask_ratio=0.75),
    neck=dict(
        type='FastMAEDecoder',
        num_patches=(64 // patch_size)**2,
        patch_size=patch_size,
        in_chans=3,
        embed_dim=embed_dims,
        decoder_embed_dim=64,
        decoder_depth=2,
        decoder_num_heads=4,
        mlp_ratio=4.),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=patch_size,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')))

max_iters = 300
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', T_max=max_iters - 30, eta_min=1e-5, by_epoch=False, begin=30, end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=2))
log_processor = dict(by_epoch=False, window_size=10)
