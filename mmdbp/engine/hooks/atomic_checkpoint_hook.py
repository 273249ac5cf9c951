"""``AtomicCheckpointHook``: checkpoints that a kill at any moment cannot destroy, and resumes
that skip a damaged newest checkpoint.

mmengine's ``CheckpointHook`` writes ``iter_N.pth`` in place, deletes the oldest kept checkpoint
*before* writing the new one and then rewrites ``last_checkpoint``: a job killed while saving
can leave a truncated newest checkpoint, and with ``max_keep_ckpts=1`` no checkpoint at all.
This subclass, for local directories:

1. writes the checkpoint to a hidden temporary file in the same folder (``.iter_N.pth.tmp-PID``),
   flushes and fsyncs it, and renames it to ``iter_N.pth`` (a rename within a folder is atomic:
   the name points to the old file, none, or the complete new one), then fsyncs the folder;
2. only then updates ``last_checkpoint`` (itself written to a temporary file and renamed);
3. only then deletes the checkpoints beyond ``max_keep_ckpts``.

Leftover temporary files of a killed save are removed when training starts. Other backends
(petrel, ...) keep mmengine's behaviour.

On ``resume=True`` without a path, :func:`find_resumable_checkpoint` checks that the newest
checkpoint loads and falls back to the newest one that does, with a warning naming what it
skipped; an empty or garbled ``last_checkpoint`` is handled the same way. The hook does this in
``before_run`` (before mmengine picks the checkpoint), ``tools/train.py --resume`` before it builds
the runner.
"""
import glob
import logging
import os
import os.path as osp
import re
import zipfile
from collections import deque
from typing import List, Optional, Tuple

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from mmdbp.registry import HOOKS

_CKPT_NAME = re.compile(r'^(?:iter|epoch)_(\d+)\.pth$')
_TMP_GLOB = '.*.tmp-*'


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not fsync folders
        pass
    finally:
        os.close(fd)


