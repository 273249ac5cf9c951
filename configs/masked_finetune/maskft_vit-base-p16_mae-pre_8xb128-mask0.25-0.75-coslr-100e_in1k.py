# Masked fine-tuning from an MAE-pre-trained ViT-B encoder (mmpretrain's MAE checkpoint, or one of
# mmdbp's MAE / DBP-MAE runs): MAE's fine-tuning recipe (layer-wise lr decay 0.65, 100 epochs,
# global average pooling over the kept tokens) with a random 25-75% of the patches dropped per
# batch. For a ViT-S MAE encoder use arch='deit-small' and in_channels=384.
_base_ = [
    '../_base_/models/deit-base-p16_fast-vit.py',
    '../_base_/datasets/imagenet_bs64_cls.py',
    '../_base_/schedules/imagenet_bs1024_adamw_layerdecay-100e_ft.py',
    '../_base_/default_runtime.py',
]

mask_ratio = (0.25, 0.75)
model = dict(
    backbone=dict(
        type='MaskedFinetuneViT',
        arch='base',
        mask_ratio=mask_ratio,
        drop_path_rate=0.1,
        out_type='avg_featmap',
        final_norm=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/mae_vit-base-p16_8xb512-fp16-coslr-1600e_in1k_'
            '20220825-f7569ca2.pth',
            prefix='backbone.')),
    head=dict(type='LinearClsHead', in_channels=768,
              init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
