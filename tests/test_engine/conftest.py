"""Fixtures of the engine tests: a tiny MAE pre-training config on the demo data."""
import copy

import pytest


def tiny_mae_config(in1k_root: str, work_dir: str, max_iters: int = 4, val_interval: int = 2,
                    dbp: bool = False, custom_hooks=None) -> dict:
    """mmpretrain's MAE with a 2-block FastMAEViT on 32 px demo images, validated by
    ValLossLoop + MeanLossMetric; optionally with DBP."""
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=32),
                dict(type='PackInputs')]
    loader = dict(batch_size=4, num_workers=0, collate_fn=dict(type='default_collate'),
                  dataset=dict(type='ImageNet', data_root=in1k_root, split='train',
                               pipeline=pipeline),
                  sampler=dict(type='DefaultSampler', shuffle=True))
    val_loader = copy.deepcopy(loader)
    val_loader['dataset']['split'] = 'val'
    val_loader['sampler']['shuffle'] = False
    optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3))
    if dbp:
        optim_wrapper.update(type='DBPOptimWrapper', decor_lr=1e-2, kappa=0.5, log_interval=1)
    return dict(
        default_scope='mmpretrain',
        work_dir=work_dir,
        model=dict(
            type='MAE',
            data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[127.5] * 3,
                                   std=[64.] * 3, to_rgb=True),
            backbone=dict(type='FastMAEViT', arch=dict(embed_dims=24, num_layers=2, num_heads=3,
                                                       feedforward_channels=48),
                          img_size=32, patch_size=8, mask_ratio=0.5),
            neck=dict(type='FastMAEDecoder', num_patches=16, patch_size=8, embed_dim=24,
                      decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2),
            head=dict(type='MAEPretrainHead', patch_size=8, norm_pix=True,
                      loss=dict(type='PixelReconstructionLoss', criterion='L2'))),
        train_dataloader=loader,
        val_dataloader=val_loader,
        val_cfg=dict(type='ValLossLoop', seed=0),
        val_evaluator=dict(type='MeanLossMetric'),
        optim_wrapper=optim_wrapper,
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook', by_epoch=False,
                                           interval=val_interval)),
        log_processor=dict(by_epoch=False),
        custom_hooks=custom_hooks or [],
        randomness=dict(seed=0),
        log_level='WARNING',
    )


@pytest.fixture
def mae_run_cfg(demo_data, tmp_path):
    """``make(max_iters=..., dbp=..., custom_hooks=..., work_dir=...) -> mmengine Config``."""
    from mmengine.config import Config

    def make(work_dir=None, **kwargs):
        return Config(tiny_mae_config(demo_data['in1k'], work_dir or str(tmp_path / 'run'), **kwargs))

    return make
