# DBP-MAE ViT-B/16 on 10% of ImageNet-1K: mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct.py with
# decorrelated backpropagation on the encoder's transformer linears (qkv, proj, fc1, fc2 of the 12
# blocks; never the decoder or the head). Only the optim wrapper changes: the AMP wrapper of the
# base config (and its loss_scale) is wrapped, the optimizer and schedule are the baseline's.
# Its checkpoints hold the folded weights W R (R and the unfolded W only in the optimizer state);
# tools/model_converters/dbp_mae_to_vit.py converts the encoder for mmseg / mmpretrain.
_base_ = './mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct.py'

optim_wrapper = dict(
    type='DBPOptimWrapper',
    optim_wrapper=dict(type='AmpOptimWrapper'),
    decor_lr=1e-3,
    kappa=0.5,
    sample_frac=0.1,
    update_interval=8,  # R every 8 steps, pooled samples: +4.3% work at ViT-B/16 b256
    include=[r'^backbone\.'],
    log_interval=100)
