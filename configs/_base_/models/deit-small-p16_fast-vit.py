# DeiT-S (Touvron et al., 2021) as an mmpretrain ImageClassifier on mmdbp's FastVisionTransformer
# (SDPA blocks). The head and training tricks are mmpretrain's DeiT ones (VisionTransformerClsHead,
# label smoothing 0.1, Mixup 0.8 / CutMix 1.0), so mmpretrain's DeiT checkpoints load as they are
# (FastVisionTransformer renames mmpretrain / timm keys on load). The masked fine-tuning, DynamicViT
# and EViT configs swap the backbone type.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='FastVisionTransformer', arch='deit-small', img_size=224, patch_size=16,
                  drop_path_rate=0.1),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))
