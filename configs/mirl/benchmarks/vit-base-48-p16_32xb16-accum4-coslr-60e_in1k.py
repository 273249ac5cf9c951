# ImageNet-1K fine-tuning of a MIRL-pre-trained ViT-B-48 (MIRL's FINETUNE.md): effective batch
# 2048 = 32 GPUs x 16 x 4 accumulated steps, lr = 7.5e-4 x 2048 / 256, layer-wise lr decay 0.88
# over the 48 blocks, no drop path, 30 warm-up epochs + cosine, 60 epochs, EMA.
_base_ = './vit-small-54-p16_16xb64-accum2-coslr-100e_in1k.py'

model = dict(
    backbone=dict(arch='base-48', drop_path_rate=0.),
    head=dict(in_channels=768))
train_dataloader = dict(batch_size=16)
optim_wrapper = dict(accumulative_counts=4)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=30,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=30, by_epoch=True, begin=30, end=60, eta_min=1e-6,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=60)
auto_scale_lr = dict(base_batch_size=512)
