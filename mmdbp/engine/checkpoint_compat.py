"""Load mmengine checkpoints safely under torch >= 2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default: unpickling may only build tensors,
plain containers and the classes on torch's allow-list, so a checkpoint cannot run code when it
is loaded. mmengine 0.10.7 calls plain ``torch.load``, and its own checkpoints hold more than
tensors (the message hub's ``HistoryBuffer`` and the numpy arrays and scalars it stores), so
without help every ``load_from``, ``resume`` and ``init_cfg=dict(type='Pretrained', ...)`` of an
mmengine checkpoint fails with "Weights only load failed ... HistoryBuffer".

Importing mmdbp keeps ``weights_only=True`` and adds exactly those classes to torch's allow-list
(:data:`SAFE_GLOBALS`, one list: extend it there when a checkpoint gains a new kind of value).
A checkpoint that needs anything else (a pickle that would run code) is still refused.

For the converters in ``tools/model_converters/``, which read downloaded (untrusted) files,
:func:`load_checkpoint_file` loads with ``weights_only=True`` and explains a refusal. It also
accepts the ``args`` (an ``argparse.Namespace``) that DeiT/MAE-style training scripts save next
to ``'model'`` (:data:`RELEASE_SAFE_GLOBALS`, allowed only inside that call); trusted legacy files that pickle other objects load with ``--trust-pickle`` or ``MMDBP_TRUST_PICKLE=1``
(with a warning).

mmengine's local loader is wrapped only for its messages: "can not be found" for a checkpoint in
``work_dirs/<config name>/`` names the config that writes it, and a refused pickle names the file
and what to do. Loading itself is mmengine's.
"""
import argparse
import glob
import os
import os.path as osp
import pickle
import warnings
from typing import Any, Callable, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Environment variable that lets the converters load trusted legacy pickles (``=1``).
TRUST_PICKLE_ENV = 'MMDBP_TRUST_PICKLE'

# numpy's dtype classes of the values mmengine and mmdbp store (numbers, bools, strings); not
# the object / void dtypes.
_NUMPY_DTYPES = ('Bool', 'Int8', 'UInt8', 'Int16', 'UInt16', 'Int32', 'UInt32', 'Int64',
                 'UInt64', 'LongLong', 'ULongLong', 'Float16', 'Float32', 'Float64',
                 'LongDouble', 'Complex64', 'Complex128', 'CLongDouble', 'Bytes', 'Str')


def _numpy_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """numpy arrays (``_reconstruct``, ``ndarray``, ``dtype`` and the concrete dtype classes)
    and numpy scalars (``scalar``); numpy.random's ``RandomState.get_state()`` is a tuple of
    these. Under numpy >= 2 the functions are also listed under numpy 1's module names, which
    checkpoints written with numpy 1 refer to."""
    if int(np.__version__.split('.')[0]) >= 2:
        from numpy._core import multiarray
    else:
        from numpy.core import multiarray
    out: List[Union[Callable, Tuple[Callable, str]]] = [
        multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype]
    for name in ('_reconstruct', 'scalar'):
        func = getattr(multiarray, name)
        if func.__module__ != 'numpy.core.multiarray':
            out.append((func, f'numpy.core.multiarray.{name}'))
    dtypes = getattr(np, 'dtypes', None)  # numpy >= 1.25 pickles dtypes by their class
    if dtypes is not None:
        out += [getattr(dtypes, f'{n}DType') for n in _NUMPY_DTYPES if hasattr(dtypes, f'{n}DType')]
    return out


# HistoryBuffer.__getstate__ stores its statistics methods, which pickle as
# ``getattr(HistoryBuffer, 'mean')``. Allowing ``builtins.getattr`` itself would hand a pickle
# any attribute of any allowed object; this stand-in resolves exactly those four.
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_statistic(obj: Any, name: str) -> Callable:
    """What ``builtins.getattr`` means while unpickling with ``weights_only=True``: only
    ``HistoryBuffer``'s own statistics methods (``min``, ``max``, ``current``, ``mean``)."""
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r}) is not allowed in a '
        "checkpoint (only HistoryBuffer's statistics methods are).")


#: Everything besides tensors that mmengine (and mmdbp) write into checkpoints: the message
#: hub's ``HistoryBuffer`` (with its statistics methods) and numpy arrays, scalars and dtypes
#: (also what numpy's and python's RNG states are made of). Extend this list, nowhere else.
SAFE_GLOBALS: List[Union[Callable, Tuple[Callable, str]]] = [
    HistoryBuffer, (history_buffer_statistic, 'builtins.getattr')] + _numpy_globals()


