# GreenMIM Swin-L (window 14) pre-training on ImageNet-1K, 224 px, 800 epochs.
_base_ = './greenmim_swin-base-w7_8xb256-amp-coslr-800e_in1k.py'

model = dict(
    backbone=dict(arch='large', window_size=14),
    neck=dict(embed_dims=1536))  # Swin-L last stage
