# The MIRL demo with decorrelated backpropagation on the encoder linears (CPU: plain inner
# OptimWrapper). Everything else is ./mirl_vit-demo-d12-p4_1xb32-coslr-50e_demo-in1k-32px.py.
_base_ = './mirl_vit-demo-d12-p4_1xb32-coslr-50e_demo-in1k-32px.py'

optim_wrapper = dict(
    type='DBPOptimWrapper',
    optim_wrapper=dict(type='OptimWrapper'),
    decor_lr=1e-3,
    kappa=0.5,
    sample_frac=0.1,
    include=[r'^backbone\.'],
    log_interval=50)
