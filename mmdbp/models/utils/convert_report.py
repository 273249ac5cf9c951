"""Account for every tensor a checkpoint converter reads.

Every tool in ``tools/model_converters/`` reads a state dict, converts part of it and leaves the
rest out (a decoder, an optimizer-only matrix, a head the target has no place for). A converter
must never drop a weight silently: each tensor it read is either converted or left out for a
stated reason, and a key that no rule of the converter knows is an error naming it. This module
is the one place that keeps that account::

    report = ConversionReport('extract_backbone', state)
    encoder = report.take_prefix('backbone.', rest='not the encoder')
    report.leave_out([k for k in encoder if k.startswith('norm_avg.')], "no place in mmseg's ViT")
    out = convert_vit(...)                   # raises UnconvertedKeysError for keys it cannot name
    report.converted(encoder_keys)
    print(report.summary(out, dst))          # raises if a read tensor is unaccounted for

The summary says how many tensors were read, written and left out, and which (indices collapsed:
``neck.decoder_blocks.*.attn.qkv.weight (x8)``).
"""
import re
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import torch

__all__ = ['UnconvertedKeysError', 'ConversionReport', 'checkpoint_state_dict', 'collapse_keys']


def collapse_keys(keys: Iterable[str], limit: int = 12) -> str:
    """Short listing of many keys: indices become ``*`` and equal patterns are counted, e.g.
    ``blocks.*.attn.qkv.weight (x12), norm.weight``; at most ``limit`` patterns, then ``...``."""
    patterns: 'OrderedDict[str, int]' = OrderedDict()
    for key in keys:
        pattern = re.sub(r'(?<=\.)\d+(?=\.|$)', '*', key)
        patterns[pattern] = patterns.get(pattern, 0) + 1
    items = [p if n == 1 else f'{p} (x{n})' for p, n in patterns.items()]
    if len(items) > limit:
        items = items[:limit] + [f'... ({len(items) - limit} more patterns)']
    return ', '.join(items)


class UnconvertedKeysError(KeyError):
    """Keys of a checkpoint that no rule of a converter matches (an unknown layout or a partial
    match). ``keys`` holds them; the message names them and what to do."""

    def __init__(self, keys: Sequence[str], what: str = 'checkpoint', hint: str = ''):
        self.keys = list(keys)
        self.message = (f'{len(self.keys)} tensor(s) of the {what} match no conversion rule: '
                        f'{collapse_keys(self.keys, limit=20)}. Nothing was written.'
                        + (f' {hint}' if hint else ''))
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


def checkpoint_state_dict(checkpoint: Any,
                          containers: Sequence[str] = ('state_dict', 'model', 'module')
                          ) -> 'OrderedDict[str, Any]':
    """The state dict inside a loaded checkpoint: under the first of ``containers`` that holds a
    dict (mmengine: ``state_dict``, official DeiT / MAE releases: ``model``), else the
    checkpoint itself."""
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'A checkpoint must be a dict of tensors, got {type(checkpoint).__name__}.')
    state = checkpoint
    for key in containers:
        if isinstance(state.get(key), Mapping):
            state = state[key]
            break
    return OrderedDict(state)


class ConversionReport:
    """What a converter did with each tensor it read.

    Args:
        tool (str): the converter's name, printed first.
        state (Mapping): the state dict read from the checkpoint; its tensors are counted
            (non-tensor entries, e.g. mmengine's ``_metadata``, are not weights).
    """

    def __init__(self, tool: str, state: Mapping[str, Any]):
        self.tool = tool
        self.state = state
        self.read: List[str] = [k for k, v in state.items() if torch.is_tensor(v)]
        self.left_out: 'OrderedDict[str, str]' = OrderedDict()  # key -> reason
        self._converted: set = set()
        self.notes: List[str] = []

    def leave_out(self, keys: Iterable[str], reason: str) -> None:
        """Record ``keys`` as deliberately not written, for ``reason``."""
        for key in keys:
            self.left_out.setdefault(key, reason)

    def take_prefix(self, prefix: str, rest: str) -> 'OrderedDict[str, Any]':
        """The tensors under ``prefix`` with the prefix removed; every other tensor is left out
        for the reason ``rest``."""
        taken = OrderedDict((k[len(prefix):], self.state[k]) for k in self.read
                            if k.startswith(prefix))
        self.leave_out((k for k in self.read if not k.startswith(prefix)), rest)
        return taken

    def converted(self, keys: Iterable[str], prefix: str = '') -> None:
        """Record ``keys`` (source names, without ``prefix`` if given) as converted."""
        self._converted.update(prefix + k for k in keys)

    def note(self, text: str) -> None:
        """An extra line for the summary (e.g. how many DBP layers were folded)."""
        self.notes.append(text)

    def check(self) -> None:
        """Raise :class:`UnconvertedKeysError` for read tensors that were neither converted nor
        left out (a converter that lost them)."""
        lost = [k for k in self.read if k not in self._converted and k not in self.left_out]
        if lost:
            raise UnconvertedKeysError(lost, what=f'{self.tool} input',
                                       hint='This is a bug of the converter: please report it.')

    def summary(self, written: Mapping[str, Any], dst: Optional[str] = None) -> str:
        """Check the account (:meth:`check`) and return the lines to print: tensors read, written
        (to ``dst``), left out and, grouped by reason, which."""
        self.check()
        n_written = sum(torch.is_tensor(v) for v in written.values())
        lines = [f'[{self.tool}] read {len(self.read)} tensors, wrote {n_written}'
                 + (f' to {dst}' if dst else '') + f', left out {len(self.left_out)}']
        by_reason: Dict[str, List[str]] = OrderedDict()
        for key, reason in self.left_out.items():
            by_reason.setdefault(reason, []).append(key)
        for reason, keys in by_reason.items():
            lines.append(f'  left out {len(keys)} ({reason}): {collapse_keys(keys)}')
        lines += [f'  {text}' for text in self.notes]
        return '\n'.join(lines)
