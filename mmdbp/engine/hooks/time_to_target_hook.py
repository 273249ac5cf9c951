"""``TimeToTargetHook``: wall-clock (and energy) until a monitored value first reaches a target.

DBP-MAE's headline result is *time to the baseline's best validation reconstruction loss*
(-21.1% wall-clock, -21.4% CO2). This hook records, for one monitored value, the full curve
(value vs wall-clock, training time, iteration, energy) and the first point where the value
reaches ``target``, into ``<work_dir>/time_to_target.json``; ``tools/analysis/compare_runs.py``
turns several runs' files into the comparison plot and table.

Clocks: ``wall_time`` counts from the start of training and includes everything;
``train_time`` excludes the time spent in validation; ``cpu_time`` is the CPU time of the training
process outside validation (all its threads; data-loading workers excluded), a measure of cost
that other jobs on a shared machine disturb less than wall-clock. Every point also records the
iteration (what ``tools/analysis/compare_runs.py`` multiplies by a step cost measured side by
side, a time-to-target that load cannot fool) and the machine's load average. All continue across
``--resume`` (the state is saved in checkpoints). Energy and CO2 are read from an :class:`EmissionsHook` in the
same runner, if there is one.
"""
import json
import logging
import math
import os
import os.path as osp
import time
from typing import Dict, List, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmdbp.registry import HOOKS

