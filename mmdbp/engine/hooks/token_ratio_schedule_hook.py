"""Anneal a token ratio of the model during training (EViT's keep rate, masked fine-tuning's mask
ratio)."""
import math
from typing import Optional, Union

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdbp.registry import HOOKS


@HOOKS.register_module()
class TokenRatioScheduleHook(Hook):
    """Set ``model.<attr>`` before every training iteration from a warm-up + anneal schedule.

    With t the training progress (epochs, fractional per iteration, when ``by_epoch``; otherwise
    iterations), ``w`` the warm-up and ``T`` the duration of the anneal:

    .. math::

        v(t) = \\begin{cases}
            v_{start} & t < w \\\\
            v_{end} + (v_{start} - v_{end}) \\frac{1 + \\cos(\\pi (t - w) / T)}{2}
                & w \\le t < w + T \\quad (\\text{cosine; linear likewise}) \\\\
            v_{end} & t \\ge w + T
        \\end{cases}

    EViT (`Liang et al., ICLR 2022 <https://arxiv.org/abs/2202.07800>`_) keeps all tokens for
    10 epochs and then anneals the keep rate with a cosine to its target over 100 epochs:
    ``TokenRatioScheduleHook(attr='backbone.train_keep_rate', start=1.0,
    end='backbone.keep_rate', warmup=10, duration=100)``: ``end`` names the keep rate EViT is
    evaluated at, so ``--cfg-options model.backbone.keep_rate=0.5`` moves the end of the training
    schedule too. The value is a function of the iteration counter only, so resuming restores it
    exactly without extra checkpoint state. It is logged as ``train/<name>`` on rank 0.

    Args:
        attr (str): Dotted attribute path on the (unwrapped) model. Defaults to
            ``'backbone.train_keep_rate'``.
        start (float): Value during warm-up. Defaults to 1.0.
        end (float | str): Value after the anneal, or the dotted path of a model attribute
            that holds it (e.g. ``'backbone.keep_rate'``), read when training starts.
            Defaults to 0.7.
        warmup (float): Warm-up length (epochs or iterations). Defaults to 10.
        duration (float): Anneal length (epochs or iterations). Defaults to 100.
        by_epoch (bool): Count in epochs (needs a sized train dataloader) or iterations.
            Defaults to True.
        mode (str): ``'cosine'`` or ``'linear'``. Defaults to ``'cosine'``.
        name (str, optional): Log key; defaults to the last part of ``attr``.
    """
    priority = 'NORMAL'

    def __init__(self, attr: str = 'backbone.train_keep_rate', start: float = 1.0,
                 end: Union[float, str] = 0.7, warmup: float = 10, duration: float = 100,
                 by_epoch: bool = True, mode: str = 'cosine', name: Optional[str] = None) -> None:
        if mode not in ('cosine', 'linear'):
            raise ValueError(f'TokenRatioScheduleHook: mode must be "cosine" or "linear", '
                             f'got {mode!r}.')
        if warmup < 0 or duration < 0:
            raise ValueError(f'TokenRatioScheduleHook: warmup and duration must be >= 0, got '
                             f'{warmup} and {duration}.')
        self.attr = attr
        self.start = start
        self.end = end
        # the end value; resolved from the model in before_train when ``end`` is a path
        self._end: Optional[float] = None if isinstance(end, str) else float(end)
        self.warmup = warmup
        self.duration = duration
        self.by_epoch = by_epoch
        self.mode = mode
        self.name = name or attr.rsplit('.', 1)[-1]

    def value_at(self, t: float) -> float:
        """The scheduled value at progress ``t``."""
        if t < self.warmup:
            return self.start
        if self._end is None:
            raise RuntimeError(f'TokenRatioScheduleHook: end={self.end!r} names a model '
                               f'attribute, which is read in before_train.')
        end = self._end
        if self.duration == 0 or t >= self.warmup + self.duration:
            return end
        frac = (t - self.warmup) / self.duration
        if self.mode == 'linear':
            return self.start + (end - self.start) * frac
        return end + (self.start - end) * (1 + math.cos(math.pi * frac)) / 2

    def _target(self, runner, attr: Optional[str] = None):
        attr = attr or self.attr
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        *path, leaf = attr.split('.')
        obj = model
        for part in path:
            obj = getattr(obj, part)
        if not hasattr(obj, leaf):
            raise AttributeError(f'TokenRatioScheduleHook: {type(obj).__name__} has no attribute '
                                 f'{leaf!r} (attr={attr!r}).')
        return obj, leaf

    def before_train(self, runner) -> None:
        self._target(runner)  # fail early on a wrong attr
        if isinstance(self.end, str):
            obj, leaf = self._target(runner, self.end)
            self._end = float(getattr(obj, leaf))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        t = runner.iter
        if self.by_epoch:
            t = runner.iter / max(1, len(runner.train_dataloader))
        value = self.value_at(t)
        obj, leaf = self._target(runner)
        setattr(obj, leaf, value)
        runner.message_hub.update_scalar(f'train/{self.name}', value)
