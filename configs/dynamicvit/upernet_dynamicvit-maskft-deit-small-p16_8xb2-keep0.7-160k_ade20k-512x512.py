# UPerNet + DynamicViT-S from the masked-fine-tuned initialisation: the backbone starts from
# dynamicvit_maskft-deit-small-p16_8xb128-keep0.7-30e_in1k.py.
_base_ = './upernet_dynamicvit-deit-small-p16_8xb2-keep0.7-160k_ade20k-512x512.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/dynamicvit_maskft-deit-small-p16_8xb128-keep0.7-30e_in1k/'
    'epoch_30.pth')))
