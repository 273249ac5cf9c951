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
import os.path as osp

import torch
from mmengine.runner.checkpoint import CheckpointLoader


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename: str, map_location=None):
    """mmengine's ``load_from_local`` with ``weights_only=False`` (trusted local files)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)
