# DynamicViT on DeiT-S from the masked-fine-tuned DeiT-S
# (../masked_finetune/maskft_deit-small-p16_8xb128-mask0.25-0.75-coslr-30e_in1k.py): student and
# teacher start from it; everything else as dynamicvit_deit-small-p16_8xb128-keep0.7-30e_in1k.py.
_base_ = './dynamicvit_deit-small-p16_8xb128-keep0.7-30e_in1k.py'

init_checkpoint = ('work_dirs/maskft_deit-small-p16_8xb128-mask0.25-0.75-coslr-30e_in1k/'
                   'epoch_30.pth')
model = dict(teacher_ckpt=init_checkpoint,
             init_cfg=dict(type='Pretrained', checkpoint=init_checkpoint))
