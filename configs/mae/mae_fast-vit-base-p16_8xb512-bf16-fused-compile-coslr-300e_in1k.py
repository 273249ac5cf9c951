# GPU-tuned MAE ViT-B/16: the fast path plus the step-level tricks that need an accelerator.
#   - bf16 autocast without loss scaling (mmdbp's AutocastOptimWrapper: no GradScaler work),
#   - fused AdamW (one kernel for the whole update; needs all parameters on the GPU),
#   - torch.compile of the train step (mmengine's `compile` runner option; the first iterations
#     compile, then LayerNorm/GELU/residual/dropout fuse around the matmuls and attention).
# Same schedule and data as mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k.py.
_base_ = './mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

optim_wrapper = dict(
    _delete_=True,
    type='AutocastOptimWrapper',
    dtype='bfloat16',
    # plain-dict param groups, which torch.compile can trace (with any wrapper type)
    constructor='PlainParamGroupsOptimWrapperConstructor',
    optimizer=dict(_base_.optim_wrapper.optimizer, fused=True),
    paramwise_cfg=_base_.optim_wrapper.paramwise_cfg)

compile = True  # or e.g. dict(mode='max-autotune'); False to debug
