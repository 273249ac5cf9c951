# UPerNet + dense DeiT-S on ADE20K, mmseg's ViT recipe (AdamW 6e-5, 160k iterations, batch 8 x 2),
# on mmdbp's FastVisionTransformer: the dense baseline of the token-pruning UPerNets
# (../dynamicvit, ../evit). The backbone starts from mmpretrain's DeiT-S classifier checkpoint.
_base_ = [
    '../_base_/models/upernet_deit-small-p16_fast-vit.py',
    '../_base_/datasets/ade20k_512x512.py',
    '../_base_/schedules/schedule_160k_adamw_vit-upernet.py',
    '../_base_/default_runtime_seg.py',
]

crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(init_cfg=dict(
        type='Pretrained', prefix='backbone.',
        checkpoint='checkpoints/deit-small_pt-4xb256_in1k_20220218-9425b9bb.pth')))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
