# MIRL with ViT-B-48 (768 wide, 12 heads, 48 blocks), as the official
# mirl_vit_base_patch16_depth48_dec512d2b: 6 equal segments (ends 7, 15, 23, 31, 39, 47),
# one decoder per segment (512 wide, 2 cross blocks, 16 heads, weight-normalised pixel head).
_base_ = './mirl_vit-small-54-p16.py'

model = dict(
    backbone=dict(arch='base-48'),
    neck=dict(embed_dim=768, decoder_embed_dim=512, decoder_depth=2, decoder_num_heads=16))
