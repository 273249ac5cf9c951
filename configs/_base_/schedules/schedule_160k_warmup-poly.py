# The 160k-iteration ADE20K schedule of mmseg's transformer recipes: 1500 linear warm-up
# iterations (from 1e-6 of the lr) then poly decay (power 1) to 0 at 160k, validation every 16k
# iterations. The schedule_160k_adamw*.py files add their optimizer.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=160000, val_interval=16000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
