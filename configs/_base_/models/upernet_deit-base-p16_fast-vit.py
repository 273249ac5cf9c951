# UPerNet on DeiT-B; see upernet_deit-small-p16_fast-vit.py.
_base_ = './upernet_deit-small-p16_fast-vit.py'
embed_dims = 768
model = dict(
    backbone=dict(arch='deit-base'),
    neck=dict(in_channels=[embed_dims] * 4, out_channels=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4),
    auxiliary_head=dict(in_channels=embed_dims))
