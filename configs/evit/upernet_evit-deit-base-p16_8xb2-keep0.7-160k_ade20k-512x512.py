# UPerNet + EViT-B on ADE20K: upernet_evit-deit-small-p16_8xb2-keep0.7-160k_ade20k-512x512.py with
# DeiT-B (768 wide), starting from mmpretrain's DeiT-B.
_base_ = './upernet_evit-deit-small-p16_8xb2-keep0.7-160k_ade20k-512x512.py'

embed_dims = 768
model = dict(
    backbone=dict(
        arch='deit-base',
        init_cfg=dict(checkpoint='checkpoints/deit-base_pt-16xb64_in1k_20220216-db63c16c.pth')),
    neck=dict(in_channels=[embed_dims] * 4, out_channels=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4),
    auxiliary_head=dict(in_channels=embed_dims))
