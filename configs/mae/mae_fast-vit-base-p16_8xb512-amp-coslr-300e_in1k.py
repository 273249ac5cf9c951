# MAE ViT-B/16, 300 epochs on ImageNet-1K, 8 GPUs x 512 images, fp16 AMP: mmpretrain's
# mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py with the encoder/decoder on mmdbp's fast ViT
# path. Everything else (data, AdamW schedule, runtime) is identical, so it is the apples-to-apples
# counterpart of the mmpretrain config in tools/benchmark.py (workload `mae-vit-b16`).
_base_ = [
    '../_base_/models/mae_fast-vit-base-p16.py',
    '../_base_/datasets/imagenet_bs64_mae.py',
    '../_base_/schedules/imagenet_bs4096_adamw_coslr-300e_mae.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=512)

# fp16 mixed precision with dynamic loss scaling, as mmpretrain's MAE configs
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')

# auto resume, as mmpretrain's MAE configs
resume = True
