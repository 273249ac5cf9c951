# MIRL pre-training of ViT-S-54 on ImageNet-1K, 300 epochs, the paper's recipe: effective batch
# 4096 = 8 GPUs x 64 images x 8 accumulated steps, AdamW (betas 0.9/0.95), lr = 1.5e-4 x 4096 /
# 256, weight decay 0.05, 40 warm-up epochs then cosine, mask ratio 0.75, AMP.
_base_ = [
    '../_base_/models/mirl_vit-small-54-p16.py',
    '../_base_/datasets/imagenet_bs64_mae.py',
    '../_base_/schedules/imagenet_bs4096_adamw_coslr-300e_mae.py',
    '../_base_/default_runtime.py',
]

# 8 x 64 per step, 8 accumulated steps -> 4096 images per update; fp16 AMP (the schedule base is
# fp32 so that it runs on CPU).
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic', accumulative_counts=8)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),  # logs loss and pair{0,1,2}_mse
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
custom_hooks = [dict(type='ReconstructionVisHook', interval=5000, num_samples=4)]

randomness = dict(seed=0, diff_rank_seed=True)
# mmengine smooths only the keys containing "loss"; average the per-pair MSEs the same way.
log_processor = dict(custom_cfg=[
    dict(data_src=f'pair{k}_mse', method_name='mean', window_size=10) for k in range(3)])
resume = True

# mmengine's --auto-scale-lr counts GPUs x per-GPU batch (not the accumulated steps): this
# config's 8 x 64 per step (x 8 accumulated = 4096) is the reference for linear scaling.
auto_scale_lr = dict(base_batch_size=512)
