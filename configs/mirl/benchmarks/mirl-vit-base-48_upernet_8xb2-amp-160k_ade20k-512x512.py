# UPerNet ADE20K from a MIRL-pre-trained ViT-B-48 (768 wide, 48 blocks); features at the ends of
# the encoder's quarters (blocks 11, 23, 35, 47). Convert first:
#   python tools/model_converters/mirl_to_vit.py work_dirs/<mirl>/epoch_300.pth \
#       pretrain/mirl_vit-base-48_mmseg.pth --target mmseg
_base_ = './mirl-vit-small-54_upernet_8xb2-amp-160k_ade20k-512x512.py'

embed_dims = 768
model = dict(
    backbone=dict(embed_dims=embed_dims, num_layers=48, num_heads=12, out_indices=(11, 23, 35, 47),
                  init_cfg=dict(checkpoint='pretrain/mirl_vit-base-48_mmseg.pth')),
    neck=dict(in_channels=[embed_dims] * 4, out_channels=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=embed_dims),
    auxiliary_head=dict(in_channels=embed_dims))
