# GPU-tuned MAE ViT-L/16 (bf16 without loss scaling, fused AdamW, torch.compile); see the ViT-B one.
_base_ = './mae_fast-vit-base-p16_8xb512-bf16-fused-compile-coslr-300e_in1k.py'

model = dict(backbone=dict(arch='l'), neck=dict(embed_dim=1024))
