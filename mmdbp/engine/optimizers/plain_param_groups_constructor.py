"""An optim-wrapper constructor whose param groups ``torch.compile`` can trace.

mmengine's ``DefaultOptimWrapperConstructor`` (and every constructor derived from it, such as
mmpretrain's ``LearningRateDecayOptimWrapperConstructor``) builds the param groups of a
``paramwise_cfg`` as ``ConfigDict`` objects. With the runner's ``compile=True``, dynamo traces
``train_step`` down into ``optimizer.step``, and torch 2.x cannot trace those groups
(``InternalTorchDynamoError: 'UserDefinedDictVariable' object has no attribute 'items'``): the
first iteration fails, with any optim wrapper (``OptimWrapper``, ``AmpOptimWrapper``, ...).

Use in a config (any wrapper type, any ``paramwise_cfg``)::

    compile = True
    optim_wrapper = dict(
        type='AmpOptimWrapper',
        constructor='PlainParamGroupsOptimWrapperConstructor',
        # optional: the constructor that builds the groups (default: mmengine's default one)
        base_constructor='LearningRateDecayOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
        paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))

Why a constructor that *wraps* another one (rather than a subclass of
``DefaultOptimWrapperConstructor``, or a hook): the groups must be plain before anything keeps
references to them, i.e. before the runner builds the parameter schedulers (which write
``initial_lr`` into each group); the constructor is the last code that owns the optimizer
before that, for every wrapper type, so no wrapper has to know about compilation. Wrapping
(``base_constructor``) instead of subclassing keeps every existing constructor usable (layer
decay, mmdbp's ``BackboneLayerDecayOptimWrapperConstructor``, a user's own) without writing a
compile-friendly twin of each. The groups keep their entries and order; only their type changes,
so checkpoints (``optimizer.state_dict()``) are unaffected. mmdbp's ``AutocastOptimWrapper``
does the same conversion itself.
"""
import copy
from typing import Optional, Union

import torch.nn as nn
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmdbp.registry import OPTIM_WRAPPER_CONSTRUCTORS
from .autocast_optim_wrapper import plain_param_groups


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class PlainParamGroupsOptimWrapperConstructor:
    """Build the optim wrapper with ``base_constructor``, then make its param groups plain dicts.

    Args:
        optim_wrapper_cfg (dict): The ``optim_wrapper`` config (as mmengine passes it, without
            ``constructor`` and ``paramwise_cfg``). Its optional ``base_constructor`` key (a
            registered name or a class; default ``'DefaultOptimWrapperConstructor'``) is removed
            and names the constructor that builds the wrapper.
        paramwise_cfg (dict, optional): Handed to the base constructor unchanged.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        if not isinstance(optim_wrapper_cfg, dict):
            raise TypeError('PlainParamGroupsOptimWrapperConstructor: optim_wrapper_cfg must be '
                            f'a dict, got {type(optim_wrapper_cfg).__name__}.')
        optim_wrapper_cfg = copy.deepcopy(optim_wrapper_cfg)
        base = optim_wrapper_cfg.pop('base_constructor', 'DefaultOptimWrapperConstructor')
        if base in ('PlainParamGroupsOptimWrapperConstructor',
                    PlainParamGroupsOptimWrapperConstructor):
            raise ValueError('PlainParamGroupsOptimWrapperConstructor: base_constructor must be '
                             'the constructor that builds the groups, not itself.')
        self.base_constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
            dict(type=base, optim_wrapper_cfg=optim_wrapper_cfg, paramwise_cfg=paramwise_cfg))

    def __call__(self, model: nn.Module) -> Union[OptimWrapper, OptimWrapperDict]:
        optim_wrapper = self.base_constructor(model)
        wrappers = (optim_wrapper.values() if isinstance(optim_wrapper, OptimWrapperDict)
                    else [optim_wrapper])
        for wrapper in wrappers:
            plain_param_groups(wrapper.optimizer)
        return optim_wrapper
