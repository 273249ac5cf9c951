# Masked fine-tuning of DeiT-B on ImageNet-1K: maskft_deit-small-p16_8xb128-mask0.25-0.75-coslr-30e_in1k.py
# with DeiT-B (768 wide; drop path 0.2 as DynamicViT's DeiT-B fine-tuning, which this one
# initialises), starting from mmpretrain's DeiT-B.
_base_ = './maskft_deit-small-p16_8xb128-mask0.25-0.75-coslr-30e_in1k.py'

model = dict(
    backbone=dict(arch='deit-base', drop_path_rate=0.2),
    head=dict(in_channels=768),
    init_cfg=dict(checkpoint='checkpoints/deit-base_pt-16xb64_in1k_20220216-db63c16c.pth'))
