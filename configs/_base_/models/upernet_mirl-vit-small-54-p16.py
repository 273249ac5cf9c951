# UPerNet on a MIRL-pre-trained ViT-S-54 (mmseg's VisionTransformer, 54 blocks, 12 heads): the
# ViT-B/16 UPerNet of upernet_vit-base-p16.py with four feature maps taken at the ends of the 4
# quarters of the encoder. The backbone loads a checkpoint converted by
# tools/model_converters/mirl_to_vit.py --target mmseg.
_base_ = './upernet_vit-base-p16.py'
embed_dims = 384
model = dict(
    backbone=dict(
        in_channels=3,
        embed_dims=embed_dims,
        num_layers=54,
        num_heads=12,
        out_indices=(13, 26, 40, 53),
        drop_rate=0.,
        attn_drop_rate=0.,
        norm_eval=False),
    neck=dict(in_channels=[embed_dims] * 4, out_channels=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4),
    auxiliary_head=dict(in_channels=embed_dims))
