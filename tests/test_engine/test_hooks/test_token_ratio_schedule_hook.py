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
