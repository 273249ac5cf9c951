"""``ExactResumeHook``: checkpoints carry every random state training consumes, so ``--resume``
continues exactly where the run stopped.

mmengine saves the model, optimiser, schedulers, message hub and iteration, but not the random
state: after ``--resume``, MAE's masks, drop path, data augmentation and DynamicViT's Gumbel
noise are drawn from a freshly seeded generator and the run diverges from the uninterrupted one.
This hook adds ``checkpoint['random_states']``:

- per rank (gathered to rank 0, which writes the checkpoint): torch's CPU generator, every CUDA
  device's generator, numpy's global ``RandomState`` and Python's ``random``, stored as tensors,
  ints, floats and strings only, so the checkpoint loads with ``torch.load(weights_only=True)``;
- the state is the one the next training batch is drawn with, and on resume it is restored at
  exactly that point: for iteration-based loops *after* mmengine has advanced the dataloader
  past the trained batches (``IterBasedTrainLoop`` re-reads them, which replays the sampler's
  position and every data-loading worker's random stream, and would otherwise consume the
  main process's generators a second time), for epoch-based loops before the next epoch starts.

Generators that already live in the state dicts need nothing here: DBP's row sub-sampler is
re-seeded from ``(seed, rank, optimiser steps)``, which ``DBPOptimWrapper`` saves (with the
samples pooled since the last R update); mmengine's
samplers derive their order from ``(seed, epoch)``; data-loading workers are seeded by mmengine
from ``(seed, rank, worker id)``.

Validation during training does not consume the training run's random streams: the hook
restores every generator after each validation, so a resumed run (which does not repeat the
validation that followed the checkpoint) draws the same numbers as the uninterrupted one.

Guarantee: on CPU with ``randomness=dict(seed=..., deterministic=True)``, a run resumed from a
checkpoint saved at an iteration (iteration-based loops) or epoch (epoch-based loops) boundary
reproduces the uninterrupted run bit for bit. Not covered, with a warning on resume: a
different world size, a checkpoint saved in the middle of an epoch of an epoch-based loop
(mmengine restarts the epoch), and persistent data-loading workers in epoch-based loops (they
keep their random stream across epochs, which a resumed run cannot restore). On GPUs the
generators are restored the same way; the result is as deterministic as the kernels are.
"""
import logging
import random
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log

from mmdbp.registry import HOOKS

STATE_KEY = 'random_states'
_FORMAT = 1


def _raw_random_state() -> tuple:
    """The global random state as the libraries return it (cheap: no conversion)."""
    cuda = []
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = torch.cuda.get_rng_state_all()
    return torch.get_rng_state(), cuda, np.random.get_state(legacy=True), random.getstate()


def _plain_random_state(raw: tuple) -> dict:
    """:func:`_raw_random_state`'s result in plain types (tensors, ints, floats, str, None)."""
    torch_state, cuda, (kind, keys, pos, has_gauss, cached), (version, internal, gauss_next) = raw
    return dict(
        torch=torch_state.clone(),
        cuda=[s.clone() for s in cuda],
        numpy=dict(kind=str(kind), keys=torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                   pos=int(pos), has_gauss=int(has_gauss), cached_gaussian=float(cached)),
        python=dict(version=int(version), internal=torch.tensor(internal, dtype=torch.int64),
                    gauss_next=None if gauss_next is None else float(gauss_next)))


def get_random_state() -> dict:
    """This process's global random state (torch CPU and CUDA, numpy, Python ``random``) in
    plain types: tensors, ints, floats, strings, None."""
    return _plain_random_state(_raw_random_state())


def set_random_state(state: dict) -> None:
    """Restore a state from :func:`get_random_state`. CUDA generators are restored when the
    number of visible devices matches the saved one."""
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda') or []
    if cuda and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            print_log(f'ExactResumeHook: the checkpoint holds {len(cuda)} CUDA generator states, '
                      f'this process sees {torch.cuda.device_count()} devices; the CUDA '
                      'generators are not restored.', logger='current', level=logging.WARNING)
    npy = state['numpy']
    np.random.set_state((npy['kind'], npy['keys'].numpy().astype(np.uint32), int(npy['pos']),
                         int(npy['has_gauss']), float(npy['cached_gaussian'])))
    py = state['python']
    random.setstate((int(py['version']), tuple(int(v) for v in py['internal'].tolist()),
                     py['gauss_next']))


