"""mmdbp: cheaper ViT pre-training and token-pruned inference for the OpenMMLab stack.

Importing ``mmdbp`` (directly or through ``custom_imports``) registers all of its components in
mmengine's root registries (see :mod:`mmdbp.registry`).
"""
from .version import __version__  # noqa: F401
from . import datasets, engine, evaluation, models  # noqa: F401,E402

__all__ = ['__version__']
