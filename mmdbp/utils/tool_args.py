"""What the tools share: launcher arguments, the default work directory, building the runner,
and one-line errors for path arguments that do not exist (no traceback)."""
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
    """Exit with ``<what> '<path>' does not exist.`` for a missing local file, and for a
    ``work_dirs/<config name>/`` checkpoint the training run that writes it; URLs (model-zoo
    checkpoints) are left to mmengine, which downloads them."""
    if '://' not in path and not osp.isfile(path):
        from mmdbp.engine.checkpoint_compat import producing_config
        config = producing_config(path)
        hint = (f' It is written by training {config}: run `python tools/train.py {config}` first.'
                if config else ' Pass an existing checkpoint file (or a URL).')
        raise SystemExit(f'{what} {path!r} does not exist.{hint}')


def require_file(path: str, what: str, hint: str = '') -> None:
    """Exit with ``<what> '<path>' does not exist[: hint]`` (a directory where a file is
    expected: ``is a directory``), one line, no traceback."""
    if osp.isdir(path):
        raise SystemExit(f'{what} {path!r} is a directory, not a file'
                         + (f': {hint}' if hint else '.'))
    if not osp.isfile(path):
        raise SystemExit(f'{what} {path!r} does not exist' + (f': {hint}' if hint else '.'))


def require_dir(path: str, what: str, hint: str = '') -> None:
    """Exit with ``<what> '<path>' does not exist[: hint]`` unless ``path`` is a directory."""
    if not osp.isdir(path):
        state = 'is not a directory' if osp.exists(path) else 'does not exist'
        raise SystemExit(f'{what} {path!r} {state}' + (f': {hint}' if hint else '.'))


def require_config(path: str, what: str = 'config') -> None:
    """Exit with a one-line message for a config file that does not exist. ``pkg::path``
    configs (``mmpretrain::mae/...``) are left to mmengine, which looks them up in the package."""
    if '::' in path:
        return
    hint = ('pass the path of a config file, e.g. '
            'configs/demo/mae_vit-micro-p4_1xb32-300i_demo-in1k.py (`mim search mmdbp` lists '
            'the shipped ones)')
    require_file(path, what, hint)


def add_trust_pickle_arg(parser: argparse.ArgumentParser) -> None:
    """``--trust-pickle``: let a converter load a trusted legacy checkpoint that pickles objects
    other than tensors (see :func:`mmdbp.engine.checkpoint_compat.load_checkpoint_file`)."""
    parser.add_argument(
        '--trust-pickle', action='store_true',
        help='load the source with torch.load(weights_only=False): it may run code stored in '
        'the file, so only for files you trust (same as MMDBP_TRUST_PICKLE=1)')


def converter_parser(description: str, src_help: str, dst_help: str = 'output checkpoint (.pth)',
                     trust_pickle: bool = True) -> argparse.ArgumentParser:
    """The arguments every ``tools/model_converters`` script takes: ``src``, ``dst`` and, for a
    source read with :func:`mmdbp.engine.checkpoint_compat.load_checkpoint_file`,
    ``--trust-pickle`` (:func:`add_trust_pickle_arg`). The caller adds its own options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help=src_help)
    parser.add_argument('dst', help=dst_help)
    if trust_pickle:
        add_trust_pickle_arg(parser)
    return parser


def write_checkpoint(obj: dict, dst: str) -> None:
    """``torch.save(obj, dst)``, creating ``dst``'s directory first (a converter's output)."""
    import torch
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(obj, dst)
