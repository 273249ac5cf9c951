# MIRL pre-training of ViT-B-48 on ImageNet-1K, 300 epochs, effective batch 4096 (8 x 64 x 8
# accumulated), the same recipe as ViT-S-54.
_base_ = './mirl_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k.py'

model = dict(
    backbone=dict(arch='base-48'),
    neck=dict(embed_dim=768, decoder_embed_dim=512, decoder_depth=2, decoder_num_heads=16))
