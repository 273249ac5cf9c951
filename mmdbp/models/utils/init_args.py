"""Clear errors for misspelled constructor arguments of a backbone built from a config.

A ViT subclass passes ``**kwargs`` on to :class:`~mmdbp.models.backbones.FastVisionTransformer`,
so a typo (or DynamicViT's ``keep_ratio`` given to EViT, whose argument is ``keep_rate``) would
surface as ``FastVisionTransformer.__init__() got an unexpected keyword argument``, naming neither
the configured class nor the argument meant.
"""
import difflib
import inspect
from typing import Set, Tuple


def accepted_init_args(cls: type) -> Set[str]:
    """Names of the keyword arguments that ``cls(...)`` accepts through its ``__init__`` chain."""
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.name != 'self' and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                names.add(p.name)
    return names


def check_init_kwargs(obj: object, kwargs: dict) -> None:
    """Raise a TypeError naming ``type(obj)``, the unknown argument and the closest valid one.

    Args:
        obj: the module being built (``self`` in ``__init__``).
        kwargs: the ``**kwargs`` it is about to pass on.
    """
    accepted = accepted_init_args(type(obj))
    unknown = sorted(k for k in kwargs if k not in accepted)
    if not unknown:
        return
    name = type(obj).__name__
    key = unknown[0]
    close = difflib.get_close_matches(key, sorted(accepted), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ''
    raise TypeError(f"{name}: unknown argument '{key}'; {hint}Valid arguments: "
                    f"{', '.join(sorted(accepted))}.")


def check_pruning_locs(pruning_locs, num_layers: int) -> Tuple[int, ...]:
    """``pruning_locs`` as a tuple of strictly increasing block indices in [0, num_layers)."""
    if isinstance(pruning_locs, (int, float, str)):
        raise TypeError(f'pruning_locs must be a sequence of block indices, e.g. (3, 6, 9), got '
                        f'{pruning_locs!r}.')
    locs = tuple(int(i) for i in pruning_locs)
    if any(b <= a for a, b in zip(locs, locs[1:])) or any(not 0 <= i < num_layers for i in locs):
        raise ValueError(f'pruning_locs must be strictly increasing block indices in '
                         f'[0, {num_layers}), got {locs}.')
    return locs


def check_rate(name: str, value) -> None:
    """A keep rate / ratio: a number in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'{name} must be a number in (0, 1], got {value!r}.')
    if not 0. < value <= 1.:
        raise ValueError(f'{name} must be in (0, 1], got {value}.')
