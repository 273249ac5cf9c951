# DynamicViT on DeiT-B (released recipe: drop path 0.2, keep-ratio loss weight 5.0); see
# dynamicvit_deit-small-p16_8xb128-keep0.7-30e_in1k.py.
_base_ = [
    '../_base_/models/deit-base-p16_fast-vit.py',
    '../_base_/datasets/imagenet_bs64_cls.py',
    '../_base_/schedules/imagenet_bs1024_adamw_coslr-30e_dynamicvit.py',
    '../_base_/default_runtime.py',
]

keep_ratio = 0.7
init_checkpoint = 'checkpoints/deit-base_pt-16xb64_in1k_20220216-db63c16c.pth'
model = dict(
    type='DynamicViTClassifier',
    backbone=dict(type='DynamicViT', keep_ratio=keep_ratio, pruning_locs=(3, 6, 9),
                  drop_path_rate=0.2),
    teacher=dict(
        type='ImageClassifier',
        backbone=dict(type='FastVisionTransformer', arch='deit-base', img_size=224,
                      patch_size=16),
        head=dict(type='VisionTransformerClsHead', num_classes=1000, in_channels=768)),
    teacher_ckpt=init_checkpoint,
    ratio_loss=dict(type='TokenKeepRatioLoss', loss_weight=5.0),
    init_cfg=dict(type='Pretrained', checkpoint=init_checkpoint))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
