from .autocast_optim_wrapper import AutocastOptimWrapper, plain_param_groups  # noqa: F401
from .dbp_optim_wrapper import DBPOptimWrapper  # noqa: F401
from .backbone_layer_decay_constructor import (  # noqa: F401
    BackboneLayerDecayOptimWrapperConstructor)
from .plain_param_groups_constructor import PlainParamGroupsOptimWrapperConstructor  # noqa: F401
