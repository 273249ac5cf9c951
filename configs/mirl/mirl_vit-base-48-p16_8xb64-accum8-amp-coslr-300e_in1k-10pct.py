# MIRL ViT-B-48 on a fixed random 10% of ImageNet-1K (class-stratified), 300 epochs.
_base_ = './mirl_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k-10pct.py'

model = dict(
    backbone=dict(arch='base-48'),
    neck=dict(embed_dim=768, decoder_embed_dim=512, decoder_depth=2, decoder_num_heads=16))
