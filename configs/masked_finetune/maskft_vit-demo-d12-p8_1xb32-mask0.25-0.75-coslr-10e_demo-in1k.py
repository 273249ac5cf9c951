# Masked fine-tuning of the demo classifier (vit-demo-d12-p8_1xb32-coslr-30e_demo-in1k.py) on the
# demo set: a random 25-75% of the 64 patch tokens dropped per batch, 10 epochs.
_base_ = './vit-demo-d12-p8_1xb32-coslr-30e_demo-in1k.py'

mask_ratio = (0.25, 0.75)
max_epochs = 10
model = dict(
    backbone=dict(type='MaskedFinetuneViT', mask_ratio=mask_ratio),
    init_cfg=dict(type='Pretrained',
                  checkpoint='work_dirs/vit-demo-d12-p8_1xb32-coslr-30e_demo-in1k/epoch_30.pth'))
optim_wrapper = dict(optimizer=dict(lr=3e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=2, end=max_epochs, eta_min_ratio=0.01,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
