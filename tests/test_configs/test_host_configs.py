"""mmdbp's parts in a user's own mmpretrain / mmseg config, as the README writes them, train two
iterations with the host ``Runner``.

The user configs are the README's ``python`` blocks of "In your own mmpretrain or mmseg configs",
read from README.md (a README change is tested). On top of them the test only does what
``--cfg-options`` would: data roots at the generated sets, 64 px inputs, a narrower model, two
iterations, and the fp32 optim wrapper (fp16 AMP needs a GPU).
"""
import math
import os.path as osp
import re

from config_helpers import (ROOT, fp32_optim_wrapper, point_data_at, set_key, shrink_inputs,
                            small_dataloader)
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

SIDE = 64


def readme_user_configs() -> dict:
    """The README's user-config blocks (``python`` blocks starting with ``_base_ = '<host>::``
    in the "In your own mmpretrain or mmseg configs" section), by host (``'mmpretrain'``,
    ``'mmseg'``)."""
    with open(osp.join(ROOT, 'README.md')) as f:
        text = f.read()
    start = text.index('**In your own mmpretrain or mmseg configs**')
    end = text.index('\n## ', start)
    blocks = re.findall(r'```python\n(.*?)```', text[start:end], flags=re.S)
    by_host = {}
    for block in blocks:  # the complete user configs: those inheriting from a host config
        host = re.match(r"_base_ = '(\w+)::", block)
        if host:
            assert host[1] not in by_host, f'two README user configs on {host[1]}'
            by_host[host[1]] = block
    return by_host


class LossRecorder(Hook):
    """Records every training iteration's loss (and the iterations that ran)."""
    priority = 'VERY_LOW'

    def __init__(self):
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append(float(outputs['loss']))


def write_user_config(tmp_path, text: str) -> Config:
    path = tmp_path / 'user_config.py'
    path.write_text(text)
    return Config.fromfile(str(path))


def train_two_iters(cfg: Config, tmp_path) -> Runner:
    cfg.work_dir = str(tmp_path / 'work_dir')
    cfg.launcher = 'none'
    cfg.optim_wrapper = fp32_optim_wrapper(cfg.optim_wrapper)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 1000  # no checkpoint in the middle (the last one is)
    runner = Runner.from_cfg(cfg)
    recorder = LossRecorder()
    runner.register_hook(recorder)
    runner.train()
    assert runner.iter == 2
    assert len(recorder.losses) == 2 and all(math.isfinite(v) for v in recorder.losses)
    return runner


def test_readme_has_both_host_configs():
    assert set(readme_user_configs()) == {'mmpretrain', 'mmseg'}


def test_mmpretrain_mae_with_dbp_as_the_readme_writes_it(demo_data, tmp_path):
    """mmpretrain's own MAE ViT-B config, with mmdbp's fast MAE ViT, DBP and a 10% random
    subset switched on by the README's lines, trains with mmpretrain's runner set-up."""
    text = readme_user_configs()['mmpretrain']
    cfg = write_user_config(tmp_path, text)
    # the README's lines reached the config: mmdbp's models, DBP keeping the base's AMP (its
    # inherited loss_scale makes the inner wrapper an AmpOptimWrapper), the subset wrapper
    assert cfg.model.backbone.type == 'FastMAEViT' and cfg.model.neck.type == 'FastMAEDecoder'
    assert cfg.optim_wrapper.type == 'DBPOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    from mmdbp.engine.optimizers.dbp_optim_wrapper import inner_wrapper_cfg
    assert inner_wrapper_cfg(cfg.optim_wrapper.get('optim_wrapper', {}),
                             dict(loss_scale='dynamic'))['type'] == 'AmpOptimWrapper'
    subset = cfg.train_dataloader.dataset
    assert subset.type == 'RandomSubsetDataset' and subset.dataset.type == 'ImageNet'

    # --cfg-options: data, 64 px, a 2-block 64-wide ViT (DBP's R update costs d^3 per layer),
    # one epoch of the subset's 2 samples (10% of 24) in batches of 1 = two iterations
    point_data_at(cfg.train_dataloader, demo_data)
    small_dataloader(cfg.train_dataloader, 1)
    shrink_inputs(cfg, SIDE)
    for key, value in {
            'model.backbone.arch': dict(embed_dims=64, num_layers=2, num_heads=2,
                                        feedforward_channels=256),
            'model.backbone.img_size': SIDE,
            'model.neck.num_patches': (SIDE // 16)**2,
            'model.neck.embed_dim': 64,
            'model.neck.decoder_embed_dim': 32,
            'model.neck.decoder_depth': 1,
            'model.neck.decoder_num_heads': 2,
            'train_cfg.max_epochs': 1}.items():
        set_key(cfg, key, value)
    runner = train_two_iters(cfg, tmp_path)
    wrapper = runner.optim_wrapper
    assert type(wrapper).__name__ == 'DBPOptimWrapper' and wrapper.decorrelator is not None
    assert wrapper.decorrelator.num_updates == 2
    assert len(runner.train_dataloader.dataset) == 2


def test_mmseg_upernet_with_a_pruning_backbone_as_the_readme_writes_it(config_demo_data,
                                                                       tmp_path):
    """mmseg's own ViT UPerNet config with mmdbp's EViT segmentation backbone trains two
    iterations and validates with mmseg's runner set-up."""
    text = readme_user_configs()['mmseg']
    cfg = write_user_config(tmp_path, text)
    assert cfg.default_scope == 'mmseg' and cfg.model.backbone.type == 'EViTSeg'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        point_data_at(cfg[loader], config_demo_data)
        small_dataloader(cfg[loader], 2)
    shrink_inputs(cfg, SIDE)
    dims = 64
    for key, value in {
            'model.backbone.arch': dict(embed_dims=dims, num_layers=12, num_heads=2,
                                        feedforward_channels=4 * dims),
            'model.backbone.img_size': SIDE,
            'model.neck.in_channels': [dims] * 4,
            'model.neck.out_channels': dims,
            'model.decode_head.in_channels': [dims] * 4,
            'model.decode_head.channels': 32,
            'model.auxiliary_head.in_channels': dims,
            'model.auxiliary_head.channels': 16,
            'train_cfg.max_iters': 2,
            'train_cfg.val_interval': 2}.items():
        set_key(cfg, key, value)
    runner = train_two_iters(cfg, tmp_path)
    assert type(runner.model.backbone).__name__ == 'EViTSeg'
    metrics = runner.message_hub.log_scalars
    assert 'val/mIoU' in metrics and math.isfinite(metrics['val/mIoU'].current())
