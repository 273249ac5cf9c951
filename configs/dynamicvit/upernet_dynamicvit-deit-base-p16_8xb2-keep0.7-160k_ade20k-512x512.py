# UPerNet + DynamicViT-B on ADE20K:
# upernet_dynamicvit-deit-small-p16_8xb2-keep0.7-160k_ade20k-512x512.py with DeiT-B (768 wide),
# keep-ratio loss weight 5.0 (as DynamicViT-B's classifier), and the backbone from the
# DynamicViT-B classifier dynamicvit_deit-base-p16_8xb128-keep0.7-30e_in1k.py.
_base_ = './upernet_dynamicvit-deit-small-p16_8xb2-keep0.7-160k_ade20k-512x512.py'

embed_dims = 768
model = dict(
    ratio_loss=dict(loss_weight=5.0),
    backbone=dict(
        arch='deit-base',
        init_cfg=dict(checkpoint='work_dirs/dynamicvit_deit-base-p16_8xb128-keep0.7-30e_in1k/'
                      'epoch_30.pth')),
    neck=dict(in_channels=[embed_dims] * 4, out_channels=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4),
    auxiliary_head=dict(in_channels=embed_dims))
