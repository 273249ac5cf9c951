# Plain MAE on the same ViT-S-54 encoder as MIRL (the degradation baseline of the MIRL paper):
# one decoder after the last block (MAE's 512 wide, 8 blocks, 16 heads), normalised pixel target.
model = dict(
    type='MAE',
    backbone=dict(type='FastMAEViT', arch='small-54', img_size=224, patch_size=16,
                  mask_ratio=0.75),
    neck=dict(
        type='FastMAEDecoder',
        num_patches=196,
        patch_size=16,
        in_chans=3,
        embed_dim=384,
        decoder_embed_dim=512,
        decoder_depth=8,
        decoder_num_heads=16,
        mlp_ratio=4.),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=16,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')))
