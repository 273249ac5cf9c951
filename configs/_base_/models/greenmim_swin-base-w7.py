# GreenMIM with a Swin-B encoder (window 7, patch 4, 224 px) and the official "dec512b1" decoder:
# mask ratio 0.75 on 32x32 px units (one last-stage token), normalised-pixel L2 loss.
# https://arxiv.org/abs/2205.13515 , official code LayneH/GreenMIM.
model = dict(
    type='GreenMIM',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='GreenMIMSwin',
        arch='base',
        img_size=224,
        patch_size=4,
        window_size=7,
        mask_ratio=0.75,
        mask_per_image=False,  # one mask per batch, as the official code
        drop_path_rate=0.0,
        # the official encoder's LayerNorm eps (patch embedding, blocks, merging, output);
        # mmpretrain's / mmseg's Swin default to 1e-5
        norm_cfg=dict(type='LN', eps=1e-6)),
    neck=dict(
        type='GreenMIMDecoder',
        grid_size=7,  # 224 / 32 units per side
        unit_size=32,
        embed_dims=1024,  # Swin-B last stage
        decoder_embed_dims=512,
        decoder_depth=1,
        decoder_num_heads=16,
        norm_eps=1e-6,  # official
        sincos_order='mae'),  # official decoder position table (column code first)
    head=dict(type='GreenMIMHead', unit_size=32, norm_pix=True))
