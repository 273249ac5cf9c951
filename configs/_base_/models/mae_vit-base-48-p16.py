# Plain MAE on the same ViT-B-48 encoder as MIRL (degradation baseline), MAE's standard decoder.
_base_ = './mae_vit-small-54-p16.py'

model = dict(backbone=dict(arch='base-48'), neck=dict(embed_dim=768))
