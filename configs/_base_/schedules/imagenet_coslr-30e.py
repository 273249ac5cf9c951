# The 30-epoch ImageNet fine-tuning loop of the masked fine-tuning, DynamicViT and EViT recipes:
# 5 linear warm-up epochs (from 1e-3 of the lr) then cosine to 1% of the lr, stepped per iteration,
# validation every epoch. The recipe files (imagenet_bs*_adamw_coslr-30e_*.py) add the optimizer
# and the batch size the lr refers to (auto_scale_lr); EViT's replaces the lr schedule.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=30, eta_min_ratio=0.01,
         convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=1)
val_cfg = dict()
test_cfg = dict()
