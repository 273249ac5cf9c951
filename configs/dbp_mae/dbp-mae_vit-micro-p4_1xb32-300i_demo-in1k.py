# DBP-MAE demo: mae-baseline_vit-micro-p4_1xb32-300i_demo-in1k.py with decorrelated backpropagation on the
# encoder's transformer linears (qkv, proj, fc1, fc2 of every block; never the decoder or head).
# The optimizer, schedule, data and seed are the baseline's; only the optim wrapper changes.
_base_ = ['./mae-baseline_vit-micro-p4_1xb32-300i_demo-in1k.py']

optim_wrapper = dict(
    type='DBPOptimWrapper',
    optim_wrapper=dict(type='OptimWrapper'),  # the wrapped wrapper (AmpOptimWrapper on GPU)
    decor_lr=1e-3,
    kappa=0.5,
    sample_frac=0.1,
    update_interval=8,  # R every 8 steps, pooled samples: +4.3% work at ViT-B/16 b256
    include=[r'^backbone\.'],
    log_interval=50)
