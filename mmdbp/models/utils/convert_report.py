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


def collapse_keys(keys: Iterable[str], limit: Optional[int] = 12) -> str:
    """Short listing of many keys: indices of repeated patterns become ``*`` and are counted,
    e.g. ``blocks.*.attn.qkv.weight (x12), norm.weight``; at most ``limit`` patterns, then
    ``...``."""
    patterns: 'OrderedDict[str, list]' = OrderedDict()  # pattern -> [first key, count]
    for key in keys:
        pattern = re.sub(r'(?<=\.)\d+(?=\.|$)', '*', key)
        patterns.setdefault(pattern, [key, 0])[1] += 1
    items = [first if n == 1 else f'{p} (x{n})' for p, (first, n) in patterns.items()]
    if limit is not None and len(items) > limit:
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

    def take_prefix(self, prefix: str, rest: str,
                    skip: Iterable[str] = ()) -> 'OrderedDict[str, Any]':
        """The tensors under ``prefix`` with the prefix removed; every other tensor, except the
        keys in ``skip`` (which the caller converts itself), is left out for the reason
        ``rest``."""
        skip = set(skip)
        taken = OrderedDict((k[len(prefix):], self.state[k]) for k in self.read
                            if k.startswith(prefix))
        self.leave_out((k for k in self.read if not k.startswith(prefix) and k not in skip), rest)
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
            lines.append(f'  left out {len(keys)} ({reason}): {collapse_keys(keys, None)}')
        lines += [f'  {text}' for text in self.notes]
        return '\n'.join(lines)


# ---------------------------------------------------------------------------------------------
# Strict ViT encoder conversion, shared by extract_backbone, dbp_mae_to_vit, mirl_to_vit and
# vit_to_mmdbp.

#: Key names of mmdbp's ``FastVisionTransformer`` and of the backbones built on it
#: (``DynamicViT``'s keep predictors, ``MIRLViT``'s segment norms). Every ViT layout a converter
#: reads is renamed into these (``vit_key_to_mmdbp``); a key that does not end up here matches
#: no rule.
MMDBP_VIT_KEY = re.compile(
    r'^(cls_token|pos_embed|patch_embed\.projection\.(weight|bias)'
    r'|blocks\.\d+\.(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)'
    r'|(norm|norm_avg|norm_low)\.(weight|bias)|segment_norms\.\d+\.(weight|bias)'
    r'|predictors\.\d+\.[\w.]+)$')

#: mmdbp-only encoder modules that the host ViTs have no place for, with the reason printed.
HOST_LEAVES_OUT = {
    'predictors.': "DynamicViT's token-keep predictors (no place in a plain ViT)",
    'segment_norms.': "MIRL's per-segment pre-training norms (no place in a plain ViT)",
    'norm_low.': "MIRL's pre-training low-level norm (no place in a plain ViT)",
}
MMSEG_LEAVES_OUT = {'norm_avg.': "the avg-pool norm (mmseg's ViT has none)"}

# Pre-training extras of the official MAE release (facebookresearch/mae, bare ``model`` keys).
_MAE_RELEASE_EXTRAS = ('mask_token', 'decoder_')
# Keys that make a state dict without ``prefix`` a bare ViT (timm / official releases, a saved
# backbone).
_BARE_VIT = ('blocks.', 'layers.', 'patch_embed.')


def convert_vit_encoder(report: ConversionReport, target: str = 'mmdbp',
                        prefix: str = 'backbone.', skip: Iterable[str] = ()
                        ) -> 'OrderedDict[str, Any]':
    """Convert the ViT encoder among ``report``'s tensors to ``target``'s layout, strictly.

    The encoder is the tensors under ``prefix`` (an mmengine training or classifier checkpoint;
    everything else is left out as "not under prefix"), or, when no key has the prefix, the bare
    state dict of an official / timm release (an MAE release's decoder and a classifier
    ``head`` are left out). Its keys may be in mmdbp's, mmpretrain's (``VisionTransformer``,
    ``MAEViT``), mmseg's or timm's layout. A key that is none of these raises
    :class:`UnconvertedKeysError` with its full source name.

    Args:
        report (ConversionReport): the converter's report (holds the state dict read).
        target (str): ``'mmdbp'`` (``FastVisionTransformer``), ``'mmpretrain'`` or ``'mmseg'``
            (their ``VisionTransformer``).
        prefix (str): prefix of the encoder keys. Defaults to ``'backbone.'``.
        skip (Iterable[str]): source keys outside the encoder that the caller converts itself
            (e.g. a classifier head); neither converted nor left out here.

    Returns:
        OrderedDict: the converted encoder state dict (no prefix).
    """
    from .ckpt_convert import convert_vit, vit_key_to_mmdbp
    if target not in ('mmdbp', 'mmpretrain', 'mmseg'):
        raise ValueError(f"target must be 'mmdbp', 'mmpretrain' or 'mmseg', got {target!r}.")
    if prefix and any(k.startswith(prefix) for k in report.read):
        encoder = report.take_prefix(prefix, rest=f'not under {prefix!r}: decoder, head, ...',
                                     skip=skip)
        source = prefix
    elif not any(k.startswith(_BARE_VIT) for k in report.read):
        raise UnconvertedKeysError(report.read, 'checkpoint', hint=(
            f'It has no weights under {prefix!r} and is no bare ViT state dict; is it a '
            'training checkpoint? (see --prefix)'))
    else:  # a bare release state dict
        skip = set(skip)
        encoder = OrderedDict((k, report.state[k]) for k in report.read if k not in skip)
        extras = [k for k in encoder if k.startswith(_MAE_RELEASE_EXTRAS)]
        report.leave_out(extras, 'MAE pre-training decoder')
        heads = [k for k in encoder if k.startswith(('head.', 'fc.'))]
        report.leave_out(heads, 'classifier head')
        encoder = OrderedDict((k, v) for k, v in encoder.items() if k not in report.left_out)
        source = ''
    renamed, origin, unmatched = OrderedDict(), {}, []
    for key, value in encoder.items():
        new = vit_key_to_mmdbp(key)
        if not MMDBP_VIT_KEY.match(new):
            unmatched.append(source + key)
        renamed[new] = value
        origin[new] = source + key
    if unmatched:
        raise UnconvertedKeysError(
            unmatched, 'ViT encoder', hint='It is not in a ViT layout this tool knows (mmdbp, '
            "mmpretrain's VisionTransformer / MAEViT, mmseg's VisionTransformer, timm / official "
            'DeiT and MAE releases); check --prefix and the source.')
    if target != 'mmdbp':
        drop = dict(HOST_LEAVES_OUT, **(MMSEG_LEAVES_OUT if target == 'mmseg' else {}))
        for start, reason in drop.items():
            gone = [k for k in renamed if k.startswith(start)]
            report.leave_out((origin[k] for k in gone), reason)
            for k in gone:
                del renamed[k]
        n_in = len(renamed)
        out = convert_vit(renamed, target=target, drop_unknown=False)
        if len(out) > n_in:
            report.note(f"added a zero cls_token and pos_embed cls slot ({target}'s ViT always "
                        'has them; they do not change its output)')
    else:
        out = renamed
    report.converted(origin[k] for k in renamed)
    return out
