# DynamicViT on DeiT-B: dynamicvit_deit-small-p16_8xb128-keep0.7-30e_in1k.py with DeiT-B (768
# wide) as student and teacher, and the released DeiT-B recipe's drop path 0.2 and keep-ratio loss
# weight 5.0.
_base_ = './dynamicvit_deit-small-p16_8xb128-keep0.7-30e_in1k.py'

init_checkpoint = 'checkpoints/deit-base_pt-16xb64_in1k_20220216-db63c16c.pth'
model = dict(
    backbone=dict(arch='deit-base', drop_path_rate=0.2),
    head=dict(in_channels=768),
    teacher=dict(backbone=dict(arch='deit-base'), head=dict(in_channels=768)),
    teacher_ckpt=init_checkpoint,
    ratio_loss=dict(loss_weight=5.0),
    init_cfg=dict(checkpoint=init_checkpoint))
