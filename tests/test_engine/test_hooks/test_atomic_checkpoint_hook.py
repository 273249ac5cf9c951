"""AtomicCheckpointHook and the resume fallback: a kill during a save (max_keep_ckpts=1) leaves
a loadable checkpoint, and ``--resume`` skips a truncated newest checkpoint or an empty
``last_checkpoint`` with a warning that names what it skipped."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmdbp.engine.hooks.atomic_checkpoint_hook import (AtomicCheckpointHook, checkpoint_problem,
                                                       find_resumable_checkpoint, scan_checkpoints)

HERE = osp.dirname(osp.abspath(__file__))
MAE_CFG = 'configs/demo/mae_vit-micro-p4_1xb32-300i_demo-in1k.py'


def _fake_ckpt(path, value=0.):
    torch.save(dict(meta=dict(iter=0), state_dict=dict(w=torch.full((64, 64), float(value)))), path)


@pytest.fixture
def three_ckpts(tmp_path):
    for i in (1, 2, 3):
        _fake_ckpt(str(tmp_path / f'iter_{i}.pth'), i)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_3.pth'))
    return tmp_path


def test_newest_loadable_checkpoint_is_taken(three_ckpts):
    assert scan_checkpoints(str(three_ckpts)) == (str(three_ckpts / 'iter_3.pth'), [], True)


def test_truncated_newest_checkpoint_is_skipped_and_named(three_ckpts):
    newest = three_ckpts / 'iter_3.pth'
    with open(newest, 'r+b') as f:
        f.truncate(osp.getsize(newest) // 2)
    path, skipped, _ = scan_checkpoints(str(three_ckpts))
    assert path == str(three_ckpts / 'iter_2.pth')
    assert len(skipped) == 1 and skipped[0].startswith(str(newest))


def test_damaged_bytes_in_the_newest_checkpoint_are_found(three_ckpts):
    newest = three_ckpts / 'iter_3.pth'
    data = bytearray(newest.read_bytes())
    i = data.index(bytes(torch.full((64, 64), 3.).numpy().tobytes()[:64]))  # inside the tensor data
    data[i:i + 8] = b'\x00\x11\x22\x33\x44\x55\x66\x77'
    newest.write_bytes(bytes(data))
    path, skipped, _ = scan_checkpoints(str(three_ckpts))
    assert path == str(three_ckpts / 'iter_2.pth') and 'CRC' in skipped[0]


@pytest.mark.parametrize('content, reason', [('', 'last_checkpoint is empty'),
                                             ('\x00\x01garbage\x7f', 'last_checkpoint is garbled')])
def test_empty_or_garbled_last_checkpoint_falls_back_to_the_files(three_ckpts, content, reason):
    (three_ckpts / 'last_checkpoint').write_text(content)
    path, skipped, _ = scan_checkpoints(str(three_ckpts))
    assert path == str(three_ckpts / 'iter_3.pth')
    assert len(skipped) == 1 and skipped[0].startswith(reason)


def test_last_checkpoint_naming_a_missing_file(three_ckpts):
    os.remove(three_ckpts / 'iter_3.pth')
    path, skipped, _ = scan_checkpoints(str(three_ckpts))
    assert path == str(three_ckpts / 'iter_2.pth') and 'does not exist' in skipped[0]


def test_nothing_loadable_is_an_error_and_nothing_at_all_is_a_fresh_start(three_ckpts, tmp_path_factory):
    for i in (1, 2, 3):
        (three_ckpts / f'iter_{i}.pth').write_bytes(b'PK\x03\x04 not a checkpoint')
    with pytest.raises(RuntimeError, match='no checkpoint in .* loads: .*iter_3.pth.*iter_1.pth'):
        find_resumable_checkpoint(str(three_ckpts))
    empty = tmp_path_factory.mktemp('empty')
    (empty / 'last_checkpoint').write_text('')
    assert find_resumable_checkpoint(str(empty)) is None


def test_hook_points_a_plain_resume_at_the_newest_loadable_checkpoint(three_ckpts):
    """Host configs (mmengine's tools, resume=True) get the fallback from the hook: before_run
    runs before Runner.load_or_resume reads last_checkpoint."""
    (three_ckpts / 'last_checkpoint').write_text('')
    runner = SimpleNamespace(_resume=True, _load_from=None, work_dir=str(three_ckpts))
    AtomicCheckpointHook().before_run(runner)
    assert runner._load_from == str(three_ckpts / 'iter_3.pth') and runner._resume
    empty = three_ckpts / 'nothing'
    empty.mkdir()
    (empty / 'last_checkpoint').write_text('')
    runner = SimpleNamespace(_resume=True, _load_from=None, work_dir=str(empty))
    AtomicCheckpointHook().before_run(runner)
    assert runner._load_from is None and not runner._resume  # mmengine would crash on ''


class _ListDirAtSave(Hook):
    def __init__(self):
        self.seen = []

    def before_save_checkpoint(self, runner, checkpoint):
        self.seen.append((checkpoint['meta']['iter'], sorted(os.listdir(runner.work_dir))))


def test_old_checkpoint_is_deleted_only_after_the_new_one_is_in_place(mae_run_cfg, tmp_path):
    cfg = mae_run_cfg(work_dir=str(tmp_path), max_iters=3, val_interval=100)
    cfg['default_hooks']['checkpoint'] = dict(type='AtomicCheckpointHook', by_epoch=False,
                                              interval=1, max_keep_ckpts=1)
    cfg['val_dataloader'] = cfg['val_cfg'] = cfg['val_evaluator'] = None
    cfg['experiment_name'] = f'atomic_{os.getpid()}'
    runner = Runner.from_cfg(cfg)
    spy = _ListDirAtSave()
    runner.register_hook(spy)
    runner.train()
    assert [it for it, _ in spy.seen] == [1, 2, 3]
    for it, names in spy.seen[1:]:
        assert f'iter_{it - 1}.pth' in names  # the previous one still there while saving
    ckpts = sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth'))
    assert ckpts == ['iter_3.pth'] and not glob.glob(str(tmp_path / '.*tmp*'))
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_3.pth')
    assert torch.load(tmp_path / 'iter_3.pth', weights_only=False)['meta']['iter'] == 3


@pytest.fixture(scope='module')
def crash_runs(repo_root, demo_data, tmp_path_factory):
    """kill -9 during a save with max_keep_ckpts=1, then --resume; a truncated newest
    checkpoint, then --resume; an empty last_checkpoint, then --resume."""
    tmp = tmp_path_factory.mktemp('atomic')

    def config(name, max_iters, max_keep, hooks):
        path = str(tmp / f'{name}.py')
        with open(path, 'w') as f:
            f.write(f"""_base_ = [{osp.join(repo_root, MAE_CFG)!r}]
custom_imports = dict(imports=['mmdbp', 'crash_helpers'], allow_failed_imports=False)
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root={demo_data['in1k']!r}))
train_cfg = dict(max_iters={max_iters})
default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts={max_keep}))
custom_hooks = {hooks!r}
""")
        return path

    save, trunc = str(tmp / 'killsave'), str(tmp / 'trunc')
    runs = [
        dict(name='killsave', argv=[config('k', 6, 1, [dict(type='SigkillDuringSaveForTest', at=4)]),
                                    '--work-dir', save], log=str(tmp / 'killsave.log')),
        dict(name='killsave_resume', argv=[config('k2', 6, 1, []), '--work-dir', save, '--resume'],
             log=str(tmp / 'killsave_resume.log')),
        dict(name='trunc', argv=[config('t', 4, 3, []), '--work-dir', trunc], log=str(tmp / 'trunc.log')),
        dict(truncate=osp.join(trunc, 'iter_4.pth'), size=4096),
        dict(name='trunc_resume', argv=[config('t2', 6, 3, []), '--work-dir', trunc, '--resume'],
             log=str(tmp / 'trunc_resume.log')),
        dict(write=osp.join(trunc, 'last_checkpoint'), text=''),
        dict(name='empty_resume', argv=[config('t3', 8, 3, []), '--work-dir', trunc, '--resume'],
             log=str(tmp / 'empty_resume.log')),
    ]
    # what the killed run left behind is inspected by the test: run it first, on its own
    runs_file, out_file = str(tmp / 'runs.json'), str(tmp / 'results.json')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore',
               PYTHONPATH=os.pathsep.join([HERE, repo_root, os.environ.get('PYTHONPATH', '')]))
    results, left = {}, {}
    for part in (runs[:1], runs[1:]):
        with open(runs_file, 'w') as f:
            json.dump(part, f)
        proc = subprocess.run([sys.executable, osp.join(HERE, 'train_runs.py'), runs_file, out_file],
                              cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        with open(out_file) as f:
            results.update(json.load(f))
        if not left:
            left = dict(files=sorted(os.listdir(save)),
                        last=open(osp.join(save, 'last_checkpoint')).read(),
                        problem=checkpoint_problem(osp.join(save, 'iter_2.pth')))
    logs = {}
    for name in ('killsave_resume', 'trunc_resume', 'empty_resume'):
        with open(tmp / f'{name}.log') as f:
            logs[name] = f.read()
    return tmp, results, left, logs


def test_kill_during_save_with_max_keep_1_leaves_the_previous_checkpoint(crash_runs):
    tmp, results, left, logs = crash_runs
    save = str(tmp / 'killsave')
    assert results['killsave'] == 'SIGKILL'
    assert 'iter_2.pth' in left['files']  # mmengine's hook deleted it before writing iter_4
    assert left['last'] == osp.join(save, 'iter_2.pth') or (
        left['last'] == osp.join(save, 'iter_4.pth') and 'iter_4.pth' in left['files'])
    assert left['problem'] is None  # complete, loads
    assert results['killsave_resume'] == 'ok', logs['killsave_resume'][-4000:]
    assert sorted(n for n in os.listdir(save) if n.endswith('.pth')) == ['iter_6.pth']
    assert not glob.glob(osp.join(save, '.*tmp*'))  # a leftover temporary file was removed


def test_resume_skips_a_truncated_checkpoint_and_an_empty_last_checkpoint(crash_runs):
    tmp, results, _, logs = crash_runs
    trunc = str(tmp / 'trunc')
    assert results['trunc'] == 'ok' and results['trunc_resume'] == 'ok', logs['trunc_resume'][-4000:]
    log = logs['trunc_resume']
    assert f'Resuming from {osp.join(trunc, "iter_2.pth")}, the newest checkpoint that loads; ' \
           f'skipped: {osp.join(trunc, "iter_4.pth")}' in log
    assert 'Advance dataloader 2 steps' in log
    assert torch.load(osp.join(trunc, 'iter_6.pth'), weights_only=False)['meta']['iter'] == 6
    assert results['empty_resume'] == 'ok', logs['empty_resume'][-4000:]
    log = logs['empty_resume']
    assert 'skipped: last_checkpoint is empty' in log and 'Advance dataloader 6 steps' in log
    assert torch.load(osp.join(trunc, 'iter_8.pth'), weights_only=False)['meta']['iter'] == 8