def _load_avg() -> Optional[float]:
    """The machine's 1-minute load average (None where the OS has none): recorded with every
    point, so a comparison can tell which runs shared the machine with other jobs."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


_GREATER_KEYS = ('acc', 'top', 'ap', 'auc', 'iou', 'miou', 'precision', 'recall', 'f1', 'dice')


@HOOKS.register_module()
class TimeToTargetHook(Hook):
    """Track a value against wall-clock time and record when it first reaches a target.

    Args:
        monitor (str): ``'val/<metric>'`` (a key of the validation metrics, e.g.
            ``'val/val_loss'`` from :class:`~mmdbp.engine.runner.ValLossLoop` or ``'val/mIoU'``), or
            ``'train/<key>'`` (a training log value, smoothed over ``smooth_window``
            iterations, e.g. ``'train/loss'``). Defaults to ``'val/val_loss'``.
        target (float, optional): Target value; None records the curve only.
        rule (str, optional): ``'less'`` (reached when value <= target) or ``'greater'``;
            None infers ``'greater'`` for accuracy-like names (acc, mIoU, ...) and ``'less'``
            otherwise.
        smooth_window (int): Window of the moving average of a ``train/`` value. Defaults to 50.
        interval (int): Record a ``train/`` value every this many iterations. Defaults to 50.
        out_file (str): File name in the work dir. Defaults to ``'time_to_target.json'``.
    """
    priority = 'LOW'  # after RuntimeInfoHook has put this iteration's values in the message hub

    def __init__(self, monitor: str = 'val/val_loss', target: Optional[float] = None,
                 rule: Optional[str] = None, smooth_window: int = 50, interval: int = 50,
                 out_file: str = 'time_to_target.json') -> None:
        if not isinstance(monitor, str) or not monitor.startswith(('val/', 'train/')):
            raise ValueError(f'TimeToTargetHook: monitor must be "val/<metric>" or "train/<key>", '
                             f'got {monitor!r}.')
        if rule is None:
            name = monitor.split('/', 1)[1].lower()
            rule = 'greater' if any(k in name for k in _GREATER_KEYS) else 'less'
        if rule not in ('less', 'greater'):
            raise ValueError(f'TimeToTargetHook: rule must be "less" or "greater", got {rule!r}.')
        if smooth_window < 1 or interval < 1:
            raise ValueError('TimeToTargetHook: smooth_window and interval must be >= 1.')
        self.monitor = monitor
        self.target = None if target is None else float(target)
        self.rule = rule
        self.smooth_window = smooth_window
        self.interval = interval
        self.out_file = out_file
        self.curve: List[dict] = []
        self.reached: Optional[dict] = None
        self._elapsed_offset = 0.  # wall-clock of previous sessions (resume)
        self._val_time = 0.  # validation time so far (all sessions)
        self._cpu_offset = 0.  # CPU time outside validation of previous sessions
        self._val_cpu = 0.  # CPU time in validation, this session
        self._t_start: Optional[float] = None
        self._cpu_start: Optional[float] = None
        self._val_start: Optional[float] = None
        self._val_cpu_start: Optional[float] = None

    # -- clocks -----------------------------------------------------------------------------
    def _wall(self) -> float:
        if self._t_start is None:
            return self._elapsed_offset
        return self._elapsed_offset + time.perf_counter() - self._t_start

    def _cpu(self) -> float:
        """CPU time outside validation so far (all sessions)."""
        if self._cpu_start is None:
            return self._cpu_offset
        running_val = (time.process_time() - self._val_cpu_start
                       if self._val_cpu_start is not None else 0.)
        return (self._cpu_offset + time.process_time() - self._cpu_start - self._val_cpu
                - running_val)

    def before_train(self, runner) -> None:
        self._t_start = time.perf_counter()
        self._cpu_start = time.process_time()
        self._val_cpu = 0.

    def before_val(self, runner) -> None:
        if self._t_start is not None:
            self._val_start = time.perf_counter()
            self._val_cpu_start = time.process_time()

    def after_val(self, runner) -> None:
        if self._val_start is not None:
            self._val_time += time.perf_counter() - self._val_start
            self._val_cpu += time.process_time() - self._val_cpu_start
            self._val_start = self._val_cpu_start = None

    # -- recording ------------------------------------------------------------------------
    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.monitor.startswith('train/') or not self.every_n_train_iters(runner, self.interval):
            return
        buf = runner.message_hub.log_scalars.get(self.monitor)
        if buf is None:
            raise ValueError(f'TimeToTargetHook: {self.monitor!r} is not a training log value; '
                           f'available: {sorted(k for k in runner.message_hub.log_scalars if k.startswith("train/"))}.')
        self._record(runner, float(buf.mean(self.smooth_window)), runner.iter + 1)

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if not self.monitor.startswith('val/') or self._t_start is None:
            return  # a val-only run (runner.val()) has no training clock
        key = self.monitor[len('val/'):]
        if not metrics or key not in metrics:
            raise ValueError(f'TimeToTargetHook: validation produced no {key!r}; its metrics are '
                           f'{sorted(metrics or {})}. Set monitor="val/<one of these>".')
        self._record(runner, float(metrics[key]), runner.iter)

    def _record(self, runner, value: float, iteration: int) -> None:
        """Add a point; ``iteration`` is the number of finished training iterations."""
        wall = self._wall()
        val_running = time.perf_counter() - self._val_start if self._val_start is not None else 0.
        point = dict(iter=iteration, epoch=runner.epoch, value=value, wall_time=wall,
                     train_time=wall - self._val_time - val_running, cpu_time=self._cpu(),
                     load_avg=_load_avg())
        point.update(self._energy(runner))
        self.curve.append(point)
        if (self.reached is None and self.target is not None and math.isfinite(value)
                and (value <= self.target if self.rule == 'less' else value >= self.target)):
            self.reached = dict(point)
            if is_main_process():
                energy = f', {point["energy_kwh"]:.4g} kWh' if 'energy_kwh' in point else ''
                print_log(f'TimeToTarget: {self.monitor} = {value:.5g} reached the target '
                          f'{self.target:.5g} at iter {iteration} after {wall:.1f} s wall-clock '
                          f'({point["train_time"]:.1f} s training{energy}).', logger='current')
        self._dump(runner)

    @staticmethod
    def _energy(runner) -> dict:
        for hook in runner.hooks:
            if hasattr(hook, 'current_totals') and callable(hook.current_totals):
                totals = hook.current_totals()
                if totals is not None:
                    return dict(energy_kwh=totals['energy_kwh'], emissions_kg=totals['emissions_kg'])
        return {}

    def summary(self) -> dict:
        values = [p['value'] for p in self.curve if math.isfinite(p['value'])]
        best = (min if self.rule == 'less' else max)(values) if values else None
        return dict(monitor=self.monitor, rule=self.rule, target=self.target, best=best,
                    reached=self.reached, curve=self.curve)

    def _dump(self, runner) -> None:
        if not is_main_process():
            return
        path = osp.join(runner.work_dir, self.out_file)
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(self.summary(), f, indent=1)
        os.replace(tmp, path)  # never leave a half-written file behind on a crash

    def after_train(self, runner) -> None:
        self._dump(runner)
        if is_main_process() and self.target is not None and self.reached is None:
            print_log(f'TimeToTarget: {self.monitor} never reached the target {self.target:.5g}.',
                      logger='current', level=logging.WARNING)

    # -- checkpoint ---------------------------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('hook_states', {})[f'TimeToTargetHook:{self.monitor}'] = dict(
            wall_time=self._wall(), val_time=self._val_time, cpu_time=self._cpu(),
            curve=self.curve, reached=self.reached)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('hook_states', {}).get(f'TimeToTargetHook:{self.monitor}')
        if state is None or not getattr(runner, '_resume', False):
            return  # a load_from (e.g. fine-tuning init) starts a new clock
        self._elapsed_offset = state['wall_time']
        self._val_time = state['val_time']
        self._cpu_offset = state.get('cpu_time', 0.)
        self.curve = list(state['curve'])
        self.reached = state['reached']
        # A validation that ran right after the checkpoint was saved (same iteration) is in the
        # JSON file but not in the checkpoint; the resumed run will not repeat it: keep it.
        ckpt_iter = checkpoint.get('meta', {}).get('iter')
        path = osp.join(runner.work_dir, self.out_file)
        if ckpt_iter is None or not osp.isfile(path):
            return
        try:
            with open(path) as f:
                saved = json.load(f)
        except (OSError, ValueError):
            return
        if saved.get('monitor') != self.monitor:
            return
        last = self.curve[-1]['iter'] if self.curve else -1
        for point in saved.get('curve', []):
            if last < point['iter'] <= ckpt_iter:
                self.curve.append(point)
                if self.reached is None and saved.get('reached') == point:
                    self.reached = point
        if self._t_start is not None:
            self._t_start = time.perf_counter()
            self._cpu_start = time.process_time()
            self._val_cpu = 0.
