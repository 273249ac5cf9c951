"""TokenRatioScheduleHook: EViT's warm-up + cosine keep-rate schedule against the closed form,
applied to the model before every training iteration."""
import math
from types import SimpleNamespace

import pytest
import torch.nn as nn
from mmengine.logging import MessageHub

from mmdbp.engine.hooks import TokenRatioScheduleHook


def test_cosine_schedule_values():
    hook = TokenRatioScheduleHook(start=1.0, end=0.7, warmup=10, duration=100)
    assert hook.value_at(0) == 1.0 and hook.value_at(9.99) == 1.0
    assert hook.value_at(10) == pytest.approx(1.0)
    assert hook.value_at(60) == pytest.approx(0.85)  # half way: mean of the two
    assert hook.value_at(35) == pytest.approx(0.7 + 0.3 * (1 + math.cos(math.pi / 4)) / 2)
    assert hook.value_at(110) == 0.7 and hook.value_at(500) == 0.7


def test_linear_schedule_values():
    hook = TokenRatioScheduleHook(attr='backbone.mask_ratio', start=0.0, end=0.6, warmup=0,
                                  duration=4, mode='linear')
    assert [hook.value_at(t) for t in range(6)] == pytest.approx([0, .15, .3, .45, .6, .6])


def fake_runner(iteration, iters_per_epoch=5):
    model = nn.Module()
    model.backbone = nn.Module()
    model.backbone.train_keep_rate = None
    return SimpleNamespace(model=model, iter=iteration, train_dataloader=[0] * iters_per_epoch,
                           message_hub=MessageHub.get_instance('test_token_ratio_hook'))


@pytest.mark.parametrize('by_epoch,iteration,expected', [
    (True, 4, 1.0),  # epoch 0.8: warm-up
    (True, 10 + 25, 0.7 + 0.3 * (1 + math.cos(math.pi * 5 / 10)) / 2),  # epoch 7
    (False, 7, 0.7 + 0.3 * (1 + math.cos(math.pi * 5 / 10)) / 2),  # iteration 7
])
def test_sets_the_model_attribute(by_epoch, iteration, expected):
    hook = TokenRatioScheduleHook(start=1.0, end=0.7, warmup=2, duration=10, by_epoch=by_epoch)
    runner = fake_runner(iteration)
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    assert runner.model.backbone.train_keep_rate == pytest.approx(expected)
    assert runner.message_hub.get_scalar('train/train_keep_rate').current() == pytest.approx(
        expected)


def test_bad_configs():
    with pytest.raises(ValueError, match='mode must be'):
        TokenRatioScheduleHook(mode='step')
    with pytest.raises(ValueError, match='must be >= 0'):
        TokenRatioScheduleHook(warmup=-1)
    hook = TokenRatioScheduleHook(attr='backbone.keep_ratez')
    with pytest.raises(AttributeError, match="no attribute 'keep_ratez'"):
        hook.before_train(fake_runner(0))


def test_end_read_from_the_model_follows_the_evaluation_keep_rate():
    # EViT is evaluated at backbone.keep_rate: with end='backbone.keep_rate' the training
    # schedule ends there too, so overriding the keep rate alone (as the README says) keeps
    # training and evaluation on the same rate. Past the anneal the value is the model's 0.5.
    hook = TokenRatioScheduleHook(start=1.0, end='backbone.keep_rate', warmup=2, duration=10)
    runner = fake_runner(5 * 20)  # epoch 20
    runner.model.backbone.keep_rate = 0.5
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    assert runner.model.backbone.train_keep_rate == 0.5
    runner.iter = 5 * 7  # epoch 7: half way through the anneal
    hook.before_train_iter(runner, 0)
    assert runner.model.backbone.train_keep_rate == pytest.approx(0.75)


def test_evit_configs_anneal_to_the_evaluation_keep_rate():
    """Every EViT config whose hook anneals train_keep_rate ends at the backbone's keep_rate,
    also after `--cfg-options model.backbone.keep_rate=0.5`."""
    import glob
    import os.path as osp

    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    checked = 0
    for path in sorted(glob.glob(osp.join(root, 'configs', 'evit', '*.py'))):
        cfg = Config.fromfile(path)
        hooks = [h for h in cfg.get('custom_hooks', [])
                 if h.type == 'TokenRatioScheduleHook' and h.attr == 'backbone.train_keep_rate']
        for h in hooks:
            cfg.merge_from_dict({'model.backbone.keep_rate': 0.5})
            hook = TokenRatioScheduleHook(**{k: v for k, v in h.items() if k != 'type'})
            runner = fake_runner(10**6)  # far past the anneal
            runner.model.backbone.keep_rate = cfg.model.backbone.keep_rate
            hook.before_train(runner)
            hook.before_train_iter(runner, 0)
            assert runner.model.backbone.train_keep_rate == 0.5, osp.basename(path)
            checked += 1
    assert checked >= 2
