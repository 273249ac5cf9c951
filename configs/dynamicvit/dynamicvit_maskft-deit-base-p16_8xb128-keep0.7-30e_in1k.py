# DynamicViT on DeiT-B from the masked-fine-tuned DeiT-B; see
# dynamicvit_maskft-deit-small-p16_8xb128-keep0.7-30e_in1k.py.
_base_ = './dynamicvit_deit-base-p16_8xb128-keep0.7-30e_in1k.py'

init_checkpoint = ('work_dirs/maskft_deit-base-p16_8xb128-mask0.25-0.75-coslr-30e_in1k/'
                   'epoch_30.pth')
model = dict(teacher_ckpt=init_checkpoint,
             init_cfg=dict(type='Pretrained', checkpoint=init_checkpoint))
