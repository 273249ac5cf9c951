"""tools/train.py, tools/test.py and `mim train/test mmdbp` end to end on the demo data (CPU).

Each run is a real subprocess with a few iterations of a demo config on the tiny session data.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch
from shared_helpers import load_tool, train_with_fake_runner

MAE_CFG = 'configs/demo/mae_vit-micro-p4_1xb32-300i_demo-in1k.py'
SEG_CFG = 'configs/demo/upernet_vit-micro-p4_1xb8-400i_demo-ade20k-64x64.py'


def _run(cmd, cwd, timeout=600):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd)} failed:\n{out[-6000:]}'
    return out


def _mae_opts(demo_data, max_iters):
    return ['--cfg-options', f'train_cfg.max_iters={max_iters}', 'train_dataloader.batch_size=4',
            'train_dataloader.num_workers=0', f'train_dataloader.dataset.data_root={demo_data["in1k"]}',
            'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=2']


def _seg_opts(demo_data, max_iters):
    root = demo_data['ade20k']
    return ['--cfg-options', f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
            'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
            'test_dataloader.num_workers=0', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}', f'test_dataloader.dataset.data_root={root}',
            'default_hooks.logger.interval=1', f'default_hooks.checkpoint.interval={max_iters}',
            'model.backbone.init_cfg=None']


def test_train_writes_checkpoint_then_resumes(repo_root, demo_data, tmp_path):
    work = str(tmp_path / 'mae')
    log = _run([sys.executable, 'tools/train.py', MAE_CFG, '--work-dir', work] + _mae_opts(demo_data, 4), repo_root)
    assert 'Iter(train) [4/4]' in log and 'loss:' in log
    assert osp.isfile(osp.join(work, 'iter_4.pth'))
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_4.pth')
    ckpt4 = torch.load(osp.join(work, 'iter_4.pth'), map_location='cpu', weights_only=False)
    assert ckpt4['meta']['iter'] == 4 and 'optimizer' in ckpt4 and 'param_schedulers' in ckpt4

    # --resume (auto): continues from iter 4 of the same work dir up to the new max_iters
    log = _run([sys.executable, 'tools/train.py', MAE_CFG, '--work-dir', work, '--resume'] +
               _mae_opts(demo_data, 6), repo_root)
    assert 'Auto resumed from the latest checkpoint' in log and 'resumed epoch: 0, iter: 4' in log
    assert 'Iter(train) [5/6]' in log and 'Iter(train) [1/6]' not in log
    ckpt6 = torch.load(osp.join(work, 'iter_6.pth'), map_location='cpu', weights_only=False)
    assert ckpt6['meta']['iter'] == 6
    steps = [s['step'] for s in ckpt6['optimizer']['state'].values()]
    assert steps and all(float(s) == 6 for s in steps)  # Adam moments carried over, not restarted

    # --resume PATH: an explicit checkpoint (here iter_4 again) into a fresh work dir
    log = _run([sys.executable, 'tools/train.py', MAE_CFG, '--work-dir', str(tmp_path / 'mae2'), '--resume',
                osp.join(work, 'iter_4.pth')] + _mae_opts(demo_data, 5), repo_root)
    assert 'Iter(train) [5/5]' in log and 'Iter(train) [4/5]' not in log


@pytest.fixture(scope='module')
def seg_checkpoint(repo_root, demo_data, tmp_path_factory):
    """Two UPerNet iterations with validation: (work dir, checkpoint, training log)."""
    work = str(tmp_path_factory.mktemp('seg'))
    log = _run([sys.executable, 'tools/train.py', SEG_CFG, '--work-dir', work] + _seg_opts(demo_data, 2), repo_root)
    return work, osp.join(work, 'iter_2.pth'), log


def test_train_seg_with_validation(seg_checkpoint):
    _, ckpt, log = seg_checkpoint
    assert osp.isfile(ckpt) and 'Iter(val)' in log and 'mIoU:' in log


def test_test_py_writes_metrics(repo_root, demo_data, seg_checkpoint, tmp_path):
    _, ckpt, _ = seg_checkpoint
    out = str(tmp_path / 'metrics.json')
    opts = _seg_opts(demo_data, 2)
    _run([sys.executable, 'tools/test.py', SEG_CFG, ckpt, '--work-dir', str(tmp_path / 'test'), '--out', out]
         + opts, repo_root)
    with open(out) as f:
        metrics = json.load(f)
    assert {'aAcc', 'mIoU', 'mAcc'} <= set(metrics) and 0 <= metrics['mIoU'] <= 100


def _mim():
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    if not osp.exists(mim):
        pytest.fail(f'openmim is not installed in this environment ({mim}); run tools/setup.sh')
    return mim


def test_mim_train_and_test_find_the_packaged_configs(demo_data, seg_checkpoint, tmp_path):
    """`mim train/test mmdbp <config name>` from outside the checkout: openmim finds the config and
    tools in the installed package (mmdbp/.mim)."""
    _, ckpt, _ = seg_checkpoint
    name = osp.basename(SEG_CFG)
    log = _run([_mim(), 'train', 'mmdbp', name, '--work-dir', str(tmp_path / 'w')] + _seg_opts(demo_data, 1),
               cwd=str(tmp_path))
    assert 'we find the config file in codebase mmdbp' in log and 'Iter(train) [1/1]' in log
    assert osp.isfile(tmp_path / 'w' / 'iter_1.pth')
    log = _run([_mim(), 'test', 'mmdbp', name, '--checkpoint', ckpt, '--work-dir', str(tmp_path / 't')]
               + _seg_opts(demo_data, 1), cwd=str(tmp_path))
    assert 'mIoU:' in log


def test_dist_train_sh_runs_ddp_with_two_processes(repo_root, demo_data, tmp_path):
    """tools/dist_train.sh (torchrun) with 2 processes; without a GPU they use gloo on CPU."""
    import random
    env_port = str(random.randint(20000, 29000))
    work = str(tmp_path / 'dist')
    cmd = ['bash', 'tools/dist_train.sh', MAE_CFG, '2', '--work-dir', work] + _mae_opts(demo_data, 2)
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=env_port, PYTHON=sys.executable)
    proc = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert 'Distributed training: True' in log and 'GPU number: 2' in log  # mmengine's world size line
    assert log.count('Iter(train) [2/2]') == 1  # rank 1 is silent
    assert osp.isfile(osp.join(work, 'iter_2.pth'))


def test_amp_flag(repo_root, tmp_path, monkeypatch):
    """--amp switches to AmpOptimWrapper on a GPU and is a clear error without one."""
    train, built = train_with_fake_runner(monkeypatch, 'mmdbp_train_amp')
    argv = [osp.join(repo_root, MAE_CFG), '--work-dir', str(tmp_path), '--amp']
    if torch.cuda.is_available():
        train.main(argv)
        assert built['cfg'].optim_wrapper.type == 'AmpOptimWrapper'
    else:
        with pytest.raises(SystemExit, match='--amp needs a CUDA GPU'):
            train.main(argv)
        assert 'cfg' not in built


@pytest.mark.parametrize('config, expected', [
    # DBP wraps another optim wrapper: AMP goes into the wrapped one, DBP stays
    ('configs/dbp_mae/dbp-mae_vit-micro-p4_1xb32-300i_demo-in1k.py',
     dict(type='DBPOptimWrapper', inner=dict(type='AmpOptimWrapper', loss_scale='dynamic'))),
    ('configs/dbp_mae/dbp-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py',
     dict(type='DBPOptimWrapper', inner=dict(type='AmpOptimWrapper'))),
    (MAE_CFG, dict(type='AmpOptimWrapper', loss_scale='dynamic')),
])
def test_amp_flag_on_wrapped_optim_wrappers(repo_root, tmp_path, monkeypatch, config, expected):
    import argparse

    from mmengine.config import Config
    train = load_tool('train.py', 'mmdbp_train_amp2')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    args = argparse.Namespace(no_validate=False, work_dir=str(tmp_path), config=config, amp=True,
                              resume=None, auto_scale_lr=False, cfg_options=None, no_pin_memory=True,
                              no_persistent_workers=True)
    cfg = train.merge_args(Config.fromfile(osp.join(repo_root, config)), args)
    wrapper = cfg.optim_wrapper
    assert wrapper.type == expected['type']
    if 'inner' in expected:
        assert {k: wrapper.optim_wrapper.get(k) for k in expected['inner']} == expected['inner']
        assert wrapper.decor_lr > 0  # DBP's own settings are kept
    else:
        assert wrapper.loss_scale == expected['loss_scale']


def test_test_py_show_dir_turns_on_the_host_visualization_hook(repo_root):
    """--show-dir enables mmpretrain's VisualizationHook and mmseg's SegVisualizationHook."""
    from mmengine.config import Config
    tool = load_tool('test.py', 'mmdbp_test_tool')
    args = tool.parse_args(['cfg.py', 'ckpt.pth', '--show-dir', 'vis', '--interval', '3'])
    seg = Config.fromfile(osp.join(repo_root, SEG_CFG))
    tool.enable_visualization(seg, args)
    assert seg.default_hooks.visualization.draw and seg.default_hooks.visualization.interval == 3
    assert seg.visualizer.save_dir == 'vis'
    cls = Config.fromfile(osp.join(repo_root, 'configs/_base_/default_runtime.py'))
    tool.enable_visualization(cls, args)
    assert cls.default_hooks.visualization.enable and cls.default_hooks.visualization.out_dir == 'vis'
    del cls.default_hooks['visualization']
    with pytest.raises(SystemExit, match='need a `visualization` entry'):
        tool.enable_visualization(cls, args)


@pytest.mark.parametrize('config,wrong,right', [
    ('configs/evit/evit_vit-demo-d12-p8_1xb32-keep0.7-5e_demo-in1k.py', 'max_iters',
     'max_epochs'),
    (SEG_CFG, 'max_epochs', 'max_iters'),
])
def test_train_length_of_the_other_loop_is_a_clear_error(repo_root, tmp_path, monkeypatch,
                                                           config, wrong, right):
    """`--cfg-options train_cfg.max_iters=2` on an epoch-based config (or max_epochs on an
    iteration-based one) says which key the config's loop takes, before anything is built,
    instead of mmengine's 'EpochBasedTrainLoop.__init__() got an unexpected keyword argument'."""
    train = load_tool('train.py', 'mmdbp_train_len')
    monkeypatch.setattr(train, 'check_data_roots', lambda *args, **kwargs: None)
    monkeypatch.setattr(train, 'build_runner', lambda cfg: pytest.fail('runner built'))
    argv = [osp.join(repo_root, config), '--work-dir', str(tmp_path), '--cfg-options',
            f'train_cfg.{wrong}=2']
    with pytest.raises(SystemExit, match=rf'train_cfg\.{wrong}.*train_cfg\.{right}=N'):
        train.main(argv)


