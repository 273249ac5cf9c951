"""Read PaddlePaddle checkpoints (``.pdparams``, ``.pd``) without Paddle and without running code.

``paddle.save`` writes a pickle. For a state dict it is ``{structured name: numpy array}`` plus a
``'StructuredToParameterName@@'`` entry (structured name -> Paddle's internal parameter name);
for a nested object, e.g. the official MIRL checkpoints ``{'model': state_dict, 'optimizer':
..., 'epoch': ..., 'args': Namespace}``, every tensor is pickled as the pair ``(internal name,
numpy array)`` (rebuilt through ``builtins.tuple``).

A pickle can name any Python callable, so :class:`RestrictedUnpickler` resolves only what numpy
arrays and plain containers need (``numpy``'s ``_reconstruct``, ``_frombuffer``, ``ndarray``,
``dtype``, ``scalar``, ``builtins`` containers, ``collections.OrderedDict``, ``_codecs.encode``). Any other
global (``argparse.Namespace`` of the training arguments, or something hostile such as
``os.system``) becomes an inert :class:`RefusedObject` that records its name and runs nothing, so
the weights can still be read from a checkpoint that also stores non-array objects.

Paddle's ``Linear`` stores its weight as ``(in, out)``, the transpose of torch's; converters
transpose it (:func:`paddle_linear_to_torch`).
"""
import _codecs
import builtins
import collections
import pickle
from typing import Any, Dict, Mapping, Tuple

import numpy as np

__all__ = ['RefusedObject', 'RestrictedUnpickler', 'load_paddle_pickle', 'read_pdparams',
           'paddle_linear_to_torch']

_STRUCTURE_KEY = 'StructuredToParameterName@@'
_BIG_PARAM_KEY = 'UnpackBigParamInfor@@'


def _numpy_globals() -> Dict[Tuple[str, str], Any]:
    reconstruct = np.zeros(1).__reduce__()[0]  # numpy's multiarray._reconstruct
    scalar = np.float32(0).__reduce__()[0]  # numpy's multiarray.scalar
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]  # numpy's numeric._frombuffer (protocol 5)
    allowed: Dict[Tuple[str, str], Any] = {('numpy', 'ndarray'): np.ndarray,
                                           ('numpy', 'dtype'): np.dtype}
    for core in ('numpy.core', 'numpy._core'):  # numpy 1.x / 2.x module names
        allowed[(f'{core}.multiarray', '_reconstruct')] = reconstruct
        allowed[(f'{core}.multiarray', 'scalar')] = scalar
        allowed[(f'{core}.numeric', '_frombuffer')] = frombuffer
    return allowed


class RefusedObject:
    """Stand-in for a pickled object whose class or function is not on the allow list.

    It accepts whatever the pickle hands it (constructor arguments, state, items) and does
    nothing with it; ``pickle_name`` says what the pickle asked for."""
    pickle_name = '?'

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        pass

    def append(self, item) -> None:
        pass

    def extend(self, items) -> None:
        pass

    def __setitem__(self, key, value) -> None:
        pass

    def __repr__(self) -> str:
        return f'<refused {self.pickle_name}>'


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain containers and nothing else (see the
    module docstring); every other global becomes a :class:`RefusedObject` subclass."""

    ALLOWED: Dict[Tuple[str, str], Any] = {
        **_numpy_globals(),
        **{('builtins', name): getattr(builtins, name)
           for name in ('tuple', 'list', 'dict', 'set', 'frozenset')},
        ('collections', 'OrderedDict'): collections.OrderedDict,
        ('_codecs', 'encode'): _codecs.encode,  # bytes in protocol-2 pickles
    }

    def find_class(self, module: str, name: str) -> Any:
        found = self.ALLOWED.get((module, name))
        if found is not None:
            return found
        return type(f'Refused_{name}', (RefusedObject, ), {'pickle_name': f'{module}.{name}'})

    def persistent_load(self, pid) -> Any:
        raise pickle.UnpicklingError(
            'The file uses persistent ids (a torch zip/legacy checkpoint, not a Paddle pickle); '
            'load it with torch.load(..., weights_only=True) instead.')


def load_paddle_pickle(path: str) -> Any:
    """Unpickle a ``paddle.save`` file with :class:`RestrictedUnpickler`."""
    with open(path, 'rb') as f:
        head = f.read(4)
        if head[:2] == b'PK':
            raise ValueError(f'{path} is a zip archive (a torch checkpoint?), not a Paddle '
                             f'pickle; convert it with the PyTorch converters instead.')
        f.seek(0)
        return RestrictedUnpickler(f, encoding='latin1').load()


def _as_array(value: Any) -> Any:
    """A Paddle tensor as saved (an array, or the pair ``(internal name, array)``) -> array."""
    if (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], np.ndarray)):
        return value[1]
    return value


def read_pdparams(path_or_obj: Any, container: str = 'model') -> Dict[str, np.ndarray]:
    """The state dict of a Paddle checkpoint as ``{structured name: numpy array}``.

    Args:
        path_or_obj: a ``.pdparams`` / ``.pd`` path, or an object already read with
            :func:`load_paddle_pickle`.
        container (str): key holding the state dict in a training checkpoint (``'model'`` in
            the official MIRL / MAE-style scripts); a bare state dict is used as it is.

    Returns:
        dict: every weight as a numpy array, in the file's order (Paddle's layout, e.g.
        ``Linear`` weights ``(in, out)``).
    """
    obj = load_paddle_pickle(path_or_obj) if isinstance(path_or_obj, str) else path_or_obj
    if not isinstance(obj, Mapping):
        raise TypeError(f'A Paddle checkpoint must hold a dict, got {type(obj).__name__}.')
    if isinstance(obj.get(container), Mapping):
        obj = obj[container]
    if _BIG_PARAM_KEY in obj:
        raise ValueError('The checkpoint stores parameters larger than 4 GB in slices '
                         f'({_BIG_PARAM_KEY!r}); re-save it with Paddle in one piece per '
                         'parameter (paddle.load then paddle.save with protocol 4).')
    state, bad = collections.OrderedDict(), []
    for key, value in obj.items():
        if key == _STRUCTURE_KEY:
            continue
        value = _as_array(value)
        if isinstance(value, np.ndarray) and value.dtype != object:
            state[key] = value
        else:
            bad.append(f'{key} ({value!r:.60})')
    if bad:
        raise ValueError(f'These entries of the Paddle state dict are not numeric arrays: '
                         f'{", ".join(bad[:10])}{" ..." if len(bad) > 10 else ""}. Pass the '
                         f'container that holds the weights (container={container!r}).')
    if not state:
        raise ValueError('The Paddle checkpoint holds no arrays.')
    return state


def paddle_linear_to_torch(weight: np.ndarray) -> np.ndarray:
    """Paddle ``Linear`` weight ``(in, out)`` -> torch ``(out, in)``."""
    if weight.ndim != 2:
        raise ValueError(f'A Linear weight is 2-D, got shape {weight.shape}.')
    return np.ascontiguousarray(weight.T)
