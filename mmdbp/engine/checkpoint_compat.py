"""Load mmengine checkpoints under torch >= 2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine 0.10.7 still calls plain
``torch.load`` in its local checkpoint loader, and its own checkpoints hold more than tensors
(the message hub's ``HistoryBuffer`` and numpy arrays), so with this stack every
``load_from``, ``resume`` and ``init_cfg=dict(type='Pretrained', ...)`` of an mmengine
checkpoint fails with "Weights only load failed".

Importing mmdbp re-registers mmengine's loader for local paths with the behaviour mmengine was
written for (``weights_only=False``): local checkpoints are trusted, exactly as with torch < 2.6.
Remote URLs keep mmengine's own loaders.
"""
import glob
import os.path as osp
from typing import Optional

import torch
from mmengine.runner.checkpoint import CheckpointLoader

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def producing_config(filename: str) -> Optional[str]:
    """The config that writes ``work_dirs/<config name>/...`` (mmdbp's default work dirs), if
    there is one under ``configs/`` of the working directory or of the mmdbp source tree."""
    parts = osp.normpath(filename).split(osp.sep)
    if 'work_dirs' not in parts[:-2]:
        return None
    name = parts[parts.index('work_dirs') + 1]
    for root in dict.fromkeys(('.', REPO_ROOT)):
        found = sorted(glob.glob(osp.join(root, 'configs', '**', f'{name}.py'), recursive=True))
        if found:
            return osp.relpath(found[0]) if root == '.' else found[0]
    return None


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename: str, map_location=None):
    """mmengine's ``load_from_local`` with ``weights_only=False`` (trusted local files)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        config = producing_config(filename)
        hint = (f' It is written by training {config}: run `python tools/train.py {config}` '
                'first, or point the config at another checkpoint.' if config else '')
        raise FileNotFoundError(f'{filename} can not be found.{hint}')
    return torch.load(filename, map_location=map_location, weights_only=False)
