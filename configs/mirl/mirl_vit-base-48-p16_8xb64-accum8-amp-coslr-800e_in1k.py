# MIRL ViT-B-48, 800 epochs (the 86.2% top-1 model of the paper).
_base_ = './mirl_vit-small-54-p16_8xb64-accum8-amp-coslr-800e_in1k.py'

model = dict(
    backbone=dict(arch='base-48'),
    neck=dict(embed_dim=768, decoder_embed_dim=512, decoder_depth=2, decoder_num_heads=16))
