# UPerNet + masked-fine-tuned DeiT-B (dense) on ADE20K.
_base_ = './upernet_deit-base-p16_8xb2-160k_ade20k-512x512.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/maskft_deit-base-p16_8xb128-mask0.25-0.75-coslr-30e_in1k/'
    'epoch_30.pth')))
