# UPerNet with the micro ViT of mae_vit-micro-p4_1xb32-300i_demo-in1k.py on the 64x64 demo ADE20K
# set, 400 iterations on one CPU: the second stage of `make demo`. The backbone starts from the MAE
# encoder converted to mmseg's ViT layout by tools/model_converters/extract_backbone.py; pass
# its path with --cfg-options model.backbone.init_cfg.checkpoint=<path> (tools/run_demo.sh does).
_base_ = [
    '../_base_/datasets/demo_ade20k.py',
    '../_base_/schedules/schedule_160k_adamw.py',
    '../_base_/default_runtime_seg.py',
]

embed_dims = 96
num_layers = 4
norm_cfg = dict(type='SyncBN', requires_grad=True)  # plain BN in single-process runs
model = dict(
    type='EncoderDecoder',
    backbone=dict(
        type='VisionTransformer',  # mmseg's ViT
        img_size=(64, 64),
        patch_size=4,
        embed_dims=embed_dims,
        num_layers=num_layers,
        num_heads=3,
        mlp_ratio=4,
        out_indices=(0, 1, 2, 3),
        qkv_bias=True,
        patch_bias=True,  # MAE's patch embedding has a bias
        drop_path_rate=0.1,
        with_cls_token=True,
        final_norm=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        act_cfg=dict(type='GELU'),
        interpolate_mode='bicubic',
        init_cfg=dict(type='Pretrained',
                      checkpoint='work_dirs/demo/mae/vit_mmseg.pth')),
    neck=dict(type='MultiLevelNeck', in_channels=[embed_dims] * 4, out_channels=embed_dims,
              scales=[2, 1, 0.5, 0.25]),  # 32, 16, 8, 4 px maps: cheap enough for a CPU
    decode_head=dict(
        type='UPerHead',
        in_channels=[embed_dims] * 4,
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=32,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None,  # no FCN auxiliary head for the micro model (CPU time)
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

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
