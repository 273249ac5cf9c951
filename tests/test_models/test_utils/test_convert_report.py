"""ConversionReport: every tensor read is converted or left out for a reason, else an error."""
import pytest
import torch

from mmdbp.models.utils.convert_report import (ConversionReport, UnconvertedKeysError,
                                               collapse_keys)


def test_collapse_keys_counts_repeated_patterns_and_keeps_single_keys():
    keys = [f'blocks.{i}.attn.qkv.weight' for i in range(12)] + ['norm.weight', 'layers.3.x']
    assert collapse_keys(keys) == 'blocks.*.attn.qkv.weight (x12), norm.weight, layers.3.x'
    many = [f'm{i}.w' for i in range(5)]
    assert collapse_keys(many, limit=2) == 'm0.w, m1.w, ... (3 more patterns)'


def test_report_accounts_for_every_tensor():
    state = {'backbone.a': torch.ones(1), 'backbone.b': torch.ones(2), 'neck.c': torch.ones(3),
             '_metadata': {'version': 1}}  # not a tensor: not counted
    report = ConversionReport('tool', state)
    encoder = report.take_prefix('backbone.', rest='decoder')
    assert list(encoder) == ['a', 'b'] and report.left_out == {'neck.c': 'decoder'}
    report.converted(['a'], prefix='backbone.')
    with pytest.raises(UnconvertedKeysError, match=r'1 tensor\(s\) .* backbone\.b\. Nothing was '
                       r'written\. This is a bug of the converter'):
        report.summary({'a': encoder['a']})  # 'b' was lost on the way
    report.converted(['b'], prefix='backbone.')
    report.note('something folded')
    text = report.summary({'x': torch.ones(1), 'y': torch.ones(1)}, 'out.pth')
    assert text.splitlines() == ['[tool] read 3 tensors, wrote 2 to out.pth, left out 1',
                                 '  left out 1 (decoder): neck.c', '  something folded']


def test_unconverted_keys_error_is_a_readable_key_error():
    err = UnconvertedKeysError(['x.1.w', 'x.2.w'], 'ViT encoder', hint='Check it.')
    assert isinstance(err, KeyError)
    assert str(err) == ('2 tensor(s) of the ViT encoder match no conversion rule: x.*.w (x2). '
                        'Nothing was written. Check it.')