def test_checkpoint_urls_are_passed_to_mmengine(repo_root, tmp_path, monkeypatch):
    """OpenMMLab model-zoo checkpoints are URLs (mmengine downloads them): the local-file check
    of test.py and train.py --resume must not refuse them."""
    url = 'https://download.openmmlab.com/mmdbp/upernet_demo.pth'
    built = {}

    class FakeRunner:
        def test(self):
            return {}

        def train(self):
            pass

    def build_runner(cfg):
        built['cfg'] = cfg
        return FakeRunner()

    for tool in ('test', 'train'):
        module = load_tool(f'{tool}.py', f'mmdbp_{tool}_url')
        monkeypatch.setattr(module, 'check_data_roots', lambda *args, **kwargs: None)
        monkeypatch.setattr(module, 'build_runner', build_runner)
        args = [url] if tool == 'test' else ['--resume', url]
        module.main([osp.join(repo_root, SEG_CFG)] + args + ['--work-dir', str(tmp_path)])
        assert built.pop('cfg').load_from == url


def test_test_py_on_a_config_without_a_test_set_says_so(repo_root, tmp_path):
    module = load_tool('test.py', 'mmdbp_test_noset')
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(SystemExit, match=r'has no test_dataloader, test_evaluator, test_cfg: it cannot be tested'):
        module.main([osp.join(repo_root, 'configs/dbp_mae/mae-baseline_vit-micro-p4_1xb32-300i_demo-in1k.py'),
                     str(ckpt)])
