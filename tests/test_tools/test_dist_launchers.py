"""tools/dist_train.sh and dist_test.sh stop every rank: SIGINT/SIGTERM/SIGKILL to the script or
its process group end both ranks of a 2-process (gloo, CPU) run, and a rank that fails stops the
other one with its error shown.

torchrun starts its ranks in sessions of their own, so before the fix a kill -9 of the script's
process group left them training. The fake-rank cases run the real scripts and torchrun with a
stand-in train.py / test.py next to them (importing only mmdbp.utils.launcher), the others run
tools/train.py on the demo MAE config.
"""
import os
import os.path as osp
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

HERE = osp.dirname(osp.abspath(__file__))
HOOKS_DIR = osp.join(osp.dirname(HERE), 'test_engine', 'test_hooks')
MAE_CFG = 'configs/demo/mae_vit-micro-p4_1xb32-300i_demo-in1k.py'

FAKE_RANK = '''import importlib.util, os, sys, time
spec = importlib.util.spec_from_file_location('launcher', {launcher!r})
launcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launcher)
assert launcher.watch_launcher(), 'watch_launcher did not arm'
path = os.path.join({work!r}, 'pid_rank' + os.environ['RANK'])
with open(path + '.tmp', 'w') as f:
    f.write(str(os.getpid()))
os.replace(path + '.tmp', path)
time.sleep(300)
'''


def _alive(pid: int) -> bool:
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except FileNotFoundError:
        return False


def _wait_for_pids(work, n, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        paths = [osp.join(work, f'pid_rank{r}') for r in range(n)]
        if all(osp.isfile(p) for p in paths):
            return [int(open(p).read()) for p in paths]
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    out = proc.communicate()[0]
    pytest.fail(f'the ranks did not start:\n{out[-4000:]}')


def _gone(pids, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return not any(_alive(p) for p in pids)


def _env(extra_path=''):
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable, PYTHONWARNINGS='ignore',
                PORT=str(random.randint(20000, 29000)),
                PYTHONPATH=os.pathsep.join(p for p in (extra_path, os.environ.get('PYTHONPATH', '')) if p))


def _cleanup(proc, pids):
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


@pytest.mark.parametrize('script, sig, target', [
    ('dist_train.sh', signal.SIGKILL, 'script'),
    ('dist_train.sh', signal.SIGTERM, 'script'),
    ('dist_test.sh', signal.SIGINT, 'group'),
])
def test_signal_to_the_launcher_ends_every_rank(repo_root, tmp_path, script, sig, target):
    tools = tmp_path / 'tools'
    tools.mkdir()
    shutil.copy(osp.join(repo_root, 'tools', script), tools / script)
    work = str(tmp_path)
    for name in ('train.py', 'test.py'):
        (tools / name).write_text(FAKE_RANK.format(
            launcher=osp.join(repo_root, 'mmdbp', 'utils', 'launcher.py'), work=work))
    args = ['CONFIG', '2'] if script == 'dist_train.sh' else ['CONFIG', 'CKPT', '2']
    proc = subprocess.Popen(['bash', str(tools / script)] + args, env=_env(), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids = _wait_for_pids(work, 2, proc)
    try:
        if target == 'script':
            os.kill(proc.pid, sig)
        else:
            os.killpg(proc.pid, sig)
        assert _gone(pids), f'{signal.Signals(sig).name} to the {target}: ranks still running'
        proc.wait(timeout=60)  # torchrun itself ends too
    finally:
        _cleanup(proc, pids)


def test_kill_9_of_a_plain_torchrun_ends_every_rank(repo_root, tmp_path):
    """Without the scripts (`torchrun tools/train.py ...`), the ranks watch their parent too."""
    work = str(tmp_path)
    rank = tmp_path / 'rank.py'
    rank.write_text(FAKE_RANK.format(launcher=osp.join(repo_root, 'mmdbp', 'utils', 'launcher.py'),
                                     work=work))
    env = _env()
    env.pop('MMDBP_LAUNCHER_PID', None)
    proc = subprocess.Popen([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
                             f'--master_port={env["PORT"]}', str(rank)], env=env,
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    pids = _wait_for_pids(work, 2, proc)
    try:
        os.kill(proc.pid, signal.SIGKILL)
        assert _gone(pids), 'kill -9 of torchrun: ranks still running'
    finally:
        _cleanup(proc, pids)


def _mae_args(repo_root, demo_data, work, hooks):
    """dist_train.sh arguments: the demo MAE config with test hooks, on the session's data."""
    config = osp.join(osp.dirname(work), 'mae_dist.py')
    with open(config, 'w') as f:
        f.write(f"""_base_ = [{osp.join(repo_root, MAE_CFG)!r}]
custom_imports = dict(imports=['mmdbp', 'crash_helpers'], allow_failed_imports=False)
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root={demo_data['in1k']!r}))
train_cfg = dict(max_iters=10000)
custom_hooks = {hooks!r}
""")
    return [config, '2', '--work-dir', work]


def test_kill_9_of_the_process_group_ends_real_training_ranks(repo_root, demo_data, tmp_path):
    """The issue's case: kill -9 of dist_train.sh's process group while tools/train.py trains."""
    work = str(tmp_path / 'run')
    os.makedirs(work)
    cmd = ['bash', 'tools/dist_train.sh'] + _mae_args(
        repo_root, demo_data, work, [dict(type='PidFileForTest', sleep=0.2)])
    proc = subprocess.Popen(cmd, cwd=repo_root, env=_env(HOOKS_DIR), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids = _wait_for_pids(work, 2, proc, timeout=300)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
        assert _gone(pids), 'kill -9 of the process group: ranks still running'
    finally:
        _cleanup(proc, pids)


def test_a_failing_rank_stops_the_other_and_its_error_is_shown(repo_root, demo_data, tmp_path):
    work = str(tmp_path / 'run')
    cmd = ['bash', 'tools/dist_train.sh'] + _mae_args(
        repo_root, demo_data, work, [dict(type='PidFileForTest'),
                                     dict(type='RaiseOnRankForTest', rank=1, at=3)])
    proc = subprocess.run(cmd, cwd=repo_root, env=_env(HOOKS_DIR), capture_output=True, text=True,
                          timeout=400)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'RuntimeError: rank 1 failed on purpose' in out, out[-4000:]
    pids = [int(open(osp.join(work, f'pid_rank{r}')).read()) for r in range(2)]
    assert _gone(pids, timeout=5), 'rank 0 still running after rank 1 failed'
