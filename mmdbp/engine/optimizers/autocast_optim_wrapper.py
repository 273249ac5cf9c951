"""``AutocastOptimWrapper``: mixed precision by autocast alone, for bfloat16, on GPU and CPU.

mmengine's ``AmpOptimWrapper`` always runs a ``GradScaler`` and refuses to start without an
accelerator. bfloat16 has float32's exponent range, so its gradients need no loss scaling: this
wrapper only enters ``torch.autocast`` (on the device type of the model's parameters) in
``optim_context`` and otherwise behaves exactly like ``OptimWrapper`` (accumulation, clipping).
It removes the scaler's per-step work (scale, unscale/inf checks, which cost a host sync per
step with a non-fused optimizer) and makes bf16 training and benchmarking possible on CPU::

    optim_wrapper = dict(type='AutocastOptimWrapper', dtype='bfloat16',
                         optimizer=dict(type='AdamW', lr=1.5e-4, fused=True))

Use mmengine's ``AmpOptimWrapper`` for float16 (it needs the scaler).

It also makes the optimizer's param groups plain dicts (:func:`plain_param_groups`), which
mmengine's ``compile=True`` needs with a ``paramwise_cfg``.
"""
from contextlib import contextmanager
from typing import Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from mmdbp.registry import OPTIM_WRAPPERS


def plain_param_groups(optimizer: torch.optim.Optimizer) -> None:
    """Turn the optimizer's param groups into plain dicts, in place.

    mmengine's ``DefaultOptimWrapperConstructor`` builds the groups of a ``paramwise_cfg`` as
    ``ConfigDict`` objects. ``torch.compile`` of mmengine's ``train_step`` (the runner's
    ``compile=True``) traces ``optimizer.step`` and fails on them in torch 2.x
    (``InternalTorchDynamoError: 'UserDefinedDictVariable' object has no attribute 'items'``);
    plain dicts with the same entries trace. Schedulers and the wrapper only index the groups.
    """
    for i, group in enumerate(optimizer.param_groups):
        if type(group) is not dict:
            optimizer.param_groups[i] = dict(group)


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """Optim wrapper that runs forward and loss under ``torch.autocast(dtype)``, no loss scaling.

    Args:
        dtype (str | torch.dtype): Autocast dtype, ``'bfloat16'`` (default) or ``'float32'``
            (autocast disabled). ``'float16'`` is refused: it needs loss scaling, use
            ``AmpOptimWrapper``.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ``accumulative_counts``,
            ``clip_grad``).
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16', **kwargs) -> None:
        super().__init__(**kwargs)
        plain_param_groups(self.optimizer)
        if isinstance(dtype, str):
            if dtype not in ('bfloat16', 'float32'):
                raise ValueError(f'AutocastOptimWrapper: dtype must be "bfloat16" or "float32", '
                                 f'got {dtype!r}; float16 needs loss scaling: use '
                                 f'type="AmpOptimWrapper", dtype="float16".')
            dtype = getattr(torch, dtype)
        if dtype not in (torch.bfloat16, torch.float32):
            raise ValueError(
                f'AutocastOptimWrapper: dtype must be bfloat16 or float32, got {dtype}.')
        self.cast_dtype = dtype

    @contextmanager
    def optim_context(self, model: nn.Module):
        """Gradient-accumulation context of ``OptimWrapper`` plus autocast on the model's device
        type (taken from its first parameter; ``'cpu'`` for a parameterless model)."""
        param = next(model.parameters(), None)
        device_type = param.device.type if param is not None else 'cpu'
        with super().optim_context(model), torch.autocast(
                device_type, dtype=self.cast_dtype, enabled=self.cast_dtype != torch.float32):
            yield
