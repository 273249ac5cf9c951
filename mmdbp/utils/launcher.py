"""Make ``--launcher pytorch|slurm|mpi`` work on machines without a GPU as well.

mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and its runner wraps the model in
``MMDistributedDataParallel(device_ids=[LOCAL_RANK])``; both fail without CUDA. On a CPU-only
machine :func:`prepare_launcher` therefore starts the process group itself with the ``gloo``
backend (mmengine then skips its own ``init_dist``) and builds the DDP wrapper without device ids.
With GPUs nothing changes: mmengine sets everything up as usual (``nccl``).

:func:`watch_launcher` makes every rank end with the launcher that started it. torchrun starts
its ranks in sessions of their own, so a ``kill -9`` of ``tools/dist_train.sh`` (or of its
process group) used to leave them training. ``dist_train.sh`` / ``dist_test.sh`` ``exec``
torchrun, so the script's pid *is* torchrun's and signals sent to the script reach it directly:
SIGINT, SIGTERM and SIGHUP make torchrun stop every rank (and a failing rank makes it stop the
others). For SIGKILL, which torchrun cannot handle, each rank asks the kernel to SIGKILL it when
its parent dies (``prctl(PR_SET_PDEATHSIG)``; torchrun starts the ranks from its main thread, so
the parent's death is the launcher's death). The scripts export the launcher's pid, so a rank
whose launcher died before the request was made notices (its parent pid is no longer that pid)
and exits too; under a plain ``torchrun`` the ranks watch the parent they find. Where ``prctl``
is missing (not Linux), a daemon thread polls the parent pid once a second instead.
"""
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

import torch
import torch.distributed as dist
from mmengine.logging import print_log


def _set_env_from_slurm() -> None:
    os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
    os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
    os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    if 'MASTER_ADDR' not in os.environ:
        nodes = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(f'scontrol show hostname {nodes} | head -n1')
    os.environ.setdefault('MASTER_PORT', '29500')


def _set_env_from_mpi() -> None:
    os.environ.setdefault('RANK', os.environ['OMPI_COMM_WORLD_RANK'])
    os.environ.setdefault('WORLD_SIZE', os.environ['OMPI_COMM_WORLD_SIZE'])
    os.environ.setdefault('LOCAL_RANK', os.environ.get('OMPI_COMM_WORLD_LOCAL_RANK', '0'))
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    os.environ.setdefault('MASTER_PORT', '29500')


LAUNCHER_PID_ENV = 'MMDBP_LAUNCHER_PID'
_PR_SET_PDEATHSIG = 1


def _end_now(reason: str) -> None:
    print(f'[mmdbp] {reason}; ending this rank (pid {os.getpid()}).', file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def watch_launcher() -> bool:
    """End this process when the launcher that started it dies, however it dies.

    Active in ranks that torchrun started: for ``tools/dist_train.sh`` / ``dist_test.sh``,
    which export ``MMDBP_LAUNCHER_PID``, the launcher's death is noticed even when it happened
    before this call; under a plain ``torchrun`` the parent at this call is watched. Does
    nothing otherwise. See the module docstring.

    Returns:
        bool: Whether the watch is active.
    """
    launcher = os.environ.get(LAUNCHER_PID_ENV, '')
    if not launcher.isdigit():
        if 'TORCHELASTIC_RUN_ID' not in os.environ or os.getppid() <= 1:
            return False
        launcher = str(os.getppid())  # plain `torchrun tools/train.py`: the agent is the parent
    launcher_pid = int(launcher)
    if os.getppid() != launcher_pid:
        if 'TORCHELASTIC_RUN_ID' not in os.environ:
            return False  # not a rank torchrun started (e.g. a tool a rank ran itself)
        _end_now(f'the launcher (pid {launcher_pid}) is gone')
    libc = None
    if sys.platform.startswith('linux'):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            libc = None
    if libc is not None and libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
        if os.getppid() != launcher_pid:  # died between the first check and the prctl
            _end_now(f'the launcher (pid {launcher_pid}) is gone')
        return True

    def poll() -> None:
        while os.getppid() == launcher_pid:
            time.sleep(1.)
        _end_now(f'the launcher (pid {launcher_pid}) is gone')

    threading.Thread(target=poll, name='mmdbp-launcher-watch', daemon=True).start()
    return True


def prepare_launcher(cfg, launcher: str) -> None:
    """Set ``cfg.launcher`` and, on CPU-only machines, start a ``gloo`` process group.

    Args:
        cfg (Config): The config the runner will be built from (modified in place).
        launcher (str): ``'none'``, ``'pytorch'`` (torchrun), ``'slurm'`` (srun) or ``'mpi'``.
    """
    if launcher not in ('none', 'pytorch', 'slurm', 'mpi'):
        raise ValueError(f"launcher must be one of 'none', 'pytorch', 'slurm', 'mpi'; got {launcher!r}")
    cfg.launcher = launcher
    if launcher == 'pytorch':
        watch_launcher()
    if launcher == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    if launcher == 'slurm':
        _set_env_from_slurm()
    elif launcher == 'mpi':
        _set_env_from_mpi()
    missing = [key for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if key not in os.environ]
    if missing and not dist.is_initialized():
        raise RuntimeError(f'--launcher {launcher}: {", ".join(missing)} not set; start the job with '
                           'tools/dist_train.sh / dist_test.sh (torchrun), srun (slurm) or mpirun '
                           '(mpi), or use --launcher none for one process.')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo', init_method='env://',
                                rank=int(os.environ['RANK']), world_size=int(os.environ['WORLD_SIZE']))
    wrapper = cfg.get('model_wrapper_cfg', None) or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    if 'DistributedDataParallel' in str(wrapper.get('type', 'MMDistributedDataParallel')):
        wrapper['device_ids'] = None  # CPU modules take no device ids
    cfg.model_wrapper_cfg = wrapper
    if dist.get_rank() == 0:
        print_log(f'No GPU found: distributed run on CPU with the gloo backend '
                  f'({dist.get_world_size()} processes).', logger='current')