def fsync_file(path: str) -> None:
    """Flush a written file to the disk."""
    with open(path, 'rb+') as f:
        os.fsync(f.fileno())


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, fsync and rename."""
    tmp = osp.join(osp.dirname(path) or '.', f'.{osp.basename(path)}.tmp-{os.getpid()}')
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(osp.dirname(path) or '.')


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a loadable checkpoint (None if it is).

    Checks that the file exists, that the zip archive ``torch.save`` writes is complete and its
    CRCs match, and that it loads (through mmengine's loader, i.e. the one mmdbp registers) as a
    dict with ``meta`` and ``state_dict``.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    if not path or not osp.isfile(path):
        return 'does not exist'
    if osp.getsize(path) == 0:
        return 'is empty'
    with open(path, 'rb') as f:
        zip_header = f.read(4) == b'PK\x03\x04'
    if zip_header and not zipfile.is_zipfile(path):
        return 'is truncated (its zip archive has no end)'
    if zip_header:
        try:
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            return f'is a damaged archive ({e})'
        if bad is not None:
            return f'is damaged (CRC mismatch in {bad})'
    try:
        checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    except Exception as e:  # noqa: BLE001 (any failure to load is the answer)
        return f'does not load ({type(e).__name__}: {str(e)[:200]})'
    if not isinstance(checkpoint, dict) or 'meta' not in checkpoint or 'state_dict' not in checkpoint:
        return 'is not a training checkpoint (no meta/state_dict)'
    return None


def _candidates(work_dir: str) -> Tuple[List[str], Optional[str], Optional[str]]:
    """Checkpoints to try, newest first: the one ``last_checkpoint`` names, then ``iter_N.pth``
    / ``epoch_N.pth`` in its folder and in ``work_dir`` by decreasing N (then modification
    time). Also returns what ``last_checkpoint`` said and why it is unusable, if it is."""
    save_file = osp.join(work_dir, 'last_checkpoint')
    named, note = None, None
    if osp.isfile(save_file):
        with open(save_file, errors='replace') as f:
            named = f.read().strip()
        if not named:
            note = 'last_checkpoint is empty'
        elif '\x00' in named or '\n' in named or not named.endswith('.pth'):
            note = f'last_checkpoint is garbled ({named[:80]!r})'
            named = None
    folders = [work_dir]
    if named and osp.dirname(named) and osp.abspath(osp.dirname(named)) != osp.abspath(work_dir):
        folders.insert(0, osp.dirname(named))
    found = []
    for folder in folders:
        for path in glob.glob(osp.join(folder, '*.pth')):
            m = _CKPT_NAME.match(osp.basename(path))
            if m:
                found.append((int(m.group(1)), osp.getmtime(path), path))
    ordered = [p for _, _, p in sorted(found, reverse=True)]
    if named:
        ordered = [named] + [p for p in ordered if osp.abspath(p) != osp.abspath(named)]
    return ordered, named, note


def scan_checkpoints(work_dir: str) -> Tuple[Optional[str], List[str], bool]:
    """The newest checkpoint in ``work_dir`` that loads (None if none does), what was skipped
    before it and why, and whether there were checkpoints at all."""
    candidates, _, note = _candidates(work_dir)
    skipped = [note] if note else []
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            return path, skipped, True
        skipped.append(f'{path} {problem}')
    return None, skipped, bool(candidates)


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The newest checkpoint in ``work_dir`` that loads, or None when there is none at all.

    Warns naming every newer checkpoint it skipped and why (truncated, damaged, missing, an
    empty or garbled ``last_checkpoint``). Raises ``RuntimeError`` when checkpoints exist but
    none of them loads.
    """
    path, skipped, any_found = scan_checkpoints(work_dir)
    if path is not None:
        if skipped:
            print_log(f'Resuming from {path}, the newest checkpoint that loads; skipped: '
                      f'{"; ".join(skipped)}.', logger='current', level=logging.WARNING)
        return path
    if any_found:
        raise RuntimeError(f'--resume: no checkpoint in {work_dir} loads: {"; ".join(skipped)}. '
                           'Resume from another checkpoint with --resume CKPT, or train from '
                           'scratch in a new --work-dir.')
    if skipped:
        print_log(f'--resume: {skipped[0]} and {work_dir} holds no checkpoint; training starts '
                  'from scratch.', logger='current', level=logging.WARNING)
    return None


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with atomic saves, deletion of old checkpoints only after
    the new one is complete, and a resume that skips damaged checkpoints (see the module
    docstring). Takes the same arguments; one config line switches it on::

        default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', interval=1000,
                                             by_epoch=False, max_keep_ckpts=3))
    """

    def before_run(self, runner) -> None:
        super().before_run(runner)
        if getattr(runner, '_resume', False) and getattr(runner, '_load_from', None) is None:
            path = find_resumable_checkpoint(runner.work_dir)
            if path is not None:
                runner._load_from = path  # what Runner.load_or_resume resumes from
            elif osp.isfile(osp.join(runner.work_dir, 'last_checkpoint')):
                runner._resume = False  # a stale last_checkpoint naming nothing usable

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self._local() and is_main_process():
            for tmp in glob.glob(osp.join(self.out_dir, _TMP_GLOB)):
                print_log(f'AtomicCheckpointHook: removing {tmp}, left by an interrupted save.',
                          logger='current', level=logging.WARNING)
                os.remove(tmp)

    def _local(self) -> bool:
        return isinstance(getattr(self, 'file_backend', None), LocalBackend)

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        stale = []
        if self.max_keep_ckpts > 0:
            # same bookkeeping as mmengine, but the dropped checkpoints are deleted only after
            # the new one is in place
            if not (len(self.keep_ckpt_ids) > 0 and self.keep_ckpt_ids[-1] == step):
                keep = list(self.keep_ckpt_ids)
                while len(keep) >= self.max_keep_ckpts:
                    stale.append(keep.pop(0))
                keep.append(step)
                self.keep_ckpt_ids = deque(keep, self.max_keep_ckpts)
                runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        tmp_filename = f'.{ckpt_filename}.tmp-{os.getpid()}'
        runner.save_checkpoint(
            self.out_dir,
            tmp_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        tmp_path = osp.join(self.out_dir, tmp_filename)
        fsync_file(tmp_path)
        os.replace(tmp_path, self.last_ckpt)
        _fsync_dir(self.out_dir)
        write_text_atomic(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old in stale:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)
