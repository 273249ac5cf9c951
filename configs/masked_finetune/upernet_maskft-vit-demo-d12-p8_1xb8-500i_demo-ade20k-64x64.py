# UPerNet + the masked-fine-tuned demo ViT (dense) on the demo ADE20K set: the backbone starts from
# maskft_vit-demo-d12-p8_1xb32-mask0.25-0.75-coslr-10e_demo-in1k.py.
_base_ = './upernet_vit-demo-d12-p8_1xb8-500i_demo-ade20k-64x64.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/maskft_vit-demo-d12-p8_1xb32-mask0.25-0.75-coslr-10e_demo-in1k/'
    'epoch_10.pth')))
