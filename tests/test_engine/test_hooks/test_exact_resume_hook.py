"""ExactResumeHook: a training killed with SIGKILL and resumed with ``tools/train.py --resume``
repeats the uninterrupted run bit for bit (CPU, deterministic mode).

For each method (MAE, DBP-MAE, GreenMIM, MIRL, a DynamicViT fine-tune, and mmseg's UPerNet with
its numpy/random-driven crops and photometric distortion; tiny demo sizes) three
runs of the same wrapper config: uninterrupted (6 iterations, checkpoints every 2 iterations or
every epoch of 2 iterations), killed with SIGKILL at the end of iteration 5 (after the iteration-4
checkpoint), and resumed from that work dir with ``--resume``. Every logged value of iterations
5-6 and the final checkpoint (weights, optimiser state with DBP's R and W, schedulers, random
states) must be identical. DBP-MAE loads with 2 persistent data-loading workers, validates
(with a best-checkpoint save) at the checkpoint iterations and updates R every 3 steps (iter_4
is one step into an interval); MIRL trains epoch-based with 2 workers. A control run without
the hook must differ, so the comparison can fail. Two more tests: 2 DDP ranks, and a plain
mmpretrain config with the one-line hook.
"""
import json
import os
import os.path as osp
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmdbp.engine.hooks.exact_resume_hook import get_random_state, set_random_state

HERE = osp.dirname(osp.abspath(__file__))

# method: (config, lines added to the wrapper config, epoch-based)
CASES = {
    'mae': ('configs/demo/mae_vit-micro-p4_1xb32-300i_demo-in1k.py', """
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=DATA))
train_cfg = dict(max_iters=6)
default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts=5))
""", False),
    'dbp_mae': ('configs/dbp_mae/dbp-mae_vit-micro-p4_1xb32-300i_demo-in1k.py', """
train_dataloader = dict(batch_size=4, num_workers=2, persistent_workers=True,
                        dataset=dict(data_root=DATA))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=DATA))
train_cfg = dict(max_iters=6, val_interval=2)
optim_wrapper = dict(check_interval=1, update_interval=3)  # iter_4: one step into an interval
default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts=5))
""", False),
    'greenmim': ('configs/greenmim/greenmim_swin-micro-w4-p2_1xb32-300i_demo-in1k.py', """
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=DATA))
train_cfg = dict(max_iters=6)
default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts=5))
""", False),
    'mirl': ('configs/mirl/mirl_vit-demo-d12-p4_1xb32-coslr-50e_demo-in1k-32px.py', """
train_dataloader = dict(batch_size=4, num_workers=2, persistent_workers=False,
                        dataset=dict(data_root=DATA, indices=8))
train_cfg = dict(max_epochs=3)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=5))
""", True),
    'dynamicvit': ('configs/dynamicvit/dynamicvit_vit-demo-d12-p8_1xb32-keep0.7-5e_demo-in1k.py', """
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=DATA, indices=8))
val_dataloader = None
val_cfg = None
val_evaluator = None
train_cfg = dict(max_epochs=3, val_interval=10)
model = dict(init_cfg=None, teacher_ckpt=None)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=5))
""", True),
    'upernet': ('configs/demo/upernet_vit-micro-p4_1xb8-400i_demo-ade20k-64x64.py', """
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=ADE))
val_dataloader = None
val_cfg = None
val_evaluator = None
train_cfg = dict(max_iters=6, val_interval=100)
model = dict(backbone=dict(init_cfg=None))
default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts=5))
""", False),
}


def _wrapper(path, base, extra, data_root, hooks, control=False, ade=None):
    body = f"""_base_ = [{base!r}]
DATA = {data_root!r}
ADE = {ade!r}
custom_imports = dict(imports=['mmdbp', 'crash_helpers'], allow_failed_imports=False)
randomness = dict(seed=0, deterministic=True)
custom_hooks = {hooks!r}
log_level = 'WARNING'
""" + extra
    if control:  # ExactResumeHook switched off
        body = body.replace('default_hooks = dict(',
                            "default_hooks = dict(exact_resume=dict(type='NoOpHookForTest'), ")
    with open(path, 'w') as f:
        f.write(body)
    return path


def _runs_for(name, repo_root, data_root, tmp, control=False, ade=None):
    config, extra, _ = CASES[name]
    base = osp.join(repo_root, config)
    tag = name + ('_control' if control else '')
    runs = []
    record = dict(type='LossRecordForTest')
    full = _wrapper(str(tmp / f'{tag}_full.py'), base, extra, data_root, [record], control, ade)
    killed = _wrapper(str(tmp / f'{tag}_killed.py'), base, extra, data_root,
                      [record, dict(type='SigkillAtIterForTest', at=5)], control, ade)
    if not control:
        runs.append(dict(name=f'{tag}/full', argv=[full, '--work-dir', str(tmp / tag / 'full')],
                         log=str(tmp / f'{tag}_full.log')))
    work = str(tmp / tag / 'resumed')
    runs.append(dict(name=f'{tag}/killed', argv=[killed, '--work-dir', work],
                     log=str(tmp / f'{tag}_killed.log')))
    runs.append(dict(name=f'{tag}/resumed', argv=[full, '--work-dir', work, '--resume'],
                     log=str(tmp / f'{tag}_resumed.log')))
    return runs


