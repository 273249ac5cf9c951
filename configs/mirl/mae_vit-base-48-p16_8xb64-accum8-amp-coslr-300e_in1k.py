# Plain MAE on ViT-B-48, same recipe as MIRL (degradation baseline).
_base_ = './mae_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k.py'

model = dict(backbone=dict(arch='base-48'), neck=dict(embed_dim=768))
