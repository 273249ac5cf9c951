# Plain MAE on the same ViT-S-54 with the same recipe as MIRL: the baseline that shows the
# degradation of deeper blocks under masked image modelling (compare the fine-tuned accuracy
# with MIRL's).
_base_ = [
    '../_base_/models/mae_vit-small-54-p16.py',
    '../_base_/datasets/imagenet_bs64_mae.py',
    '../_base_/schedules/imagenet_bs4096_adamw_coslr-300e_mae.py',
    '../_base_/default_runtime.py',
]

optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic', accumulative_counts=8)
randomness = dict(seed=0, diff_rank_seed=True)
resume = True
auto_scale_lr = dict(base_batch_size=512)
