"""Every config says what it holds, and the full-size configs hold the published recipes.

The names follow mmpretrain's convention (``<algo>_<backbone>_<GPUs>xb<per-GPU batch>[-accumK]
-<tricks>-<schedule>_<data>``): the per-GPU batch, the accumulated steps and the schedule length
in a name must be what the config trains with. The recipe numbers below are copied from the
official scripts (cited at each check), not from the configs, so a config that drifts from them
fails here.
"""
import os.path as osp
import re

import pytest
from config_helpers import ROOT, config_id, config_paths, fp32_optim_wrapper
from mmengine.config import Config

CONFIGS = config_paths()


def cfg_of(rel):
    return Config.fromfile(osp.join(ROOT, 'configs', rel))


def inner_wrapper(cfg):
    wrapper = cfg.optim_wrapper
    return wrapper.optim_wrapper if wrapper.get('type') == 'DBPOptimWrapper' else wrapper


def final_lr_ratio(cfg):
    """lr at the end of the schedule / base lr, from the last (cosine / poly) scheduler."""
    last = cfg.param_scheduler[-1]
    if last.get('eta_min_ratio') is not None:
        return last.eta_min_ratio
    return last.get('eta_min', 0.) / cfg.optim_wrapper.optimizer.lr


@pytest.mark.parametrize('path', CONFIGS, ids=config_id)
def test_name_fields_match_the_content(path):
    cfg = Config.fromfile(path)
    # a '-<N>e-pre' field names the pre-training the config starts from, not its own schedule
    name = re.sub(r'\d+e-pre', '', osp.basename(path)[:-3])
    gpus_batch = re.search(r'(\d+)xb(\d+)', name)
    assert gpus_batch, f'no <GPUs>xb<batch> field in {name}'
    gpus, per_gpu = int(gpus_batch[1]), int(gpus_batch[2])
    assert cfg.train_dataloader.batch_size == per_gpu
    accum = re.search(r'-accum(\d+)', name)
    # DBPOptimWrapper hands the keys it does not know (accumulative_counts) to the wrapped one
    counts = cfg.optim_wrapper.get('accumulative_counts',
                                   inner_wrapper(cfg).get('accumulative_counts', 1))
    assert counts == (int(accum[1]) if accum else 1)
    auto_scale = cfg.get('auto_scale_lr')
    if auto_scale:
        # mmengine's --auto-scale-lr scales by (GPUs x per-GPU batch) / base_batch_size
        assert auto_scale.base_batch_size == gpus * per_gpu

    epochs = re.findall(r'[-_](\d+)e(?=[-_]|$)', name)
    iters = re.findall(r'[-_](\d+)([ki])(?=[-_]|$)', name)
    assert epochs or iters, f'no schedule length in {name}'
    ends = [s.end for s in cfg.param_scheduler]
    if epochs:
        assert cfg.train_cfg.max_epochs == int(epochs[-1])
        assert max(ends) == int(epochs[-1])
        assert all(s.get('by_epoch', True) for s in cfg.param_scheduler)
    else:
        n, unit = iters[-1]
        n = int(n) * (1000 if unit == 'k' else 1)
        assert cfg.train_cfg.max_iters == n
        assert max(ends) == n
        assert not any(s.get('by_epoch', True) for s in cfg.param_scheduler)


def test_evit_finetuning_scales_the_lr_as_the_released_main():
    """EViT finetune.sh: --lr 2e-5 --min-lr 2e-6 --weight-decay 1e-6 --batch-size 256 on 8 GPUs,
    no warm-up, 30 epochs; main.py multiplies --lr by batch_size * world_size / 512 (min-lr is
    absolute); --drop-path keeps its default 0.1 for every model."""
    for arch in ('small', 'base'):
        for init in ('', 'maskft-'):
            cfg = cfg_of(f'evit/evit_{init}deit-{arch}-p16_8xb256-keep0.7-30e_in1k.py')
            lr = cfg.optim_wrapper.optimizer.lr
            assert lr == pytest.approx(2e-5 * 8 * 256 / 512)
            assert lr * final_lr_ratio(cfg) == pytest.approx(2e-6)
            assert cfg.optim_wrapper.optimizer.weight_decay == 1e-6
            assert [s.type for s in cfg.param_scheduler] == ['CosineAnnealingLR']
            assert cfg.model.backbone.drop_path_rate == 0.1


def test_dynamicvit_matches_the_released_recipe():
    """DynamicViT README commands: DeiT-S with no --drop_path (the model's default 0), DeiT-B
    --drop_path 0.2 --ratio_weight 5.0; --lr 1e-3 (not rescaled) at 8 x 128, 5 warm-up epochs,
    cosine to --min_lr 1e-6, 30 epochs."""
    for arch, drop_path, ratio_weight in (('small', 0.0, 2.0), ('base', 0.2, 5.0)):
        for init in ('', 'maskft-'):
            cfg = cfg_of(f'dynamicvit/dynamicvit_{init}deit-{arch}-p16_8xb128-keep0.7-30e_in1k.py')
            assert cfg.model.backbone.drop_path_rate == drop_path
            assert cfg.model.ratio_loss.loss_weight == ratio_weight
            lr = cfg.optim_wrapper.optimizer.lr
            assert lr == 1e-3 and cfg.auto_scale_lr.base_batch_size == 8 * 128
            assert lr * final_lr_ratio(cfg) == pytest.approx(1e-6)
            assert cfg.param_scheduler[0].end == 5


