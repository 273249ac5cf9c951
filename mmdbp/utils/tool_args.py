"""What ``tools/train.py`` and ``tools/test.py`` share: launcher arguments, the default work
directory and building the runner."""
import argparse
import os
import os.path as osp

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


def add_launcher_args(parser: argparse.ArgumentParser) -> None:
    """``--launcher`` and the ``--local_rank`` / ``--local-rank`` that ``torch.distributed.launch``
    passes (see :func:`set_local_rank`)."""
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def set_local_rank(args: argparse.Namespace) -> None:
    """Export ``--local_rank`` as ``LOCAL_RANK`` unless the launcher already set it (torchrun)."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


def set_work_dir(cfg: Config, work_dir: str, config: str) -> None:
    """``cfg.work_dir``: ``--work-dir`` > the config's ``work_dir`` > ./work_dirs/<config name>."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])


def build_runner(cfg: Config) -> Runner:
    """mmengine's ``Runner``, or the config's ``runner_type`` from the RUNNERS registry."""
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)


def require_checkpoint(path: str, what: str = 'checkpoint') -> None:
    """Exit with ``<what> '<path>' does not exist.`` for a missing local file; URLs (model-zoo
    checkpoints) are left to mmengine, which downloads them."""
    if '://' not in path and not osp.isfile(path):
        raise SystemExit(f'{what} {path!r} does not exist.')
