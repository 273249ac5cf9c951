# MIRL ViT-S-54 on 10% of ImageNet-1K with decorrelated backpropagation (DBP) on the encoder's
# transformer linears (qkv, proj, fc1, fc2 of all 54 blocks; never the decoders): only the optim
# wrapper changes, AMP and the 8-step gradient accumulation stay (handed to the inner wrapper).
# Its checkpoints hold the folded weights W R (R and the unfolded W only in the optimizer state).
_base_ = './mirl_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k-10pct.py'

optim_wrapper = dict(
    type='DBPOptimWrapper',
    optim_wrapper=dict(type='AmpOptimWrapper'),
    decor_lr=1e-3,
    kappa=0.5,
    sample_frac=0.1,
    include=[r'^backbone\.'])
