# Masked fine-tuning (Shi & Wang, arXiv 2310.17177) of DeiT-S on ImageNet-1K: in training each
# batch drops a random 25-75% of the patch tokens (ratio drawn per batch) and classifies from the
# cls token of the kept ones; evaluation uses full images. Starts from mmpretrain's DeiT-S
# (download it to checkpoints/; timm / official DeiT files: tools/model_converters/vit_to_mmdbp.py).
# The result initialises ../dynamicvit and ../evit.
_base_ = [
    '../_base_/models/deit-small-p16_fast-vit.py',
    '../_base_/datasets/imagenet_bs64_cls.py',
    '../_base_/schedules/imagenet_bs1024_adamw_coslr-30e_maskft.py',
    '../_base_/default_runtime.py',
]

mask_ratio = (0.25, 0.75)
model = dict(
    backbone=dict(type='MaskedFinetuneViT', mask_ratio=mask_ratio),
    init_cfg=dict(type='Pretrained',
                  checkpoint='checkpoints/deit-small_pt-4xb256_in1k_20220218-9425b9bb.pth'))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
