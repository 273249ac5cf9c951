# MAE ViT-L/16 on mmdbp's fast ViT path; counterpart of mmpretrain's
# mae_vit-large-p16_8xb512-amp-coslr-300e_in1k.py (same data, schedule and runtime).
_base_ = './mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

model = dict(backbone=dict(arch='l'), neck=dict(embed_dim=1024))
