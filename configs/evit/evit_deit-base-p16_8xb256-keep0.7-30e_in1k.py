# EViT fine-tuned from DeiT-B: evit_deit-small-p16_8xb256-keep0.7-30e_in1k.py with DeiT-B
# (768 wide), starting from mmpretrain's DeiT-B. Drop path 0.1: the released main.py's default for
# every model (finetune.sh does not change it), as DeiT-B's own recipe (not the 0.2 of
# ../_base_/models/deit-base-p16_fast-vit.py, which is DynamicViT-B's).
_base_ = './evit_deit-small-p16_8xb256-keep0.7-30e_in1k.py'

init_checkpoint = 'checkpoints/deit-base_pt-16xb64_in1k_20220216-db63c16c.pth'
model = dict(
    backbone=dict(arch='deit-base', drop_path_rate=0.1),
    head=dict(in_channels=768),
    init_cfg=dict(checkpoint=init_checkpoint))
