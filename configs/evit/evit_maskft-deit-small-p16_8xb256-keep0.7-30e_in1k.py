# EViT fine-tuned from the masked-fine-tuned DeiT-S
# (../masked_finetune/maskft_deit-small-p16_8xb128-mask0.25-0.75-coslr-30e_in1k.py).
_base_ = './evit_deit-small-p16_8xb256-keep0.7-30e_in1k.py'

model = dict(init_cfg=dict(
    type='Pretrained',
    checkpoint='work_dirs/maskft_deit-small-p16_8xb128-mask0.25-0.75-coslr-30e_in1k/epoch_30.pth'))
