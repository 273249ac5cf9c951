# UPerNet on the demo ViT of vit-demo-d12-p8_fast-vit.py (64 wide, 12 blocks, 8 px patches) for
# the 64x64 demo ADE20K set: maps of blocks 2, 5, 8, 11, a narrow UPerHead.
_base_ = './upernet_deit-small-p16_fast-vit.py'
embed_dims = 64
model = dict(
    data_preprocessor=dict(test_cfg=dict(size_divisor=8)),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=64, num_layers=12, num_heads=2,
                  feedforward_channels=256),
        img_size=64,
        patch_size=8),
    neck=dict(in_channels=[embed_dims] * 4, out_channels=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=32, pool_scales=(1, 2, 3)),
    auxiliary_head=dict(in_channels=embed_dims, channels=16))
