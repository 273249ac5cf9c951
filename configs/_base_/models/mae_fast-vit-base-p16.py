# MAE ViT-B/16 on mmdbp's fast ViT path: mmpretrain's `MAE` algorithm and `MAEPretrainHead` with
# mmdbp's FastMAEViT encoder and FastMAEDecoder (SDPA attention, fused qkv, expand-not-repeat
# masking). Same hyper-parameters and initialisation as mmpretrain's _base_/models/mae_vit-base-p16.py,
# numerically equivalent in fp32 (tests/test_models/test_necks/test_mae_decoder.py).
model = dict(
    type='MAE',
    backbone=dict(type='FastMAEViT', arch='b', patch_size=16, mask_ratio=0.75),
    neck=dict(
        type='FastMAEDecoder',
        patch_size=16,
        in_chans=3,
        embed_dim=768,
        decoder_embed_dim=512,
        decoder_depth=8,
        decoder_num_heads=16,
        mlp_ratio=4.,
    ),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=16,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
