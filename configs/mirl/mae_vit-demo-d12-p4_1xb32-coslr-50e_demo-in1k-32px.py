# Plain MAE on the same tiny deep ViT, data and schedule as the MIRL demo (the degradation
# comparison of tools/benchmark_mirl.py): one 64-wide, 2-block decoder after the last block.
_base_ = './mirl_vit-demo-d12-p4_1xb32-coslr-50e_demo-in1k-32px.py'

model = dict(
    _delete_=True,
    type='MAE',
    backbone=dict(type='FastMAEViT', arch={{_base_.vit_arch}}, img_size=32, patch_size=4,
                  mask_ratio=0.75),
    neck=dict(type='FastMAEDecoder', num_patches=64, patch_size=4, in_chans=3, embed_dim=64,
              decoder_embed_dim=64, decoder_depth=2, decoder_num_heads=4),
    head=dict(type='MAEPretrainHead', norm_pix=True, patch_size=4,
              loss=dict(type='PixelReconstructionLoss', criterion='L2')))
custom_hooks = []
