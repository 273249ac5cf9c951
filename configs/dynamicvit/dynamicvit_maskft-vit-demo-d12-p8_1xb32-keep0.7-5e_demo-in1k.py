# DynamicViT on the demo ViT from the masked-fine-tuned demo classifier
# (../masked_finetune/maskft_vit-demo-d12-p8_1xb32-mask0.25-0.75-coslr-10e_demo-in1k.py).
_base_ = './dynamicvit_vit-demo-d12-p8_1xb32-keep0.7-5e_demo-in1k.py'

init_checkpoint = ('work_dirs/maskft_vit-demo-d12-p8_1xb32-mask0.25-0.75-coslr-10e_demo-in1k/'
                   'epoch_10.pth')
model = dict(teacher_ckpt=init_checkpoint,
             init_cfg=dict(type='Pretrained', checkpoint=init_checkpoint))
