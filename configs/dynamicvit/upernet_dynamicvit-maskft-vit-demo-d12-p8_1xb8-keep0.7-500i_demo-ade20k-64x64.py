# UPerNet + DynamicViT on the demo ViT from the masked-fine-tuned initialisation: the backbone
# starts from dynamicvit_maskft-vit-demo-d12-p8_1xb32-keep0.7-5e_demo-in1k.py.
_base_ = './upernet_dynamicvit-vit-demo-d12-p8_1xb8-keep0.7-500i_demo-ade20k-64x64.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/dynamicvit_maskft-vit-demo-d12-p8_1xb32-keep0.7-5e_demo-in1k/'
    'epoch_5.pth')))
