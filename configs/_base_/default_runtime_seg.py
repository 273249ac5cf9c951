# Runtime for mmseg-scoped mmdbp configs (semantic segmentation, iteration based).
# Plain names resolve in mmseg's registries first, then in mmengine's root registries,
# where every mmdbp component lives (see docs/design.md).
default_scope = 'mmseg'
custom_imports = dict(imports=['mmdbp'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=16000, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    # crash-safe, exactly resumable training (mmdbp/engine/hooks; README "Resuming"): every
    # random state in checkpoints, and a clear stop at the first non-finite loss. In
    # default_hooks (a dict, merged with a config's own) so that a config's custom_hooks list
    # does not drop them.
    exact_resume=dict(type='ExactResumeHook'),
    non_finite_loss=dict(type='NonFiniteLossHook'),
)

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to 'gloo' when no GPU is present
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
tta_model = dict(type='SegTTAModel')
