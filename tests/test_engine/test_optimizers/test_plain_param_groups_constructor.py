"""PlainParamGroupsOptimWrapperConstructor: mmengine's ``compile=True`` with a ``paramwise_cfg``
and any optim wrapper, through the real Runner (``aot_eager``: no C++ compiler needed)."""
import pytest
import torch
import torch.nn as nn
from mmengine.config import ConfigDict
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.runner import Runner

from mmdbp.engine.optimizers import PlainParamGroupsOptimWrapperConstructor

PARAMWISE = dict(norm_decay_mult=0.0, bias_decay_mult=0.0)


class TinyRegressor(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.norm = nn.LayerNorm(8)
        self.fc2 = nn.Linear(8, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        out = self.fc2(self.norm(self.fc1(inputs).relu())).squeeze(-1)
        if mode == 'loss':
            return dict(loss=(out - targets).square().mean())
        return out


def _dataloader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 4, generator=g)
    data = [dict(inputs=x[i], targets=x[i].sum()) for i in range(8)]
    return torch.utils.data.DataLoader(data, batch_size=4, shuffle=False)


def _runner(tmp_path, optim_wrapper):
    torch.manual_seed(0)
    return Runner(
        model=TinyRegressor(), work_dir=str(tmp_path), train_dataloader=_dataloader(),
        train_cfg=dict(by_epoch=False, max_iters=2, val_interval=100),
        optim_wrapper=optim_wrapper, default_hooks=dict(logger=None, checkpoint=None),
        log_level='WARNING', default_scope='mmengine',
        experiment_name=f'plain_groups_{tmp_path.name}',
        cfg=dict(compile=dict(backend='aot_eager')))  # the runner reads `compile` from its cfg


def _sgd_cfg(**extra):
    """As a config file gives it (a ConfigDict: the optimizer config, into which the
    constructor puts the groups, turns them into ConfigDicts)."""
    return ConfigDict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1, weight_decay=0.05),
                      paramwise_cfg=PARAMWISE, **extra)


def test_default_constructor_gives_configdict_groups_that_dynamo_cannot_trace(tmp_path):
    """The bug being fixed: mmengine's default constructor makes ConfigDict groups, and the
    runner's compiled train_step fails on them (if a future torch traces them, this test fails
    and the constructor is no longer needed)."""
    wrapper = build_optim_wrapper(TinyRegressor(), _sgd_cfg())
    assert any(isinstance(g, ConfigDict) for g in wrapper.optimizer.param_groups)
    torch._dynamo.reset()
    with pytest.raises(Exception, match="UserDefinedDictVariable"):
        _runner(tmp_path, _sgd_cfg()).train()


def test_compiled_runner_trains_two_iterations_with_the_constructor(tmp_path):
    torch._dynamo.reset()
    runner = _runner(tmp_path, _sgd_cfg(constructor='PlainParamGroupsOptimWrapperConstructor'))
    before = [p.detach().clone() for p in runner.model.parameters()]
    runner.train()
    assert runner.iter == 2
    groups = runner.optim_wrapper.optimizer.param_groups
    assert all(type(g) is dict for g in groups)
    # the paramwise_cfg is intact: norm and bias parameters without weight decay
    model = runner.model
    decay = {id(p): g['weight_decay'] for g in groups for p in g['params']}
    assert decay[id(model.fc1.weight)] == decay[id(model.fc2.weight)] == 0.05
    assert decay[id(model.fc1.bias)] == decay[id(model.norm.weight)] == 0.0
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert 'train_step' in vars(runner.model)  # the runner replaced it by the compiled step


def test_same_update_as_the_default_constructor_in_eager_mode():
    """Plain groups change nothing but their type: two SGD steps match the default build."""
    models = [TinyRegressor(), TinyRegressor()]
    models[1].load_state_dict(models[0].state_dict())
    wrappers = [build_optim_wrapper(models[0], _sgd_cfg()),
                build_optim_wrapper(models[1], _sgd_cfg(
                    constructor='PlainParamGroupsOptimWrapperConstructor'))]
    x, y = torch.randn(4, 4), torch.randn(4)
    for _ in range(2):
        for model, wrapper in zip(models, wrappers):
            wrapper.update_params(model(x, y, mode='loss')['loss'])
    for p, q in zip(*(m.parameters() for m in models)):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert [{k: v for k, v in g.items() if k != 'params'}
            for g in wrappers[0].optimizer.param_groups] == \
        [{k: v for k, v in g.items() if k != 'params'} for g in wrappers[1].optimizer.param_groups]


def test_base_constructor_is_used_and_checked():
    """``base_constructor`` picks the constructor that builds the groups (here mmpretrain's
    layer-wise decay through mmdbp's backbone variant), the result still has plain groups."""
    from mmengine.registry import DefaultScope

    class Backbone(nn.Module):

        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(nn.Linear(2, 2) for _ in range(2))

    model = nn.Module()
    model.backbone = Backbone()
    cfg = ConfigDict(type='OptimWrapper', constructor='PlainParamGroupsOptimWrapperConstructor',
                     base_constructor='BackboneLayerDecayOptimWrapperConstructor',
                     optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05),
                     paramwise_cfg=dict(layer_decay_rate=0.5))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        wrapper = build_optim_wrapper(model, cfg)
    groups = wrapper.optimizer.param_groups
    assert all(type(g) is dict for g in groups)
    # block i has depth i + 1 of 4: lr = 0.5 ** (4 - 1 - (i + 1))
    lr = {id(p): g['lr'] for g in groups for p in g['params']}
    assert lr[id(model.backbone.blocks[0].weight)] == pytest.approx(0.25)
    assert lr[id(model.backbone.blocks[1].weight)] == pytest.approx(0.5)
    with pytest.raises(ValueError, match='base_constructor must be the constructor that builds'):
        PlainParamGroupsOptimWrapperConstructor(
            dict(base_constructor='PlainParamGroupsOptimWrapperConstructor'))


@pytest.mark.parametrize('arch', ['base', 'large'])
def test_mae_compile_recipes_use_it(arch):
    """mmdbp's compile configs build plain groups whatever their wrapper type is switched to."""
    import os.path as osp

    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    cfg = Config.fromfile(osp.join(
        root, f'configs/mae/mae_fast-vit-{arch}-p16_8xb512-bf16-fused-compile-coslr-300e_in1k.py'))
    assert cfg.compile is True
    assert cfg.optim_wrapper.constructor == 'PlainParamGroupsOptimWrapperConstructor'
    cfg.optim_wrapper.type = 'OptimWrapper'  # e.g. fp32 for debugging: still plain groups
    cfg.optim_wrapper.pop('dtype')
    wrapper = build_optim_wrapper(TinyRegressor(), cfg.optim_wrapper)
    assert type(wrapper) is OptimWrapper
    assert all(type(g) is dict for g in wrapper.optimizer.param_groups)
