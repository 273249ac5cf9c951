"""Test-only hooks for the crash and resume tests, imported by the training subprocesses through
``custom_imports=dict(imports=['crash_helpers'])`` (this folder on PYTHONPATH). Not part of mmdbp;
registered in mmengine's root hook registry of those subprocesses only."""
import os
import signal

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class LossRecordForTest(Hook):
    """Append ``iteration key float.hex(value)`` of every logged value of every training
    iteration to ``<work_dir>/losses_rank<r>.txt`` (exact values, for bit-for-bit comparisons)."""
    priority = 'LOW'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        with open(os.path.join(runner.work_dir, f'losses_rank{get_rank()}.txt'), 'a') as f:
            for key, value in sorted((outputs or {}).items()):
                value = value.detach() if hasattr(value, 'detach') else value
                f.write(f'{runner.iter + 1} {key} {float(value).hex()}\n')


@HOOKS.register_module()
class SigkillAtIterForTest(Hook):
    """SIGKILL this process at the end of iteration ``at`` (after CheckpointHook, so after a save
    in that iteration)."""
    priority = 'LOWEST'

    def __init__(self, at: int):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class SigkillDuringSaveForTest(Hook):
    """SIGKILL this process while it saves the checkpoint of iteration ``at``: as soon as a file
    of that save appears in the work dir (``.iter_N.pth.tmp-*`` of AtomicCheckpointHook, or
    ``iter_N.pth`` written in place), i.e. after mmengine's CheckpointHook has rotated the old
    checkpoints, while the new file is written."""

    def __init__(self, at: int):
        self.at = at

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['iter'] != self.at:
            return
        import glob
        import threading
        import time
        names = [f'.iter_{self.at}.pth.tmp-*', f'iter_{self.at}.pth']

        def watch():
            while not any(glob.glob(os.path.join(runner.work_dir, n)) for n in names):
                time.sleep(0.0005)
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=watch, daemon=True).start()


@HOOKS.register_module()
class PidFileForTest(Hook):
    """Write this rank's pid to ``<work_dir>/pid_rank<r>`` when training starts and sleep
    ``sleep`` seconds per iteration (so a test can signal a run that is surely training)."""

    def __init__(self, sleep: float = 0.):
        self.sleep = sleep

    def before_train(self, runner):
        path = os.path.join(runner.work_dir, f'pid_rank{get_rank()}')
        with open(path + '.tmp', 'w') as f:
            f.write(str(os.getpid()))
        os.replace(path + '.tmp', path)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.sleep:
            import time
            time.sleep(self.sleep)


@HOOKS.register_module()
class RaiseOnRankForTest(Hook):
    """Raise ``RuntimeError('rank R failed on purpose')`` on rank ``rank`` at iteration ``at``."""

    def __init__(self, rank: int = 1, at: int = 1):
        self.rank = rank
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if get_rank() == self.rank and runner.iter + 1 == self.at:
            raise RuntimeError(f'rank {self.rank} failed on purpose')


@HOOKS.register_module()
class NoOpHookForTest(Hook):
    """Does nothing (stands in for a hook a test switches off)."""
