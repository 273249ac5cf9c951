"""``DBPOptimWrapper``: decorrelated backpropagation as an mmengine optim wrapper.

DBP changes the optimisation step (after every parameter update the decorrelation matrices R are
updated), so it lives in an optim wrapper that wraps the usual one (``OptimWrapper`` or
``AmpOptimWrapper``): AMP, gradient accumulation and clipping keep working, and the model code is
not touched. Turning DBP on in an mmpretrain MAE config takes one block::

    optim_wrapper = dict(
        type='DBPOptimWrapper',
        optim_wrapper=dict(type='AmpOptimWrapper', loss_scale='dynamic'),
        decor_lr=1e-3, kappa=0.5, sample_frac=0.1)   # optimizer / paramwise_cfg as before

Keys the wrapper does not know (``loss_scale``, ``dtype``, ``clip_grad``,
``accumulative_counts``, ...) are handed to the inner wrapper, so inheriting from a config whose
``optim_wrapper`` is an ``AmpOptimWrapper`` and overriding only ``type`` and the DBP keys works:
the inherited AMP keys make the inner wrapper an ``AmpOptimWrapper`` (:func:`inner_wrapper_cfg`).
The ``optimizer`` and ``paramwise_cfg`` stay at the top level, where mmengine's optim wrapper
constructors (``DefaultOptimWrapperConstructor``, mmpretrain's layer-decay constructor, ...) look
for them.

See :mod:`mmdbp.models.utils.decorrelation` for the method and its equations.
"""
import logging
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.dist import is_main_process
from mmengine.logging import MessageHub, print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from torch.optim import Optimizer

from mmdbp.engine.hooks.non_finite_loss_hook import where_training_stopped
from mmdbp.models.utils.decorrelation import (DEFAULT_INCLUDE, Decorrelator, check_hparams,
                                              check_patterns, check_update_interval)
from mmdbp.registry import OPTIM_WRAPPERS


#: Keys of mmengine's ``AmpOptimWrapper`` that plain ``OptimWrapper`` does not take.
AMP_KEYS = ('loss_scale', 'dtype')


def inner_wrapper_cfg(inner_cfg: dict, inherited: dict) -> dict:
    """Config of the optim wrapper DBP wraps: ``inner_cfg`` plus the top-level keys DBP does not
    know (``inherited``: ``clip_grad``, ``accumulative_counts``, ``loss_scale``, ...).

    A config that inherits ``optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')``
    and sets ``type='DBPOptimWrapper'`` hands DBP the base's AMP keys (``loss_scale``, ``dtype``):

    * no inner ``type``: the AMP keys say the base trains with AMP, so the inner wrapper is
      ``AmpOptimWrapper`` (DBP keeps the base's mixed precision); without them, ``OptimWrapper``;
    * inner ``type='OptimWrapper'``: fp32 chosen explicitly; the inherited AMP keys, which it
      cannot take, are dropped with a warning;
    * any other inner type receives them as they are.

    Args:
        inner_cfg (dict): The ``optim_wrapper`` argument of DBP (``{}`` if not given).
        inherited (dict): The remaining keyword arguments of DBP.

    Returns:
        dict: The inner wrapper's config, with ``type``.
    """
    cfg = dict(inner_cfg)
    amp = [k for k in AMP_KEYS if k in inherited or k in cfg]
    if 'type' not in cfg:
        cfg['type'] = 'AmpOptimWrapper' if amp else 'OptimWrapper'
    elif cfg['type'] in ('OptimWrapper', OptimWrapper) and amp:
        print_log(f'DBPOptimWrapper: the inner optim_wrapper is the fp32 OptimWrapper, so the '
                  f'inherited AMP keys {amp} are ignored; give no inner type (or '
                  f'type=\'AmpOptimWrapper\') to train with AMP.', logger='current',
                  level=logging.WARNING)
        inherited = {k: v for k, v in inherited.items() if k not in AMP_KEYS}
        cfg = {k: v for k, v in cfg.items() if k not in AMP_KEYS}
    for key, value in inherited.items():
        cfg.setdefault(key, value)
    return cfg


