"""Where mmdbp's components are registered.

mmdbp registers every component into **mmengine's root registries**, the common parent of the
registries of mmpretrain, mmseg and every other OpenMMLab library. ``Registry.get`` looks a
plain name up in the registry of the current ``default_scope`` first and then walks up to its
parents, so after ``custom_imports = dict(imports=['mmdbp'])``:

- an ordinary mmpretrain config (``default_scope='mmpretrain'``) or mmseg config
  (``default_scope='mmseg'``) builds ``type='DBPOptimWrapper'``, ``type='GreenMIMSwin'``, ...
  by plain name;
- mmdbp's own configs set ``default_scope`` to ``'mmpretrain'`` (pre-training, classification)
  or ``'mmseg'`` (segmentation) and so see every component of that host library as well.

mmdbp's names never shadow a host name: a host registry is searched before the root, so a
clash would silently pick the host's class. ``tests/test_registry.py`` checks there is none.
See ``docs/design.md``.
"""
from mmengine.registry import DATA_SAMPLERS, DATASETS, EVALUATOR, HOOKS, LOOPS, METRICS
from mmengine.registry import MODEL_WRAPPERS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS, PARAM_SCHEDULERS, RUNNERS, TRANSFORMS, VISUALIZERS

__all__ = [
    'DATA_SAMPLERS', 'DATASETS', 'EVALUATOR', 'HOOKS', 'LOOPS', 'METRICS', 'MODEL_WRAPPERS',
    'MODELS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'OPTIM_WRAPPERS', 'OPTIMIZERS', 'PARAM_SCHEDULERS',
    'RUNNERS', 'TRANSFORMS', 'VISUALIZERS'
]
