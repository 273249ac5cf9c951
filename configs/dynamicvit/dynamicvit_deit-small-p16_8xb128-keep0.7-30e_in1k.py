# DynamicViT (Rao et al., NeurIPS 2021) on DeiT-S, ImageNet-1K, the released recipe: prediction
# modules before blocks 3, 6, 9 keeping rho, rho^2, rho^3 of the 196 patch tokens
# (rho = keep_ratio),
# CE + 2.0 x keep-ratio loss + 0.5 x KL to the dense teacher + 0.5 x MSE on the kept tokens'
# features, predictors at lr 1e-3 and the ViT at 0.01x, 30 epochs, no drop path (the released
# code builds DeiT-S without one; DeiT-B adds 0.2). Student and teacher start from
# `init_checkpoint` (mmpretrain's DeiT-S here; the _maskft_ config starts both from the masked-
# fine-tuned DeiT-S).
_base_ = [
    '../_base_/models/deit-small-p16_fast-vit.py',
    '../_base_/datasets/imagenet_bs64_cls.py',
    '../_base_/schedules/imagenet_bs1024_adamw_coslr-30e_dynamicvit.py',
    '../_base_/default_runtime.py',
]

keep_ratio = 0.7
init_checkpoint = 'checkpoints/deit-small_pt-4xb256_in1k_20220218-9425b9bb.pth'
model = dict(
    type='DynamicViTClassifier',
    backbone=dict(type='DynamicViT', keep_ratio=keep_ratio, pruning_locs=(3, 6, 9),
                  drop_path_rate=0.0),
    teacher=dict(
        type='ImageClassifier',
        backbone=dict(type='FastVisionTransformer', arch='deit-small', img_size=224,
                      patch_size=16),
        head=dict(type='VisionTransformerClsHead', num_classes=1000, in_channels=384)),
    teacher_ckpt=init_checkpoint,
    teacher_token_layer='backbone.norm',
    ratio_loss=dict(type='TokenKeepRatioLoss', loss_weight=2.0),
    distill_weight=0.5,
    token_distill_weight=0.5,
    init_cfg=dict(type='Pretrained', checkpoint=init_checkpoint))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
