"""The masked fine-tuning / DynamicViT / EViT configs: every one parses and states its recipe;
the demo chain trains and evaluates end to end with the mmengine runner (plain classifier ->
masked fine-tuning -> DynamicViT / EViT -> UPerNet with the dense, DynamicViT and EViT
backbones), each stage starting from the previous stage's checkpoint."""
import glob
import os.path as osp

import pytest
import torch
from config_helpers import ROOT
from mmengine.config import Config

FOLDERS = ('masked_finetune', 'dynamicvit', 'evit')
CONFIGS = sorted(p for f in FOLDERS for p in glob.glob(osp.join(ROOT, 'configs', f, '*.py')))


def cfg_of(name):
    folder = next(f for f in FOLDERS if osp.isfile(osp.join(ROOT, 'configs', f, name)))
    return Config.fromfile(osp.join(ROOT, 'configs', folder, name))


def test_every_variant_exists():
    names = {osp.basename(p) for p in CONFIGS}
    for arch in ('deit-small', 'deit-base'):
        for name in (f'maskft_{arch}-p16_8xb128-mask0.25-0.75-coslr-30e_in1k.py',
                     f'dynamicvit_{arch}-p16_8xb128-keep0.7-30e_in1k.py',
                     f'dynamicvit_maskft-{arch}-p16_8xb128-keep0.7-30e_in1k.py',
                     f'evit_{arch}-p16_8xb256-keep0.7-30e_in1k.py',
                     f'evit_maskft-{arch}-p16_8xb256-keep0.7-30e_in1k.py',
                     f'upernet_{arch}-p16_8xb2-160k_ade20k-512x512.py',
                     f'upernet_maskft-{arch}-p16_8xb2-160k_ade20k-512x512.py',
                     f'upernet_dynamicvit-{arch}-p16_8xb2-keep0.7-160k_ade20k-512x512.py',
                     f'upernet_evit-{arch}-p16_8xb2-keep0.7-160k_ade20k-512x512.py'):
            assert name in names, name
    assert 'maskft_vit-base-p16_mae-pre_8xb128-mask0.25-0.75-coslr-100e_in1k.py' in names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_parses_with_its_recipe(path):
    cfg = Config.fromfile(path)
    name = osp.basename(path)
    bb = cfg.model.backbone
    if name.startswith('maskft'):
        assert bb.type == 'MaskedFinetuneViT' and tuple(bb.mask_ratio) == (0.25, 0.75)
    elif name.startswith('dynamicvit'):
        assert cfg.model.type == 'DynamicViTClassifier' and bb.type == 'DynamicViT'
        assert bb.pruning_locs == (3, 6, 9) and bb.keep_ratio == 0.7
        assert cfg.model.teacher_ckpt == cfg.model.init_cfg.checkpoint  # same initial weights
        keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
        assert keys['backbone.predictors']['lr_mult'] == 1.0
    elif name.startswith('evit'):
        assert bb.type == 'EViT' and bb.keep_rate == 0.7 and bb.fuse_token
    elif name.startswith('upernet'):
        assert cfg.default_scope == 'mmseg'
        assert tuple(bb.out_indices) == (2, 5, 8, 11) and bb.out_type == 'featmap' \
            if bb.type == 'FastVisionTransformer' else True
        assert cfg.model.neck.type == 'MultiLevelNeck'
        assert cfg.model.decode_head.type == 'UPerHead'
        assert cfg.model.auxiliary_head.type == 'FCNHead'
        if 'dynamicvit' in name:
            assert cfg.model.type == 'TokenPruningEncoderDecoder' and bb.type == 'DynamicViTSeg'
        if 'evit' in name:
            assert bb.type == 'EViTSeg'
    if 'maskft-' in name or name.startswith('upernet_maskft'):  # starts from masked FT
        ckpt = (bb.get('init_cfg') or cfg.model.get('init_cfg'))['checkpoint']
        assert 'maskft' in ckpt


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_init_checkpoints_are_what_the_named_config_writes(path):
    """A checkpoint 'work_dirs/<config>/<file>' named in a config is the last checkpoint that
    <config>.py (one of these folders) writes to its default work dir."""
    import re
    for name, file in re.findall(r"work_dirs/([^/'\"]+)/([^/'\"]+\.pth)",
                                 Config.fromfile(path).pretty_text):
        assert any(osp.isfile(osp.join(ROOT, 'configs', f, name + '.py')) for f in FOLDERS), name
        train_cfg = cfg_of(name + '.py').train_cfg
        last = (f'epoch_{train_cfg.max_epochs}.pth' if 'max_epochs' in train_cfg else
                f'iter_{train_cfg.max_iters}.pth')
        assert file == last, (name, file)


def test_evit_from_scratch_schedules_the_keep_rate():
    cfg = cfg_of('evit_deit-small-p16_8xb256-keep0.7-shrink10-100-300e_in1k.py')
    hook = cfg.custom_hooks[0]
    assert (hook.type, hook.attr, hook.start, hook.end, hook.warmup, hook.duration) == (
        'TokenRatioScheduleHook', 'backbone.train_keep_rate', 1.0, 'backbone.keep_rate', 10, 100)
    assert cfg.model.backbone.keep_rate == 0.7


