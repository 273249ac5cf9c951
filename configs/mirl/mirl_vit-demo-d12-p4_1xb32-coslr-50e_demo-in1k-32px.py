# MIRL demo on the embedded data (python tools/make_demo_data.py), CPU-sized: a tiny *deep* ViT
# (64 wide, 12 blocks, 4 heads) on 32 px crops with 4 px patches (64 patches), 6 segments of 2
# blocks, one 64-wide decoder per segment. 50 epochs of 200 images (~300 iterations, minutes on
# CPU). The ReconstructionVisHook writes the main component, residual and their sum of every
# segment pair to work_dirs/<this config>/reconstructions/iter_*.png.
_base_ = [
    '../_base_/models/mirl_vit-small-54-p16.py',
    '../_base_/datasets/demo_in1k_mae.py',
    '../_base_/default_runtime.py',
]

img_size = 32
vit_arch = dict(embed_dims=64, num_layers=12, num_heads=4, feedforward_channels=256)
model = dict(
    backbone=dict(arch=dict(_delete_=True, **vit_arch), img_size=img_size, patch_size=4,
                  num_segments=6),
    neck=dict(num_segments=6, num_patches=64, patch_size=4, embed_dim=64, decoder_embed_dim=64,
              decoder_depth=1, decoder_num_heads=4),
    head=dict(patch_size=4))

train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.35, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, num_workers=2, persistent_workers=False,
                        dataset=dict(pipeline=train_pipeline))

# CPU: plain fp32 OptimWrapper; lr for a short run (the paper's 1.5e-4 x batch / 256 is tuned for
# 300+ epochs of ImageNet).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'norm': dict(decay_mult=0.),
        'bias': dict(decay_mult=0.),
        'pos_embed': dict(decay_mult=0.),
        'mask_token': dict(decay_mult=0.),
        'cls_token': dict(decay_mult=0.)
    }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=45, by_epoch=True, begin=5, end=50, eta_min=1e-5,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2))
custom_hooks = [dict(type='ReconstructionVisHook', interval=100, num_samples=4, upscale=4)]
randomness = dict(seed=0, diff_rank_seed=True)
# mmengine smooths only the keys containing "loss"; average the per-pair MSEs the same way.
log_processor = dict(custom_cfg=[
    dict(data_src=f'pair{k}_mse', method_name='mean', window_size=10) for k in range(3)])
