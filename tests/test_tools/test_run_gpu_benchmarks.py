"""tools/device/run_gpu_benchmarks.sh: its groups name existing GPU workloads and cover them all
(the command lines themselves are checked on CPU with `run_gpu_benchmarks.sh GROUP --smoke`)."""
import importlib.util
import os.path as osp
import subprocess

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(ROOT, 'tools', 'device', 'run_gpu_benchmarks.sh')


def _workloads():
    spec = importlib.util.spec_from_file_location(
        'benchmark_workloads', osp.join(ROOT, 'tools', 'benchmark_workloads.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {w['name']: w for w in module.WORKLOADS}


def test_groups_cover_every_gpu_workload():
    out = subprocess.run(['bash', SCRIPT, 'list'], check=True, capture_output=True,
                         text=True).stdout
    groups, named = {}, []
    for line in out.splitlines():
        if not line.startswith(' '):
            group = line.rstrip(':')
            groups[group] = []
            continue
        cmd = line.split()
        assert cmd[0] == 'python' and osp.isfile(osp.join(ROOT, cmd[1])), line
        groups[group].append(cmd)
        if cmd[1] == 'tools/benchmark.py':
            named.append(cmd[cmd.index('--workload') + 1])
    assert set(groups) == {'mae', 'mae-compile', 'dbp', 'greenmim', 'mirl', 'pruning', 'data'}
    workloads = _workloads()
    assert len(named) == len(set(named))
    for name in named:
        assert name in workloads and workloads[name]['device'] == 'cuda', name
    gpu = {n for n, w in workloads.items() if w['device'] == 'cuda'}
    assert gpu == set(named), f'GPU workloads in no group: {sorted(gpu - set(named))}'
    assert any(c[1] == 'tools/benchmark_pruning.py' and '--device' in c and
               c[c.index('--device') + 1] == 'cuda' for c in groups['pruning'])
    # issue 18's pending GPU-decode row (nvJPEG through the device-decode pipeline)
    assert any(c[1] == 'tools/benchmark_data.py' and '--device-decode' in c and
               c[c.index('--device-decode') + 1] == 'cuda' for c in groups['data'])


def test_unknown_group_is_refused():
    res = subprocess.run(['bash', SCRIPT, 'nope'], capture_output=True, text=True)
    assert res.returncode == 2 and "unknown group 'nope'" in res.stdout