# ------------------------------------------------------------------------------------------
# the demo chain, with the runner (tiny data: 4 classes x 6 images, 12 scenes)
# ------------------------------------------------------------------------------------------
def run(name, work_dir, demo_data, init=None, teacher=None, **options):
    from mmengine.runner import Runner
    cfg = cfg_of(name)
    seg = cfg.default_scope == 'mmseg'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False, batch_size=4)
        cfg[loader].dataset.data_root = demo_data['ade20k' if seg else 'in1k']
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.pop('visualization', None)
    if seg:
        cfg.train_cfg.update(max_iters=2, val_interval=2)
        cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=2)
        cfg.model.backbone.init_cfg = init and dict(type='Pretrained', checkpoint=str(init),
                                                    prefix='backbone.')
    else:
        cfg.train_cfg.update(max_epochs=1, val_interval=1)
        cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
        cfg.model.init_cfg = init and dict(type='Pretrained', checkpoint=str(init))
    if teacher is not None:
        cfg.model.teacher_ckpt = str(teacher)
    cfg.merge_from_dict(options)
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = work_dir / ('iter_2.pth' if seg else 'epoch_1.pth')
    assert ckpt.is_file()
    return runner, ckpt


def val_metrics(runner):
    return runner.message_hub.log_scalars


@pytest.fixture(scope='module')
def chain(demo_data, tmp_path_factory):
    out = {}
    root = tmp_path_factory.mktemp('pruning_chain')
    _, out['plain'] = run('vit-demo-d12-p8_1xb32-coslr-30e_demo-in1k.py', root / 'plain',
                          demo_data)
    out['maskft_runner'], out['maskft'] = run(
        'maskft_vit-demo-d12-p8_1xb32-mask0.25-0.75-coslr-10e_demo-in1k.py', root / 'maskft',
        demo_data, init=out['plain'])
    out['dyn_runner'], out['dynamicvit'] = run(
        'dynamicvit_maskft-vit-demo-d12-p8_1xb32-keep0.7-5e_demo-in1k.py', root / 'dynamicvit',
        demo_data, init=out['maskft'], teacher=out['maskft'])
    return out


def test_masked_finetuning_demo_trains_and_evaluates(chain):
    scalars = val_metrics(chain['maskft_runner'])
    assert 'val/accuracy/top1' in scalars
    state = torch.load(chain['maskft'], map_location='cpu', weights_only=False)['state_dict']
    assert 'backbone.blocks.11.mlp.fc2.weight' in state  # plain ViT weights, no new parameters


def test_dynamicvit_demo_trains_from_the_masked_finetuned_checkpoint(chain):
    runner = chain['dyn_runner']
    scalars = val_metrics(runner)
    for key in ('train/loss_cls', 'train/loss_ratio', 'train/loss_distill',
                'train/loss_token_distill', 'val/accuracy/top1'):
        assert key in scalars, key
    model = runner.model
    init = torch.load(chain['maskft'], map_location='cpu', weights_only=False)['state_dict']
    # the frozen teacher still holds the masked-fine-tuned weights after training
    torch.testing.assert_close(model.teacher.backbone.blocks[5].attn.qkv.weight,
                               init['backbone.blocks.5.attn.qkv.weight'])


def test_evit_demo_trains_with_the_keep_rate_schedule(chain, demo_data, tmp_path):
    runner, _ = run('evit_maskft-vit-demo-d12-p8_1xb32-keep0.7-5e_demo-in1k.py', tmp_path,
                    demo_data, init=chain['maskft'],
                    **{'custom_hooks.0.warmup': 0, 'custom_hooks.0.duration': 2})
    scalars = val_metrics(runner)
    assert 'train/train_keep_rate' in scalars and 'val/accuracy/top1' in scalars
    assert runner.model.backbone.train_keep_rate < 1.0


@pytest.mark.parametrize('name,init', [
    ('upernet_vit-demo-d12-p8_1xb8-500i_demo-ade20k-64x64.py', 'plain'),
    ('upernet_maskft-vit-demo-d12-p8_1xb8-500i_demo-ade20k-64x64.py', 'maskft'),
    ('upernet_dynamicvit-maskft-vit-demo-d12-p8_1xb8-keep0.7-500i_demo-ade20k-64x64.py',
     'dynamicvit'),
    ('upernet_evit-maskft-vit-demo-d12-p8_1xb8-keep0.7-500i_demo-ade20k-64x64.py', 'maskft'),
])
def test_upernet_demo_trains_and_evaluates(chain, demo_data, tmp_path, name, init):
    runner, _ = run(name, tmp_path, demo_data, init=chain[init])
    scalars = val_metrics(runner)
    assert 'val/mIoU' in scalars and 'train/decode.loss_ce' in scalars
    assert ('train/loss_ratio' in scalars) == ('dynamicvit' in name)
