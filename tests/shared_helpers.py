"""What several test files share: loading a script under ``tools/`` as a module, running
``tools/train.py`` up to the runner it would build, the official MAE sin-cos table, and DBP's
update rule written out.

Importable as ``from shared_helpers import ...`` from every test (``tests/conftest.py`` puts
``tests/`` on ``sys.path``).
"""
import importlib.util
import os.path as osp
from types import ModuleType
from typing import Optional, Tuple

import numpy as np

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(path: str, name: Optional[str] = None) -> ModuleType:
    """The script ``tools/<path>`` (e.g. ``'model_converters/vit_to_mmdbp.py'``) as a fresh
    module named ``name`` (default: the file's stem)."""
    full = osp.join(REPO_ROOT, 'tools', path)
    spec = importlib.util.spec_from_file_location(
        name or osp.splitext(osp.basename(path))[0], full)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_with_fake_runner(monkeypatch, name: str = 'mmdbp_train_fake') -> Tuple[ModuleType, dict]:
    """``tools/train.py`` with the data-root check skipped and the runner replaced by one that
    does not train: ``(module, built)``; after ``module.main(argv)``, ``built['cfg']`` is the
    config the runner would have been built from."""
    train = load_tool('train.py', name)
    built = {}

    class FakeRunner:
        def train(self):
            pass

    def build(cfg):
        built['cfg'] = cfg
        return FakeRunner()

    monkeypatch.setattr(train, 'check_data_roots', lambda *args, **kwargs: None)
    monkeypatch.setattr(train, 'build_runner', build)
    return train, built


def official_sincos_2d(dim: int, grid: int, cls_token: bool = False) -> np.ndarray:
    """``get_2d_sincos_pos_embed(dim, grid, cls_token)`` of MAE's ``util/pos_embed.py`` (copied
    into MIRL and GreenMIM), transcribed by hand: ``(grid * grid [+ 1], dim)`` float64, the
    column code (meshgrid's first array) in the first half, a zero class-token row first."""
    def one_d(d, pos):
        omega = 1. / 10000**(np.arange(d // 2, dtype=np.float64) / (d / 2.))
        out = np.einsum('m,d->md', pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)
    gw, gh = np.meshgrid(np.arange(grid, dtype=np.float32), np.arange(grid, dtype=np.float32))
    emb = np.concatenate([one_d(dim // 2, gw), one_d(dim // 2, gh)], axis=1)
    return np.concatenate([np.zeros([1, dim]), emb], axis=0) if cls_token else emb


def explicit_dbp_update(R, z, lr, kappa):
    """DBP's update in the papers' form, written out independently of mmdbp's code: from the
    recorded rows ``z = R x``, ``X = z^T z / n``, ``C = X - diag X``, ``v = mean(z^2 - 1)``, then
    ``R - lr [(1 - kappa) C R + kappa diag(v) R]``."""
    import torch
    n = z.shape[0]
    X = z.T @ z / n
    C = X - torch.diag(torch.diagonal(X))
    v = (z**2 - 1).mean(0)
    return R - lr * ((1 - kappa) * C @ R + kappa * torch.diag(v) @ R)