def test_greenmim_pretraining_base_lr_per_model():
    """Official scripts/{run,srun}_greenmim_swin_base_win14.sh: --blr 1.5e-4;
    scripts/{run,srun}_greenmim_swin_large_win14.sh: --blr 1.0e-4; lr = blr x batch / 256."""
    for name, blr in (('greenmim_swin-base-w7_8xb256-amp-coslr-800e_in1k.py', 1.5e-4),
                      ('greenmim_swin-base-w14_8xb256-amp-coslr-800e_in1k.py', 1.5e-4),
                      ('greenmim_swin-large-w14_8xb256-amp-coslr-800e_in1k.py', 1.0e-4),
                      ('greenmim_swin-large-w14_8xb256-amp-coslr-800e_in1k-10pct.py', 1.0e-4)):
        cfg = cfg_of(f'greenmim/{name}')
        assert cfg.optim_wrapper.optimizer.lr == pytest.approx(blr * 8 * 256 / 256), name


ADE20K = [p for p in CONFIGS if 'ade20k-512x512' in osp.basename(p)
          or 'ade20k-10pct-512x512' in osp.basename(p)]


@pytest.mark.parametrize('path', ADE20K, ids=osp.basename)
def test_ade20k_512_configs(path):
    """150 classes with the zero label ignored, 512x512 crops; the UPerNets on the MAE / BEiT
    recipe (layer-wise lr decay) evaluate with mmseg's MAE sliding window (512, stride 341)."""
    cfg = Config.fromfile(path)
    assert cfg.model.decode_head.num_classes == 150
    assert cfg.model.auxiliary_head.num_classes == 150
    pipelines = cfg.train_dataloader.dataset.get('dataset', cfg.train_dataloader.dataset)
    loads = [t for t in pipelines.pipeline if t.type in ('LoadAnnotations', 'LoadCheckedAnnotations')]
    assert loads and all(t.reduce_zero_label for t in loads)
    crop = next(t for t in pipelines.pipeline if t.type == 'RandomCrop').crop_size
    assert tuple(crop) == (512, 512)
    assert tuple(cfg.model.data_preprocessor.size) == (512, 512)
    assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = 16, as every 8xb2 recipe
    if cfg.optim_wrapper.get('paramwise_cfg', {}).get('layer_decay_rate'):
        assert cfg.model.test_cfg == dict(mode='slide', crop_size=(512, 512), stride=(341, 341))


def test_layer_decay_upernet_schedule_exempts_every_1d_parameter():
    """mmseg's LayerDecayOptimizerConstructor (its MAE / BEiT UPerNet recipe) gives no weight
    decay to any 1-D parameter (the heads' BN weights included), pos_embed or cls_token, and
    lr x 0.65^(L + 1 - i) to block i of an L-block ViT. Built on a 2-block, 32-wide copy."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    from mmdbp.registry import MODELS
    cfg = cfg_of('dbp_mae/mae-base_upernet_8xb2-amp-16k_ade20k-10pct-512x512.py')
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model
    model_cfg.backbone.update(embed_dims=32, num_layers=2, num_heads=2, out_indices=(0, 1, 1, 1),
                              img_size=(64, 64), init_cfg=None)
    model_cfg.neck.update(in_channels=[32] * 4, out_channels=32)
    model_cfg.decode_head.update(in_channels=[32] * 4, channels=16, norm_cfg=dict(type='BN'))
    model_cfg.auxiliary_head.update(in_channels=32, channels=8, norm_cfg=dict(type='BN'))
    model = MODELS.build(model_cfg)
    wrapper = build_optim_wrapper(model, fp32_optim_wrapper(cfg.optim_wrapper))  # AMP needs a GPU
    groups = wrapper.optimizer.param_groups  # the same as AMP's
    names = {id(p): n for n, p in model.named_parameters()}
    base_lr, base_wd = 1e-4, 0.05
    seen = 0
    for group in groups:
        for param in group['params']:
            name = names[id(param)]
            no_decay = param.ndim <= 1 or name.endswith(('pos_embed', 'cls_token'))
            assert group['weight_decay'] == (0. if no_decay else base_wd), name
            block = re.match(r'backbone\.layers\.(\d+)\.', name)
            if block:
                assert group['lr'] == pytest.approx(base_lr * 0.65**(2 - int(block[1]))), name
            elif name.startswith(('backbone.patch_embed', 'backbone.pos_embed',
                                  'backbone.cls_token')):
                assert group['lr'] == pytest.approx(base_lr * 0.65**3), name
            elif not name.startswith('backbone.'):
                assert group['lr'] == pytest.approx(base_lr), name
            seen += 1
    assert seen == sum(1 for p in model.parameters() if p.requires_grad)
    assert any(n.startswith('decode_head') and 'bn.weight' in n for n in names.values())
