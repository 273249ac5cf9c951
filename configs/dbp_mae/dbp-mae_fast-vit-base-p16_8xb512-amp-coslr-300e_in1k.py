# DBP-MAE ViT-B/16 on the full ImageNet-1K, mmdbp's fast ViT path: configs/mae's
# mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k.py with DBP on the encoder's transformer linears,
# nothing else changed. The step-time benchmark (tools/benchmark.py --workload dbp-mae-vit-b16)
# compares it with that config.
_base_ = '../mae/mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

optim_wrapper = dict(
    type='DBPOptimWrapper',
    optim_wrapper=dict(type='AmpOptimWrapper'),
    decor_lr=1e-3,
    kappa=0.5,
    sample_frac=0.1,
    update_interval=8,  # R every 8 steps, pooled samples: +4.3% work at ViT-B/16 b256
    include=[r'^backbone\.'],
    log_interval=100)