class _RestoreAfterSkip:
    """Stands in for ``IterBasedTrainLoop.dataloader_iterator`` while mmengine advances it past
    the ``steps`` trained batches; after the last of them it restores the random state and puts
    the real iterator back, so the next batch is loaded with the saved state."""

    def __init__(self, loop, steps: int, state: dict) -> None:
        self.loop = loop
        self.inner = loop.dataloader_iterator
        self.steps = steps
        self.state = state
        self.done = 0

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self.inner)
        self.done += 1
        if self.done >= self.steps:
            set_random_state(self.state)
            self.loop.dataloader_iterator = self.inner
        return batch

    def __getattr__(self, name: str):
        if name == 'inner':
            raise AttributeError(name)
        return getattr(self.inner, name)


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Save every random state training consumes in checkpoints and restore it on resume (see
    the module docstring for what is guaranteed).

    Switch it on with one config line (mmdbp's runtime bases do)::

        custom_hooks = [dict(type='ExactResumeHook')]

    It works with mmengine's ``CheckpointHook`` and mmdbp's ``AtomicCheckpointHook`` alike.
    """
    # after the hooks that log or schedule (and could draw random numbers), before
    # CheckpointHook (VERY_LOW) saves
    priority = 80

    def __init__(self) -> None:
        self._resumed_state: Optional[dict] = None
        # the state training continues with, taken at the end of every training iteration and
        # epoch: this rank's (as the libraries return it; converted when saved), and every
        # rank's when a checkpoint may follow with several ranks
        self._train_state: Optional[tuple] = None
        self._all_states: Optional[List[dict]] = None

    # -- saving ------------------------------------------------------------------------------
    def _saving(self, runner, by_epoch: bool) -> bool:
        """Whether a CheckpointHook saves in this after_train_iter / after_train_epoch."""
        for h in runner.hooks:
            if not isinstance(h, CheckpointHook) or h.by_epoch != by_epoch:
                continue
            if by_epoch and (h.every_n_epochs(runner, h.interval, h.save_begin)
                             or (h.save_last and h.is_last_train_epoch(runner))):
                return True
            if not by_epoch and (h.every_n_train_iters(runner, h.interval, h.save_begin)
                                 or (h.save_last and h.is_last_train_iter(runner))):
                return True
        return False

    def _capture(self, runner, by_epoch: bool) -> None:
        """Keep the state training continues with. Checkpoints are also written during the
        validation that follows (``save_best``; mmengine then rewrites the latest checkpoint
        too), when the generators may be re-seeded for validation, so every save stores this
        state. With several ranks, every rank's state is collected when a checkpoint follows
        and before validation (``before_save_checkpoint`` runs on rank 0 only, too late for a
        collective)."""
        self._train_state = _raw_random_state()
        self._all_states = None
        if get_world_size() > 1 and self._saving(runner, by_epoch):
            self._all_states = all_gather_object(_plain_random_state(self._train_state))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._capture(runner, by_epoch=False)

    def after_train_epoch(self, runner) -> None:
        self._capture(runner, by_epoch=True)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._all_states is not None:
            states = self._all_states
        else:
            states = [_plain_random_state(self._train_state or _raw_random_state())]
        checkpoint[STATE_KEY] = dict(format=_FORMAT, world_size=get_world_size(), ranks=states)

    # -- validation does not consume the training run's random streams -------------------------
    def before_val(self, runner) -> None:
        if (self._train_state is not None and self._all_states is None
                and get_world_size() > 1):  # validation may save a checkpoint (save_best)
            self._all_states = all_gather_object(_plain_random_state(self._train_state))

    def after_val(self, runner) -> None:
        if self._train_state is not None:  # None: validation outside training
            set_random_state(_plain_random_state(self._train_state))

    # -- resuming ----------------------------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # only a resume continues a run; load_from (fine-tuning) starts a new one
        if not getattr(runner, '_resume', False):
            return
        saved = checkpoint.get(STATE_KEY)
        if saved is None:
            print_log('ExactResumeHook: the checkpoint holds no random state (written without '
                      'this hook); the resumed run draws from freshly seeded generators and will '
                      'not repeat the uninterrupted one exactly.', logger='current',
                      level=logging.WARNING)
            self._resumed_state = None
            return
        rank, world_size = get_rank(), get_world_size()
        ranks: List[Dict] = saved['ranks']
        if saved.get('world_size', 1) != world_size or rank >= len(ranks):
            print_log(f'ExactResumeHook: the checkpoint was written by {saved.get("world_size")} '
                      f'process(es) with random states of {len(ranks)}, this run has '
                      f'{world_size}; resumed runs are exact only with the same number of '
                      'processes.', logger='current', level=logging.WARNING)
            self._resumed_state = ranks[rank] if rank < len(ranks) else None
            return
        self._resumed_state = ranks[rank]

    def before_train(self, runner) -> None:
        state, self._resumed_state = self._resumed_state, None
        if state is None:
            return
        counts = getattr(runner.optim_wrapper, '_accumulative_counts', 1)
        if isinstance(counts, int) and counts > 1 and runner.iter % counts:
            print_log(f'ExactResumeHook: the checkpoint was saved at iteration {runner.iter}, '
                      f'inside a gradient accumulation of {counts} iterations; its partial '
                      'gradients are not in checkpoints, so the resumed run is not exact. Save '
                      'checkpoints at multiples of accumulative_counts.', logger='current',
                      level=logging.WARNING)
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator') and loop.iter > 0:
            # IterBasedTrainLoop: restore after it has skipped the trained batches
            loop.dataloader_iterator = _RestoreAfterSkip(loop, loop.iter, state)
            return
        self._warn_epoch_based(runner, loop)
        set_random_state(state)

    def _warn_epoch_based(self, runner, loop) -> None:
        dataloader = getattr(loop, 'dataloader', None)
        try:
            per_epoch = len(dataloader)
        except TypeError:
            return
        if per_epoch and runner.iter != runner.epoch * per_epoch:
            print_log(f'ExactResumeHook: the checkpoint was saved at iteration {runner.iter}, '
                      f'inside epoch {runner.epoch + 1} ({per_epoch} iterations each); mmengine '
                      'repeats that epoch from its start, so the resumed run is not exact. Save '
                      'checkpoints of epoch-based loops by epoch.', logger='current',
                      level=logging.WARNING)
        if getattr(dataloader, 'num_workers', 0) > 0 and getattr(dataloader, 'persistent_workers',
                                                                  False):
            print_log('ExactResumeHook: persistent data-loading workers keep their random stream '
                      'across epochs, which a resumed run cannot restore: data augmentation after '
                      'the resume differs from the uninterrupted run. For exact resumes of '
                      'epoch-based loops, train with --no-persistent-workers.', logger='current',
                      level=logging.WARNING)
