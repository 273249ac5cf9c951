# UPerNet + EViT-S from the masked-fine-tuned DeiT-S
# (../masked_finetune/maskft_deit-small-p16_8xb128-mask0.25-0.75-coslr-30e_in1k.py).
_base_ = './upernet_evit-deit-small-p16_8xb2-keep0.7-160k_ade20k-512x512.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/maskft_deit-small-p16_8xb128-mask0.25-0.75-coslr-30e_in1k/'
    'epoch_30.pth')))