@OPTIM_WRAPPERS.register_module()
class DBPOptimWrapper(OptimWrapper):
    """Wrap an optim wrapper and add decorrelated backpropagation to selected layers.

    Decorrelation matrices ``R`` (one per selected layer, fp32, identity at init) sit in front of
    the layers' inputs; the forward uses the fused weight ``W R`` and records ``z = R x`` of a
    ``sample_frac`` sub-sample of the rows; after every *real* optimiser step (not on
    accumulation-only iterations, nor on steps the AMP loss scaler skips)
    ``R <- R - decor_lr [(1 - kappa) C R + kappa diag(v) R]``, with the statistics all-reduced
    over ranks.

    The wrapper attaches to the model lazily, in :meth:`initialize_count_status` (called by the
    runner right before training, after resuming) or in the first :meth:`optim_context`;
    custom loops may call :meth:`attach` themselves. R matrices, the unfolded weights, the
    update count and the sampling seed are saved under ``'dbp'`` in :meth:`state_dict`
    (``checkpoint['optimizer']``) and restored on resume. The model's own state dict keeps its
    keys and holds the folded ``W R``, so a DBP checkpoint loads as a plain model (the function
    it computed); ``tools/model_converters/dbp_mae_to_vit.py`` extracts and renames the encoder.

    Args:
        optimizer (Optimizer): Built by the optim wrapper constructor.
        optim_wrapper (dict, optional): Config of the wrapped optim wrapper (no ``optimizer``).
            Without a ``type``: ``AmpOptimWrapper`` if AMP keys (``loss_scale``, ``dtype``) are
            given or inherited, else ``OptimWrapper`` (see :func:`inner_wrapper_cfg`).
            Defaults to None.
        decor_lr (float): Decorrelation learning rate eta. Defaults to 1e-3.
        kappa (float): Whitening mix in [0, 1] (0: decorrelate only; > 0: also pull the
            variances of z to 1). Defaults to 0.5.
        sample_frac (float): Fraction of one step's token rows in the statistics of an R
            update. Defaults to 0.1.
        update_interval (int): Optimiser steps between R updates. Each update uses the samples
            pooled over the interval (each forward samples ``sample_frac / update_interval`` of
            its rows) and the rate ``update_interval * decor_lr``, so R moves at the same rate
            per step while the statistics and the update cost ``1 / update_interval`` as much.
            Defaults to 1 (the paper: every step).
        include (Sequence[str]): Regexes on module names; default ``['^backbone\\.']`` (the
            encoder: never the ``neck``/decoder or ``head``).
        exclude (Sequence[str]): Regexes of modules to leave out. Defaults to ``[]``.
        layer_types (Sequence[str]): ``'Linear'`` and/or ``'Conv2d'`` (patch embedding).
            Defaults to ``['Linear']``.
        max_r_norm (float): Training stops (``FloatingPointError`` naming the layer) when
            ``||R||_F / sqrt(d)`` exceeds this or becomes non-finite. Defaults to 100.
        check_interval (int): Steps between explosion checks (each reads one flag from the
            device; flags are sticky, so no bad step is missed), at the first R update at or
            after each multiple. Defaults to 10.
        log_interval (int): Steps between logs of the mean |off-diagonal correlation| of z (at
            the first R update at or after each multiple): a debug line per layer and
            ``train/dbp_corr`` (mean over layers) in the message hub. 0 disables. Defaults to 50.
        seed (int, optional): Seed of the row sub-sampler; None takes ``torch.initial_seed()``
            at attach time (the runner's seed). Defaults to None.
        stats_tf32 (bool): Let the fp32 statistics/update matmuls use TF32 tensor cores on
            Ampere+ GPUs (see :class:`~mmdbp.models.utils.decorrelation.Decorrelator`).
            Defaults to True.
        update_rule (str): The whitening term: ``'paper'`` (``kappa diag(v) R``, the papers'
            equation), ``'reference'`` (``kappa R diag(v)``, as the authors' code
            ``artcogsys/decorbp``, ``method='standard'``) or ``'reference_normalized'`` (the
            authors' ``method='normalized'``: ``(1 - kappa) / (d - 1) C R + 2 kappa R diag(v)``).
            See :data:`~mmdbp.models.utils.decorrelation.UPDATE_RULES` and
            ``configs/dbp_mae/README.md`` (Fidelity). Defaults to ``'paper'``.
        **kwargs: Passed to the inner optim wrapper (e.g. ``loss_scale``, ``clip_grad``).
    """

    def __init__(self,
                 optimizer: Optimizer,
                 optim_wrapper: Optional[dict] = None,
                 decor_lr: float = 1e-3,
                 kappa: float = 0.5,
                 sample_frac: float = 0.1,
                 include: Sequence[str] = DEFAULT_INCLUDE,
                 exclude: Sequence[str] = (),
                 layer_types: Sequence[str] = ('Linear', ),
                 max_r_norm: float = 100.,
                 check_interval: int = 10,
                 log_interval: int = 50,
                 seed: Optional[int] = None,
                 stats_tf32: bool = True,
                 update_interval: int = 1,
                 update_rule: str = 'paper',
                 **kwargs) -> None:
        check_hparams(decor_lr, kappa, sample_frac, max_r_norm, update_rule)
        check_patterns(include, exclude, layer_types)
        check_update_interval(update_interval)
        inner_cfg = dict(optim_wrapper or {})
        if 'optimizer' in inner_cfg:
            raise ValueError('DBPOptimWrapper: put `optimizer` (and `paramwise_cfg`) at the top '
                             'level of optim_wrapper, not inside its inner `optim_wrapper` dict.')
        inner_type = inner_cfg.get('type', 'OptimWrapper')
        if inner_type in ('DBPOptimWrapper', DBPOptimWrapper):
            raise ValueError('DBPOptimWrapper cannot wrap another DBPOptimWrapper.')
        inner_cfg = inner_wrapper_cfg(inner_cfg, kwargs)
        self.inner = OPTIM_WRAPPERS.build(inner_cfg, default_args=dict(optimizer=optimizer))
        if not isinstance(self.inner, OptimWrapper):
            raise TypeError(f'DBPOptimWrapper: the inner optim wrapper must be an OptimWrapper, '
                            f'got {type(self.inner).__name__}.')
        self.optimizer = self.inner.optimizer
        # Whether the optimiser really stepped: AmpOptimWrapper's loss scaler skips
        # ``optimizer.step()`` when a gradient is inf/NaN (found on the host, no extra sync).
        self._optimizer_stepped = False
        self._step_hook = (self.optimizer.register_step_post_hook(self._on_optimizer_step)
                           if isinstance(self.optimizer, Optimizer) else None)
        for name, value in (('check_interval', check_interval), ('log_interval', log_interval)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f'DBPOptimWrapper: {name} must be an int >= 0, got {value!r}.')
        self.decor_cfg = dict(decor_lr=decor_lr, kappa=kappa, sample_frac=sample_frac,
                              include=list(include), exclude=list(exclude),
                              layer_types=list(layer_types), max_r_norm=max_r_norm,
                              stats_tf32=stats_tf32, update_rule=update_rule,
                              update_interval=update_interval)
        self.check_interval = check_interval
        self.log_interval = log_interval
        self.seed = seed
        self.decorrelator: Optional[Decorrelator] = None
        self._pending_state: Optional[dict] = None

    def __getattr__(self, name: str):
        # Everything not overridden here (loss_scaler, cast_dtype, _accumulative_counts,
        # _inner_count, clip_grad_kwargs, ...) is the inner wrapper's.
        if name == 'inner' or name.startswith('__'):
            raise AttributeError(name)
        return getattr(self.inner, name)

    # -- attaching --------------------------------------------------------------------------
    @property
    def attached(self) -> bool:
        return self.decorrelator is not None

    def attach(self, model: nn.Module) -> Decorrelator:
        """Select and decorrelate the layers of ``model`` (a model wrapper is unwrapped);
        applies a state loaded before attaching. Idempotent."""
        if self.decorrelator is not None:
            return self.decorrelator
        if is_model_wrapper(model):
            model = model.module
        seed = self.seed if self.seed is not None else torch.initial_seed() % (2**31)
        self.decorrelator = Decorrelator(model, seed=seed, **self.decor_cfg)
        if self._pending_state is not None:
            self.decorrelator.load_state_dict(self._pending_state)
            self._pending_state = None
        if is_main_process():
            layers = self.decorrelator.layers
            numel = sum(layer.dim**2 for layer in layers.values())
            names = list(layers)
            shown = ', '.join(names[:4]) + (f', ... ({len(names)} layers)' if len(names) > 4 else '')
            print_log(f'DBP: decorrelating {len(names)} layers ({numel * 4 / 2**20:.1f} MiB of '
                      f'R): {shown}; decor_lr={self.decor_cfg["decor_lr"]:g}, '
                      f'kappa={self.decor_cfg["kappa"]:g}, '
                      f'sample_frac={self.decor_cfg["sample_frac"]:g}, '
                      f'update_interval={self.decor_cfg["update_interval"]}, '
                      f'update_rule={self.decor_cfg["update_rule"]!r}.', logger='current')
        return self.decorrelator

    def _require_attached(self) -> Decorrelator:
        if self.decorrelator is None:
            raise RuntimeError('DBPOptimWrapper was never given the model: run the forward inside '
                               '`with optim_wrapper.optim_context(model):` (mmengine models do) '
                               'or call `optim_wrapper.attach(model)` before training.')
        return self.decorrelator

    # -- the optimisation step -----------------------------------------------------------------
    def update_params(self, loss: torch.Tensor, step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        """Backward through the inner wrapper; on real update iterations :meth:`step` (inner
        step, then the DBP update) and zero the gradients."""
        self._require_attached()
        loss = self.inner.scale_loss(loss)
        self.inner.backward(loss)
        if self.inner.should_update():
            self.step(**(step_kwargs or {}))
            self.zero_grad(**(zero_kwargs or {}))

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        self.inner.backward(loss, **kwargs)

    def _on_optimizer_step(self, optimizer, args, kwargs) -> None:
        self._optimizer_stepped = True

    def step(self, **kwargs) -> None:
        """The inner optimiser step (with its clipping/loss scaling), then the R update from the
        statistics recorded since the last step.

        When the inner wrapper skips the optimiser step (AMP loss scaling found inf/NaN
        gradients), R is not updated either and the step's statistics are dropped: R moves
        only with real parameter updates, and a batch whose forward overflowed in fp16 (which
        the loss scaler recovers from) cannot turn R into NaN."""
        decorrelator = self._require_attached()
        self._optimizer_stepped = False
        self.inner.step(**kwargs)
        if self._step_hook is not None and not self._optimizer_stepped:
            decorrelator.discard()
            return
        if not decorrelator.next_step_updates:
            decorrelator.step()  # samples pooled for the next R update (update_interval > 1)
            return
        # steps of the updates so far, and after this one: log / check when this update is the
        # first at or after a multiple of the interval (with update_interval 1: every interval)
        k = decorrelator.update_interval
        before, after = decorrelator.num_updates * k, (decorrelator.num_updates + 1) * k
        due = lambda interval: interval > 0 and after // interval > before // interval  # noqa
        log_now = due(self.log_interval)
        decorrelator.step(keep_stats=log_now)
        if due(self.check_interval):
            try:
                decorrelator.check()
            except FloatingPointError as e:  # say where, and which checkpoint to go back to
                raise FloatingPointError(
                    f'{e} Found {where_training_stopped()} (R is checked every '
                    f'{self.check_interval} updates; NonFiniteLossHook checks every step.)'
                ) from None
        if log_now:
            self._log_correlations(decorrelator)

    def _log_correlations(self, decorrelator: Decorrelator) -> None:
        corr = decorrelator.correlations()
        if not corr:
            return
        mean = sum(corr.values()) / len(corr)
        MessageHub.get_current_instance().update_scalar('train/dbp_corr', mean)
        if is_main_process():
            per_layer = ', '.join(f'{k}={v:.4f}' for k, v in corr.items())
            print_log(f'DBP update {decorrelator.num_updates}: mean |off-diag corr| of z = '
                      f'{mean:.4f}; per layer: {per_layer}', logger='current', level=logging.DEBUG)

    def zero_grad(self, **kwargs) -> None:
        self.inner.zero_grad(**kwargs)

    @contextmanager
    def optim_context(self, model: nn.Module):
        self.attach(model)
        with self.inner.optim_context(model):
            yield

    def initialize_count_status(self, model: nn.Module, init_counts: int, max_counts: int) -> None:
        self.attach(model)
        self.inner.initialize_count_status(model, init_counts, max_counts)

    def should_update(self) -> bool:
        return self.inner.should_update()

    def should_sync(self) -> bool:
        return self.inner.should_sync()

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        return self.inner.scale_loss(loss)

    def get_lr(self) -> Dict[str, List[float]]:
        return self.inner.get_lr()

    def get_momentum(self) -> Dict[str, List[float]]:
        return self.inner.get_momentum()

    @property
    def param_groups(self) -> List[dict]:
        return self.inner.param_groups

    @property
    def defaults(self) -> dict:
        return self.inner.defaults

    # -- folding and state ---------------------------------------------------------------------
    def fold(self) -> None:
        """Fold every R into its weight (``W <- W R``, ``R <- I``); the model stays DBP-attached
        and computes the same function."""
        self._require_attached().fold()

    def state_dict(self) -> dict:
        state = self.inner.state_dict()
        if self.decorrelator is not None:
            state['dbp'] = self.decorrelator.state_dict()
        elif self._pending_state is not None:
            state['dbp'] = self._pending_state
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        dbp_state = state_dict.pop('dbp', None)
        self.inner.load_state_dict(state_dict)
        if dbp_state is None:
            print_log('DBPOptimWrapper: the loaded optimizer state has no DBP state (a checkpoint '
                      'of a run without DBP?); the decorrelation matrices start from identity.',
                      logger='current', level=logging.WARNING)
            return
        if self.decorrelator is not None:
            self.decorrelator.load_state_dict(dbp_state)
        else:
            self._pending_state = dbp_state

    def __repr__(self) -> str:
        cfg = ', '.join(f'{k}={v!r}' for k, v in self.decor_cfg.items())
        return f'DBPOptimWrapper({cfg},\ninner={self.inner!r})'