@pytest.fixture(scope='module')
def resume_runs(repo_root, demo_data, tmp_path_factory):
    """All runs of all cases, in one process that forks a child per run."""
    tmp = tmp_path_factory.mktemp('exact_resume')
    data_root = demo_data['in1k']
    runs = []
    for name in CASES:
        runs += _runs_for(name, repo_root, data_root, tmp, ade=demo_data['ade20k'])
    runs += _runs_for('mae', repo_root, data_root, tmp, control=True)
    runs_file, out_file = str(tmp / 'runs.json'), str(tmp / 'results.json')
    with open(runs_file, 'w') as f:
        json.dump(runs, f)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore',
               PYTHONPATH=os.pathsep.join([HERE, repo_root, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, osp.join(HERE, 'train_runs.py'), runs_file, out_file],
                          cwd=repo_root, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out_file) as f:
        results = json.load(f)
    return tmp, results


def _log(tmp, tag, phase):
    with open(tmp / f'{tag}_{phase}.log') as f:
        return f.read()[-6000:]


def _losses(path, after):
    out = {}
    with open(path) as f:
        for line in f:
            it, key, value = line.split()
            if int(it) > after:
                out[(int(it), key)] = value
    return out


def _same(a, b, where=''):
    """Exact equality of nested checkpoint content; returns the first difference or None."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return where
        if a.dtype != b.dtype or a.shape != b.shape:
            return where
        return None if torch.equal(a, b) else where
    if isinstance(a, dict):
        if not isinstance(b, dict) or set(a) != set(b):
            return f'{where} keys'
        for k in a:
            d = _same(a[k], b[k], f'{where}.{k}')
            if d:
                return d
        return None
    if isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            return f'{where} len'
        for i, (x, y) in enumerate(zip(a, b)):
            d = _same(x, y, f'{where}[{i}]')
            if d:
                return d
        return None
    return None if a == b else where


def _final(work, epoch_based):
    name = 'epoch_3.pth' if epoch_based else 'iter_6.pth'
    return torch.load(osp.join(work, name), map_location='cpu', weights_only=False)


@pytest.mark.parametrize('name', list(CASES))
def test_sigkill_then_resume_repeats_the_uninterrupted_run(resume_runs, name):
    tmp, results = resume_runs
    epoch_based = CASES[name][2]
    for phase, expected in (('full', 'ok'), ('killed', 'SIGKILL'), ('resumed', 'ok')):
        assert results.get(f'{name}/{phase}') == expected, _log(tmp, name, phase)
    full, resumed = str(tmp / name / 'full'), str(tmp / name / 'resumed')
    log = _log(tmp, name, 'resumed')
    resumed_from = osp.join(resumed, 'epoch_2.pth' if epoch_based else 'iter_4.pth')
    assert f'Loads checkpoint by local backend from path: {resumed_from}' in log, log

    # the killed run logged iterations 1-5 into the same file; the resumed one appended 5-6
    expected = _losses(osp.join(full, 'losses_rank0.txt'), after=4)
    assert expected and {it for it, _ in expected} == {5, 6}
    lines = open(osp.join(resumed, 'losses_rank0.txt')).read().split('\n')
    resumed_part = [ln for ln in lines if ln][-len(expected):]
    got = {(int(it), key): value for it, key, value in (ln.split() for ln in resumed_part)}
    assert got == expected

    a, b = _final(full, epoch_based), _final(resumed, epoch_based)
    for key in ('state_dict', 'optimizer', 'param_schedulers', 'random_states'):
        assert _same(a[key], b[key], key) is None, f'{name}: {_same(a[key], b[key], key)} differs'
    if name == 'dbp_mae':
        assert a['optimizer']['dbp']['num_updates'] == 2 and len(a['optimizer']['dbp']['R']) > 0
        assert any(not torch.equal(r, torch.eye(r.shape[0])) for r in a['optimizer']['dbp']['R'].values())


def test_without_the_hook_the_resumed_run_differs(resume_runs):
    """The control: MAE killed and resumed without ExactResumeHook (the masks come from a
    re-seeded generator) does not repeat the uninterrupted run, so the test above can fail."""
    tmp, results = resume_runs
    assert results.get('mae_control/killed') == 'SIGKILL'
    assert results.get('mae_control/resumed') == 'ok', _log(tmp, 'mae_control', 'resumed')
    expected = _losses(str(tmp / 'mae' / 'full' / 'losses_rank0.txt'), after=4)
    lines = [ln for ln in open(tmp / 'mae_control' / 'resumed' / 'losses_rank0.txt').read().split('\n') if ln]
    got = {(int(it), key): value for it, key, value in (ln.split() for ln in lines[-len(expected):])}
    assert set(got) == set(expected) and got != expected
    a = _final(str(tmp / 'mae' / 'full'), False)
    b = _final(str(tmp / 'mae_control' / 'resumed'), False)
    assert _same(a['state_dict'], b['state_dict']) is not None


def test_random_state_round_trip_and_weights_only():
    """What get_random_state captures restores every generator, and it loads with
    torch.load(weights_only=True)."""
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    np.random.standard_normal()  # leaves a cached Gaussian in numpy's state
    random.gauss(0, 1)  # and one in Python's
    state = get_random_state()
    expected = (torch.rand(5), np.random.standard_normal(3), np.random.rand(2),
                [random.random() for _ in range(3)], random.gauss(0, 1))
    path = osp.join(os.environ.get('TMPDIR', '/tmp'), f'rng_state_{os.getpid()}.pt')
    torch.save(dict(random_states=state), path)
    loaded = torch.load(path, weights_only=True)['random_states']
    os.remove(path)
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    set_random_state(loaded)
    got = (torch.rand(5), np.random.standard_normal(3), np.random.rand(2),
           [random.random() for _ in range(3)], random.gauss(0, 1))
    assert torch.equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1]) and np.array_equal(got[2], expected[2])
    assert got[3] == expected[3] and got[4] == expected[4]


def test_two_process_resume_restores_every_rank(repo_root, demo_data, tmp_path):
    """2 gloo ranks (each with its own random stream: diff_rank_seed) through dist_train.sh:
    a resume from iter_4 into a new work dir repeats both ranks' iterations 5-6 and the final
    checkpoint of the uninterrupted run."""
    import shutil
    config = _wrapper(str(tmp_path / 'mae_ddp.py'), osp.join(repo_root, CASES['mae'][0]),
                      CASES['mae'][1].replace('batch_size=4', 'batch_size=2'),
                      demo_data['in1k'], [dict(type='LossRecordForTest')])
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable, PYTHONWARNINGS='ignore',
               PORT=str(random.randint(20000, 29000)),
               PYTHONPATH=os.pathsep.join([HERE, os.environ.get('PYTHONPATH', '')]))
    full, resumed = str(tmp_path / 'full'), str(tmp_path / 'resumed')

    def launch(*args):
        proc = subprocess.run(['bash', 'tools/dist_train.sh', config, '2'] + list(args),
                              cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]

    launch('--work-dir', full)
    os.makedirs(resumed)
    shutil.copy(osp.join(full, 'iter_4.pth'), osp.join(resumed, 'iter_4.pth'))
    states = torch.load(osp.join(resumed, 'iter_4.pth'), weights_only=False)['random_states']
    assert states['world_size'] == 2 and len(states['ranks']) == 2
    assert not torch.equal(states['ranks'][0]['torch'], states['ranks'][1]['torch'])
    env['PORT'] = str(int(env['PORT']) + 1)
    launch('--work-dir', resumed, '--resume', osp.join(resumed, 'iter_4.pth'))
    for rank in (0, 1):
        expected = _losses(osp.join(full, f'losses_rank{rank}.txt'), after=4)
        assert expected and _losses(osp.join(resumed, f'losses_rank{rank}.txt'), after=4) == expected
    a, b = _final(full, False), _final(resumed, False)
    for key in ('state_dict', 'optimizer', 'random_states'):
        assert _same(a[key], b[key], key) is None, _same(a[key], b[key], key)


def test_plain_mmpretrain_config_with_one_hook_line(mae_run_cfg, tmp_path):
    """A host config (mmpretrain's MAE, mmengine's own CheckpointHook, no mmdbp runtime base)
    gets the exact resume from `custom_hooks=[dict(type='ExactResumeHook')]`; without it the
    resumed run differs."""
    import shutil
    from mmengine.runner import Runner

    def run(name, hooks, max_iters=6, resume_from=None):
        cfg = mae_run_cfg(work_dir=str(tmp_path / name), max_iters=max_iters, val_interval=2,
                          custom_hooks=hooks)
        cfg.randomness = dict(seed=0, deterministic=True)
        cfg.experiment_name = f'{name}_{os.getpid()}'
        if resume_from:
            os.makedirs(cfg.work_dir, exist_ok=True)
            cfg.load_from = shutil.copy(resume_from, cfg.work_dir)
            cfg.resume = True
        runner = Runner.from_cfg(cfg)
        runner.train()
        return torch.load(osp.join(cfg.work_dir, f'iter_{max_iters}.pth'), weights_only=False)

    hook = [dict(type='ExactResumeHook')]
    full = run('full', hook)
    resumed = run('resumed', hook, resume_from=str(tmp_path / 'full' / 'iter_4.pth'))
    assert _same(full['state_dict'], resumed['state_dict']) is None
    assert _same(full['optimizer'], resumed['optimizer']) is None
    plain = run('plain', [])
    plain_resumed = run('plain_resumed', [], resume_from=str(tmp_path / 'plain' / 'iter_4.pth'))
    assert _same(plain['state_dict'], plain_resumed['state_dict']) is not None
