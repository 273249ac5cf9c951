# DBP-GreenMIM Swin-B (window 7) on 10% of ImageNet-1K: greenmim_swin-base-w7_..._in1k-10pct.py
# with decorrelated backpropagation on the linear layers of the sparse Swin encoder. Only the optim
# wrapper changes (the AMP wrapper of the base config is wrapped). Its checkpoints hold the folded
# weights W R, so they fine-tune like plain GreenMIM ones (tools/model_converters/greenmim_to_swin.py
# for another window size).
_base_ = './greenmim_swin-base-w7_8xb256-amp-coslr-800e_in1k-10pct.py'

optim_wrapper = dict(
    type='DBPOptimWrapper',
    optim_wrapper=dict(type='AmpOptimWrapper'),
    decor_lr=1e-3,
    kappa=0.5,
    sample_frac=0.1,
    include=[r'^backbone\.stages\.'],
    log_interval=100)
