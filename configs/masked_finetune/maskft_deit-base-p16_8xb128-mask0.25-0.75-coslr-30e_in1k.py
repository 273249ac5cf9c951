# Masked fine-tuning of DeiT-B on ImageNet-1K; see
# maskft_deit-small-p16_8xb128-mask0.25-0.75-coslr-30e_in1k.py.
_base_ = [
    '../_base_/models/deit-base-p16_fast-vit.py',
    '../_base_/datasets/imagenet_bs64_cls.py',
    '../_base_/schedules/imagenet_bs1024_adamw_coslr-30e_maskft.py',
    '../_base_/default_runtime.py',
]

mask_ratio = (0.25, 0.75)
model = dict(
    backbone=dict(type='MaskedFinetuneViT', mask_ratio=mask_ratio),
    init_cfg=dict(type='Pretrained',
                  checkpoint='checkpoints/deit-base_pt-16xb64_in1k_20220216-db63c16c.pth'))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
