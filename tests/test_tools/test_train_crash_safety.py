"""tools/train.py's crash-safety set-up: a config's plain CheckpointHook becomes the atomic one,
``default_hooks.<mmdbp hook>=None`` switches a hook off, and mmdbp's runtime bases switch the
three hooks on in ``default_hooks`` so that a config's own ``custom_hooks`` list keeps them."""
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config


@pytest.fixture(scope='module')
def train_tool(repo_root):
    spec = importlib.util.spec_from_file_location('mmdbp_train_crash', osp.join(repo_root, 'tools/train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('hooks, expected', [
    (dict(checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=2)),
     dict(type='AtomicCheckpointHook', interval=5, max_keep_ckpts=2)),
    (dict(checkpoint=dict(type='mmengine.CheckpointHook', interval=5)),
     dict(type='AtomicCheckpointHook', interval=5)),
    (dict(logger=dict(type='LoggerHook')), dict(type='AtomicCheckpointHook', interval=1)),
    (dict(checkpoint=None), None),  # switched off stays off
    (dict(checkpoint=dict(type='MyCheckpointHook', interval=5)), dict(type='MyCheckpointHook', interval=5)),
])
def test_plain_checkpoint_hook_becomes_atomic(train_tool, hooks, expected):
    cfg = Config(dict(default_hooks=hooks))
    train_tool.use_atomic_checkpoints(cfg)
    got = cfg.default_hooks.get('checkpoint')
    assert (got.to_dict() if got is not None else None) == expected


def test_none_switches_off_an_mmdbp_default_hook(train_tool):
    cfg = Config(dict(default_hooks=dict(exact_resume=None, non_finite_loss=dict(type='NonFiniteLossHook'),
                                         checkpoint=None)))
    train_tool.drop_switched_off_hooks(cfg)
    assert set(cfg.default_hooks) == {'non_finite_loss', 'checkpoint'}  # mmengine drops checkpoint


@pytest.mark.parametrize('config', [
    'configs/_base_/default_runtime.py',
    'configs/_base_/default_runtime_seg.py',
    'configs/greenmim/greenmim_swin-micro-w4-p2_1xb32-300i_demo-in1k.py',  # has custom_hooks
    'configs/mirl/mirl_vit-demo-d12-p4_1xb32-coslr-50e_demo-in1k-32px.py',  # names CheckpointHook
])
def test_runtime_bases_switch_the_hooks_on(train_tool, repo_root, config):
    cfg = Config.fromfile(osp.join(repo_root, config))
    train_tool.use_atomic_checkpoints(cfg)
    hooks = cfg.default_hooks
    assert hooks.exact_resume.type == 'ExactResumeHook'
    assert hooks.non_finite_loss.type == 'NonFiniteLossHook'
    assert hooks.checkpoint.type == 'AtomicCheckpointHook'
