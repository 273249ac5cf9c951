# MIRL with ViT-S-54 (384 wide, 12 heads, 54 blocks), as the official
# mirl_vit_small_patch16_depth54_dec384d1b: 6 equal segments (ends 8, 17, 26, 35, 44, 53),
# one decoder per segment (384 wide, 1 cross block, 12 heads, weight-normalised pixel head),
# residual loss on the per-patch normalised target, mask ratio 0.75.
model = dict(
    type='MIRL',
    backbone=dict(type='MIRLViT', arch='small-54', img_size=224, patch_size=16, num_segments=6,
                  mask_ratio=0.75),
    neck=dict(
        type='MIRLMultiDecoder',
        num_segments=6,
        num_patches=196,
        patch_size=16,
        in_chans=3,
        embed_dim=384,
        decoder_embed_dim=384,
        decoder_depth=1,
        decoder_num_heads=12,
        mlp_ratio=4.,
        weight_norm_pred=True),
    head=dict(
        type='MIRLPretrainHead',
        norm_pix=True,
        patch_size=16,
        # options, off by default: pair_weights=[w0, w1, w2], detach_shallow=True
        loss=dict(type='MIRLResidualLoss')))
