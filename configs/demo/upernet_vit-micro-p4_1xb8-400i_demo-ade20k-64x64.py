# UPerNet (../_base_/models/upernet_vit-base-p16.py, mmseg's ViT) with the micro ViT of
# mae_vit-micro-p4_1xb32-300i_demo-in1k.py on the 64x64 demo ADE20K set, 400 iterations on one
# CPU: the second stage of `make demo`. The backbone starts from the MAE encoder converted to
# mmseg's ViT layout by tools/model_converters/extract_backbone.py; pass its path with
# --cfg-options model.backbone.init_cfg.checkpoint=<path> (tools/run_demo.sh does).
_base_ = [
    '../_base_/models/upernet_vit-base-p16.py',
    '../_base_/datasets/demo_ade20k.py',
    '../_base_/schedules/schedule_160k_adamw.py',
    '../_base_/default_runtime_seg.py',
]

embed_dims = 96
num_layers = 4
model = dict(
    data_preprocessor={{_base_.data_preprocessor}},  # the demo set's (64x64 crops)
    backbone=dict(
        img_size=(64, 64),
        patch_size=4,
        embed_dims=embed_dims,
        num_layers=num_layers,
        num_heads=3,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(checkpoint='work_dirs/demo/mae/vit_mmseg.pth')),
    neck=dict(in_channels=[embed_dims] * 4, out_channels=embed_dims,
              scales=[2, 1, 0.5, 0.25]),  # 32, 16, 8, 4 px maps: cheap enough for a CPU
    decode_head=dict(in_channels=[embed_dims] * 4, channels=32),
    auxiliary_head=None)  # no FCN auxiliary head for the micro model (CPU time)

max_iters = 400
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=40),
    dict(type='PolyLR', power=1.0, begin=40, end=max_iters, eta_min=0.0, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
