# DBP-GreenMIM demo: greenmim_swin-micro-w4-p2_1xb32-300i_demo-in1k.py with decorrelated
# backpropagation (DBPOptimWrapper) on every linear layer of the sparse Swin encoder (qkv, proj,
# both FFN layers, patch-merging reductions; never the decoder or head). Only the optim wrapper
# changes. Its checkpoints hold the folded weights W R (R and the unfolded W only in the optimizer
# state), so they load like plain GreenMIM checkpoints (demo fine-tuning: pass
# model.backbone.init_cfg.checkpoint=<work_dir>/iter_300.pth to configs/greenmim/benchmarks/*demo*).
_base_ = ['./greenmim_swin-micro-w4-p2_1xb32-300i_demo-in1k.py']

optim_wrapper = dict(
    type='DBPOptimWrapper',
    optim_wrapper=dict(type='OptimWrapper'),  # the wrapped wrapper (AmpOptimWrapper on GPU)
    decor_lr=1e-3,
    kappa=0.5,
    sample_frac=0.1,
    include=[r'^backbone\.stages\.'],
    log_interval=50)