#: Benign classes official releases pickle besides tensors, allowed by
#: :func:`load_checkpoint_file` only (scoped with ``torch.serialization.safe_globals``, not added
#: to torch's process-wide list): the ``args`` of DeiT/MAE-style training scripts.
RELEASE_SAFE_GLOBALS: List[Callable] = [argparse.Namespace]


def allow_mmengine_checkpoints() -> None:
    """Add :data:`SAFE_GLOBALS` to torch's ``weights_only`` allow-list (idempotent)."""
    torch.serialization.add_safe_globals(SAFE_GLOBALS)


allow_mmengine_checkpoints()


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


def missing_checkpoint_message(filename: str) -> str:
    """``<file> can not be found.`` (mmengine's words) and, for a work-dir checkpoint of an mmdbp
    config, which training run writes it."""
    config = producing_config(filename)
    hint = (f' It is written by training {config}: run `python tools/train.py {config}` '
            'first, or point the config at another checkpoint.' if config else '')
    return f'{filename} can not be found.{hint}'


# mmengine's own loader for local paths (registered under the empty prefix)
_mmengine_load_from_local = CheckpointLoader._schemes.get('')
if getattr(_mmengine_load_from_local, '__module__', None) == __name__:  # module reloaded
    _mmengine_load_from_local = _mmengine_load_from_local.__wrapped__


def load_from_local(filename: str, map_location=None):
    """mmengine's ``load_from_local`` (``torch.load`` with torch's safe default), with
    :func:`missing_checkpoint_message` for a missing file and, for a refused pickle, which file
    it was and what to do."""
    if not osp.isfile(osp.expanduser(filename)):
        raise FileNotFoundError(missing_checkpoint_message(osp.expanduser(filename)))
    try:
        return _mmengine_load_from_local(filename, map_location)
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(
            f'{err}\n[mmdbp] {filename} holds an object that is neither a tensor nor on the '
            'allow-list of what mmengine checkpoints hold (mmdbp.engine.checkpoint_compat.'
            'SAFE_GLOBALS), so it was not loaded. If you trust the file, load it once with '
            'torch.load(..., weights_only=False) and save its state_dict again, or convert it '
            'with tools/model_converters/* --trust-pickle.') from None


load_from_local.__wrapped__ = _mmengine_load_from_local
CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)


def trust_pickle_from_env() -> bool:
    """Whether ``MMDBP_TRUST_PICKLE`` is set to a true value (1, true, yes)."""
    return os.environ.get(TRUST_PICKLE_ENV, '').strip().lower() in ('1', 'true', 'yes')


def load_checkpoint_file(filename: str, trust_pickle: bool = False,
                         map_location: Any = 'cpu') -> Any:
    """Load a checkpoint file that may come from anywhere (a downloaded official release).

    Loads with ``weights_only=True`` (tensors, containers, :data:`SAFE_GLOBALS` and, within
    this call only, :data:`RELEASE_SAFE_GLOBALS`: a release's pickled ``args``). A file that
    pickles other objects is refused with :class:`SystemExit` naming them; with
    ``trust_pickle`` (or ``MMDBP_TRUST_PICKLE=1``) it is loaded with ``weights_only=False``
    after a warning, which runs whatever code the file carries: only for files you trust.

    Args:
        filename (str): a local checkpoint file.
        trust_pickle (bool): allow arbitrary pickles. Defaults to False.
        map_location: as for ``torch.load``. Defaults to ``'cpu'``.
    """
    if not osp.isfile(filename):
        raise SystemExit(f'checkpoint {filename!r} does not exist: pass the path of a '
                         'checkpoint file.')
    if trust_pickle or trust_pickle_from_env():
        warnings.warn(f'Loading {filename} with weights_only=False (--trust-pickle / '
                      f'{TRUST_PICKLE_ENV}=1): code pickled into the file runs now. Only do '
                      'this for files from a source you trust.', stacklevel=2)
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(RELEASE_SAFE_GLOBALS):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, KeyError, ValueError, pickle.UnpicklingError) as err:
        detail = str(err).split('WeightsUnpickler error:')[-1].strip()
        detail = (detail.splitlines() or [''])[0][:200]
        refused = isinstance(err, pickle.UnpicklingError) and any(
            word in detail for word in ('global', 'allowlisted', 'unrecognized function'))
        if not refused:  # not (all of) a torch file
            raise SystemExit(f'{filename} is not a readable torch checkpoint '
                             f'({type(err).__name__}: {detail}); is it truncated or in another '
                             'format? Download or save it again.') from None
        raise SystemExit(
            f'{filename} was refused: it pickles objects other than tensors and the values '
            f'mmengine stores ({detail}), and loading it could run code. If you trust the file '
            f'(e.g. an old checkpoint of your own), rerun with --trust-pickle or set '
            f'{TRUST_PICKLE_ENV}=1.') from None
